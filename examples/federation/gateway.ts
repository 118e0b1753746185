/** What the demo needs of a gateway, whichever program runs it. */
import type { MeshGatewayStats } from 'wanfed/gateway'
import type { GatewayKind } from './options.ts'

export interface DemoGateway {
  readonly name: string
  readonly datacenter: string
  readonly kind: GatewayKind
  /** `127.0.0.1:port`, where nodes and other DCs' gateways connect. */
  readonly address: string
  /** Still serving: not killed, not exited. What the DC's health check reports. */
  alive(): boolean
  /** Its counters: a MeshGateway's own; HAProxy and nginx report none here. */
  stats(): MeshGatewayStats | undefined
  /** Abrupt death: every socket destroyed at once, nothing said to peers. */
  kill(): Promise<void>
  /** Graceful stop, at the end. */
  close(): Promise<void>
}
