import { channel } from 'node:diagnostics_channel'

/**
 * `node:diagnostics_channel` channels. Subscribers get plain objects; publishing is skipped when
 * nobody listens (`hasSubscribers`), so the hot path pays nothing.
 */
export const channels = {
  /** `{ gateway, sni, alpn }` before a dial through a gateway starts. */
  dialStart: channel('wanfed:dial:start'),
  /** `{ gateway, sni, alpn, socket }` after the TLS handshake completed. */
  dialConnected: channel('wanfed:dial:connected'),
  /** `{ gateway, sni, alpn, error }` when a dial failed. */
  dialError: channel('wanfed:dial:error'),
  /** `{ remote, alpn, servername }` when the ALPN server accepted a TLS connection. */
  serverAccepted: channel('wanfed:server:accepted'),
  /** `{ remote, reason, error? }` when the ALPN server rejected a connection. */
  serverRejected: channel('wanfed:server:rejected'),
  /** `{ typeByte, remote }` when a legacy type-byte connection was dispatched. */
  serverLegacy: channel('wanfed:server:legacy'),
  /** `{ remote, reason, sni?, error? }` when a mesh gateway closed a connection without a route. */
  gatewayRejected: channel('wanfed:gateway:rejected'),
  /** `{ remote, sni, kind, key, upstream }` when a mesh gateway spliced a connection upstream. */
  gatewaySpliced: channel('wanfed:gateway:spliced'),
  /** `{ sni, kind, key, upstream, error }` when a mesh gateway's upstream connect failed. */
  gatewayUpstreamError: channel('wanfed:gateway:upstream-error'),
  /** `{ remote, sni, kind, key, upstream, bytesIn, bytesOut, reason }` when a spliced connection ended. */
  gatewayClosed: channel('wanfed:gateway:closed'),
} as const
