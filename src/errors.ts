/**
 * Every error wanfed throws, rejects with or emits is a {@link WanfedError} with a stable `code`.
 * Codes are API; messages are not. `docs/errors.md` lists every code, when it happens and what to do.
 *
 * `remote` tells whether the failure happened talking to a peer (refused, reset, timed out, a TLS
 * alert from the far end). memberlist's probe logic treats remote failures differently from local
 * ones (bad node names, unknown datacenters, oversize packets), so transports must say which.
 *
 * @packageDocumentation
 */

export type WanfedErrorCode =
  | 'WANFED_ERR_INVALID_ARG'
  | 'WANFED_ERR_INVALID_NODE_NAME'
  | 'WANFED_ERR_ABORTED'
  | 'WANFED_ERR_TIMEOUT'
  | 'WANFED_ERR_CONNECT_TIMEOUT'
  | 'WANFED_ERR_HANDSHAKE_TIMEOUT'
  | 'WANFED_ERR_SOCKET'
  | 'WANFED_ERR_TLS'
  | 'WANFED_ERR_ALPN_MISMATCH'
  | 'WANFED_ERR_FRAME_TOO_LARGE'
  | 'WANFED_ERR_FRAME_EMPTY'
  | 'WANFED_ERR_FRAME_TRUNCATED'
  | 'WANFED_ERR_FRAME_STALLED'
  | 'WANFED_ERR_PACKET_TOO_LARGE'
  | 'WANFED_ERR_NO_GATEWAY'
  | 'WANFED_ERR_NO_ROUTE'
  | 'WANFED_ERR_NOT_LISTENING'
  | 'WANFED_ERR_CLOSED'
  | 'WANFED_ERR_DESTROYED'
  | 'WANFED_ERR_CERT'
  | 'WANFED_ERR_BAD_CLIENT_HELLO'
  | 'WANFED_ERR_GOSSIP_DECODE'
  | 'WANFED_ERR_GOSSIP_DECRYPT'
  | 'WANFED_ERR_GOSSIP_REFUSED'
  | 'WANFED_ERR_JOIN_FAILED'
  | 'WANFED_ERR_INVALID_FEDERATION_STATE'
  | 'WANFED_ERR_BAD_SNAPSHOT'
  | 'WANFED_ERR_PERSIST'
  | 'WANFED_ERR_RPC'

const kWanfedError = Symbol.for('wanfed.error')

export interface WanfedErrorOptions extends ErrorOptions {
  /** The failure happened on the remote side (peer, gateway, network). Default false. */
  remote?: boolean
}

/**
 * Base class. `instanceof` works across duplicate copies of the package (the check is a
 * `Symbol.for` brand, not the prototype chain); matching on `code` is still preferred.
 */
export class WanfedError extends Error {
  override name = 'WanfedError'
  readonly code: WanfedErrorCode
  readonly remote: boolean

  constructor(code: WanfedErrorCode, message: string, options: WanfedErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.remote = options.remote ?? false
  }

  get [kWanfedError](): true {
    return true
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false
    if ((value as Record<symbol, unknown>)[kWanfedError] !== true) return false
    // Subclasses narrow by name so `err instanceof TimeoutError` stays meaningful across copies;
    // `this` is the class `instanceof` was asked about, which is the point.
    // biome-ignore lint/complexity/noThisInStatic: polymorphic on purpose
    return this === WanfedError || (value as Error).name === this.prototype.name
  }
}

function define<C extends WanfedErrorCode>(name: string, code: C, remote: boolean) {
  const cls = class extends WanfedError {
    constructor(message: string, options: WanfedErrorOptions = {}) {
      super(code, message, { remote, ...options })
      this.name = name
    }
  }
  Object.defineProperty(cls, 'name', { value: name })
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true })
  return cls
}

/** An argument or option is invalid; the message names it. Nothing was changed. */
export class InvalidArgumentError extends define(
  'InvalidArgumentError',
  'WANFED_ERR_INVALID_ARG',
  false,
) {}
/** A node name does not split into `<node>.<dc>` under the configured rule. */
export class InvalidNodeNameError extends define(
  'InvalidNodeNameError',
  'WANFED_ERR_INVALID_NODE_NAME',
  false,
) {}
/** The caller's `AbortSignal` fired. `name` is `'AbortError'` as Node and libp2p expect; `cause` is the signal's reason. */
export class AbortError extends define('AbortError', 'WANFED_ERR_ABORTED', false) {}
/** The caller's own timeout (a `timeoutMs` argument) ran out before the operation finished. */
export class TimeoutError extends define('TimeoutError', 'WANFED_ERR_TIMEOUT', true) {}
/** The TCP connect did not complete within the connect timeout. */
export class ConnectTimeoutError extends define(
  'ConnectTimeoutError',
  'WANFED_ERR_CONNECT_TIMEOUT',
  true,
) {}
/** The TLS handshake (or, on a server, the first-byte peek plus handshake) did not complete in time. */
export class HandshakeTimeoutError extends define(
  'HandshakeTimeoutError',
  'WANFED_ERR_HANDSHAKE_TIMEOUT',
  true,
) {}
/** A socket failed: refused, reset, closed early. `cause.code` keeps Node's code (`ECONNREFUSED`, …). */
export class SocketError extends define('SocketError', 'WANFED_ERR_SOCKET', true) {}
/** The TLS handshake failed: certificate verification, hostname mismatch, an alert from the peer. */
export class TlsError extends define('TlsError', 'WANFED_ERR_TLS', true) {}
/** The peer did not negotiate the requested ALPN protocol. */
export class AlpnMismatchError extends define(
  'AlpnMismatchError',
  'WANFED_ERR_ALPN_MISMATCH',
  true,
) {}
/** A frame's length prefix exceeds the configured maximum. Raised before any of its body is buffered. */
export class FrameTooLargeError extends define(
  'FrameTooLargeError',
  'WANFED_ERR_FRAME_TOO_LARGE',
  false,
) {}
/** A frame's length prefix is zero, which the packet protocol forbids. */
export class FrameEmptyError extends define('FrameEmptyError', 'WANFED_ERR_FRAME_EMPTY', false) {}
/** The connection ended in the middle of a frame; the partial frame was dropped. */
export class FrameTruncatedError extends define(
  'FrameTruncatedError',
  'WANFED_ERR_FRAME_TRUNCATED',
  true,
) {}
/** A frame's body did not arrive within the body timeout. */
export class FrameStalledError extends define(
  'FrameStalledError',
  'WANFED_ERR_FRAME_STALLED',
  true,
) {}
/** A packet is larger than the transport can carry (65,507 bytes over UDP). Nothing was sent. */
export class PacketTooLargeError extends define(
  'PacketTooLargeError',
  'WANFED_ERR_PACKET_TOO_LARGE',
  false,
) {}
/** The locator has no gateway for the destination datacenter ("no gateway reachable for dc2"). */
export class NoGatewayError extends define('NoGatewayError', 'WANFED_ERR_NO_GATEWAY', false) {}
/** No transport is registered at that name or address (in-memory networks). */
export class NoRouteError extends define('NoRouteError', 'WANFED_ERR_NO_ROUTE', false) {}
/** An operation needs `listen()` to have completed first. */
export class NotListeningError extends define(
  'NotListeningError',
  'WANFED_ERR_NOT_LISTENING',
  false,
) {}
/** The object was closed; operations after `close()` reject with this. */
export class ClosedError extends define('ClosedError', 'WANFED_ERR_CLOSED', false) {}
/** The object was destroyed; in-flight operations reject with this, with the destroy reason as `cause`. */
export class DestroyedError extends define('DestroyedError', 'WANFED_ERR_DESTROYED', false) {}
/** A certificate, key or CA could not be created, read or used. */
export class CertificateError extends define('CertificateError', 'WANFED_ERR_CERT', false) {}
/**
 * The first bytes of a connection are not a well-formed TLS ClientHello (another protocol, an
 * SSLv2 hello, a length that runs past its container). A gateway closes such a connection.
 */
export class ClientHelloError extends define(
  'ClientHelloError',
  'WANFED_ERR_BAD_CLIENT_HELLO',
  true,
) {}

/** What was wrong with a memberlist message that {@link GossipDecodeError} rejected. */
export type GossipDecodeReason =
  | 'truncated'
  | 'malformed'
  | 'oversized'
  | 'crc'
  | 'compression'
  | 'unknown-type'
  | 'label'

/**
 * A memberlist message from the network could not be decoded (truncated, mistyped msgpack, a wrong
 * CRC, a bad or oversized LZW body, an unknown message type, an unacceptable label). The message
 * is dropped and counted under its `reason`; nothing else changes.
 */
export class GossipDecodeError extends define(
  'GossipDecodeError',
  'WANFED_ERR_GOSSIP_DECODE',
  true,
) {
  readonly reason: GossipDecodeReason
  constructor(message: string, options: WanfedErrorOptions & { reason?: GossipDecodeReason } = {}) {
    super(message, options)
    this.reason = options.reason ?? 'malformed'
  }
}
/**
 * Gossip encryption refused a message: no installed key decrypts it, it is plaintext where
 * encryption is required (`gossipVerifyIncoming`), or it is encrypted and no keyring is set.
 */
export class GossipDecryptError extends define(
  'GossipDecryptError',
  'WANFED_ERR_GOSSIP_DECRYPT',
  true,
) {}
/**
 * A peer's state was refused: protocol or delegate version ranges that do not overlap, a merge or
 * alive delegate's veto, or an error the peer sent back (`errResp`).
 */
export class GossipRefusedError extends define(
  'GossipRefusedError',
  'WANFED_ERR_GOSSIP_REFUSED',
  true,
) {}

/**
 * `Memberlist.join` reached none of the addresses it was given. `cause` is an `AggregateError` of
 * each address's failure.
 */
export class JoinError extends define('JoinError', 'WANFED_ERR_JOIN_FAILED', true) {}
/**
 * A federation state or a request about one is malformed: a missing datacenter, an unknown
 * operation, a field of the wrong type. Nothing was changed.
 */
export class InvalidFederationStateError extends define(
  'InvalidFederationStateError',
  'WANFED_ERR_INVALID_FEDERATION_STATE',
  false,
) {}
/** A federation-state snapshot (or the persisted file holding one) does not decode. Nothing was changed. */
export class SnapshotError extends define('SnapshotError', 'WANFED_ERR_BAD_SNAPSHOT', false) {}
/** Writing or reading the federation-state store's file failed; `cause` keeps the file system error. */
export class PersistError extends define('PersistError', 'WANFED_ERR_PERSIST', false) {}
/**
 * The federation-state service broke its protocol or could not answer: a malformed message, an
 * unknown method, too many requests in flight, the connection closed with the request pending,
 * or a remote failure that has no code of its own. The message says which.
 */
export class RpcError extends define('RpcError', 'WANFED_ERR_RPC', true) {}

/** True when `err` is a wanfed error, optionally with the given code. */
export function isWanfedError(err: unknown, code?: WanfedErrorCode): err is WanfedError {
  return err instanceof WanfedError && (code === undefined || err.code === code)
}
