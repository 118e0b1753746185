import type { TLSSocket } from 'node:tls'
import type { RejectReason } from './server.ts'

/**
 * The `node:diagnostics_channel` names the wire layer publishes on: dials through gateways and
 * the connections {@link AlpnServer} accepts or refuses. Subscribe with
 * `diagnostics_channel.subscribe(name, fn)`; a channel costs nothing while nobody listens.
 * docs/observability.md describes each message.
 */
export const ALPN_DIAGNOSTICS_CHANNELS = {
  /** {@link DialStartMessage}: a dial through a gateway starts. */
  dialStart: 'wanfed:dial:start',
  /** {@link DialConnectedMessage}: the TLS handshake of a dial completed. */
  dialConnected: 'wanfed:dial:connected',
  /** {@link DialErrorMessage}: a dial failed. */
  dialError: 'wanfed:dial:error',
  /** {@link ServerAcceptedMessage}: the ALPN server dispatched a TLS connection. */
  serverAccepted: 'wanfed:server:accepted',
  /** {@link ServerRejectedMessage}: the ALPN server refused or dropped a connection. */
  serverRejected: 'wanfed:server:rejected',
  /** {@link ServerLegacyMessage}: the ALPN server dispatched a legacy type-byte connection. */
  serverLegacy: 'wanfed:server:legacy',
} as const

/** Published on `wanfed:dial:start` before a dial through a gateway opens its socket. */
export interface DialStartMessage {
  /** The gateway dialled, `host:port`. */
  gateway: string
  /** The SNI sent, `<node>.server.<dc>.<domain>`. */
  sni: string
  /** The one ALPN protocol offered. */
  alpn: string
}

/** Published on `wanfed:dial:connected` once the handshake completed and ALPN matched. */
export interface DialConnectedMessage extends DialStartMessage {
  /** The connected socket (read-only use: the dialer owns it). */
  socket: TLSSocket
}

/** Published on `wanfed:dial:error` when a dial failed, with the same error the dial rejects with. */
export interface DialErrorMessage extends DialStartMessage {
  error: Error
}

/** Published on `wanfed:server:accepted` when a TLS connection is handed to its ALPN handler. */
export interface ServerAcceptedMessage {
  /** The client's address, `host:port`. */
  remote: string
  /** The negotiated ALPN protocol. */
  alpn: string
  /** The SNI the client sent, if any. */
  servername: string | undefined
}

/** Published on `wanfed:server:rejected` when a connection was refused or dropped before a handler. */
export interface ServerRejectedMessage {
  /** The client's address, `host:port`. */
  remote: string
  reason: RejectReason
  /** The underlying failure, when there is one (a TLS error, say). */
  error: Error | undefined
}

/** Published on `wanfed:server:legacy` when a legacy (type-byte) connection is dispatched. */
export interface ServerLegacyMessage {
  /** The first byte, 0..`RPC_MAX_TYPE_VALUE`. */
  typeByte: number
  /** The client's address, `host:port`. */
  remote: string
}
