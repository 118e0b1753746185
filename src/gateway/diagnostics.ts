import type { GatewayRejectInfo } from './mesh-gateway.ts'
import type { RouteKind } from './routes.ts'

/**
 * The `node:diagnostics_channel` names {@link MeshGateway} publishes on. Subscribe with
 * `diagnostics_channel.subscribe(name, fn)`; a channel costs nothing while nobody listens.
 * docs/observability.md describes each message.
 */
export const GATEWAY_DIAGNOSTICS_CHANNELS = {
  /** {@link GatewayRejectedMessage}: a connection closed before it was spliced. */
  gatewayRejected: 'wanfed:gateway:rejected',
  /** {@link GatewaySplicedMessage}: a connection was spliced to its upstream. */
  gatewaySpliced: 'wanfed:gateway:spliced',
  /** {@link GatewayUpstreamErrorMessage}: connecting to an upstream failed. */
  gatewayUpstreamError: 'wanfed:gateway:upstream-error',
  /** {@link GatewayClosedMessage}: a spliced connection ended. */
  gatewayClosed: 'wanfed:gateway:closed',
} as const

/** Published on `wanfed:gateway:rejected`; the same object the `rejected` event carries. */
export type GatewayRejectedMessage = GatewayRejectInfo

/** Where a routed connection goes. */
export interface GatewayRouteMessage {
  /** The SNI the connection was routed by. */
  sni: string | undefined
  /** Which kind of route matched. */
  kind: RouteKind
  /** The route's target key: `<node>.server.<dc>.<domain>` or `server.<dc>.<domain>`. */
  key: string
  /** The upstream address, `host:port`: a local server or another DC's gateway. */
  upstream: string
}

/** Published on `wanfed:gateway:spliced` once the upstream accepted and bytes flow both ways. */
export interface GatewaySplicedMessage extends GatewayRouteMessage {
  /** The client's address, `host:port`. */
  remote: string
}

/** Published on `wanfed:gateway:upstream-error` for each failed upstream connect attempt. */
export interface GatewayUpstreamErrorMessage extends GatewayRouteMessage {
  error: Error
}

/** Published on `wanfed:gateway:closed` when a spliced connection ended. */
export interface GatewayClosedMessage extends GatewaySplicedMessage {
  /** Bytes from the client to the upstream. */
  bytesIn: number
  /** Bytes from the upstream to the client. */
  bytesOut: number
  /** How it ended: `'closed'` (a clean end), `'reset'` (an error on either side), `'idle-timeout'`. */
  reason: string
}
