import type { Socket } from 'node:net'
import type { TimerHandle } from '../internal/clock.ts'
import type { SniMatch } from './routes.ts'

/** A route the SNI matched. */
export type Routed = Exclude<SniMatch, { kind: 'none' }>

/** One client connection through the gateway, from accept to close. */
export interface GatewayConn {
  readonly client: Socket
  readonly remote: string
  phase: 'hello' | 'connecting' | 'spliced' | 'done'
  /** The bytes read so far, then the ClientHello (and whatever followed it) to replay upstream. */
  buf: Buffer
  size: number
  /** The hello timer. */
  timer: TimerHandle | undefined
  sni: string | undefined
  route: Routed | undefined
  /** The connect attempt in flight, then the spliced upstream. */
  upstream: Socket | undefined
  upstreamAddr: string
  /** Bytes before the splice (the hello), then the sockets' own counters take over. */
  bytesIn: number
  bytesOut: number
  clientClosed: boolean
  upstreamClosed: boolean
  endReason: string
  /** The client socket's current 'timeout' listener (idle, then quiet during close). */
  onTimeout: (() => void) | undefined
}

export function newConn(client: Socket, remote: string): GatewayConn {
  return {
    client,
    remote,
    phase: 'hello',
    buf: Buffer.allocUnsafe(512),
    size: 0,
    timer: undefined,
    sni: undefined,
    route: undefined,
    upstream: undefined,
    upstreamAddr: '',
    bytesIn: 0,
    bytesOut: 0,
    clientClosed: false,
    upstreamClosed: false,
    endReason: 'closed',
    onTimeout: undefined,
  }
}

/** The ClientHello and whatever followed it, as read so far. */
export function helloBytes(conn: GatewayConn): Buffer {
  return conn.buf.subarray(0, conn.size)
}
