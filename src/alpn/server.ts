import type { AddressInfo } from 'node:net'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls'
import { EventEmitter } from 'eventemitter3'
import { InvalidArgumentError, TlsError } from '../errors.ts'
import { formatHostPort } from '../internal/address.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { channels } from '../internal/diagnostics.ts'
import { drain, OpenSet } from '../internal/drain.ts'
import { ListenerLifecycle, type ListenOptions } from '../internal/listen.ts'
import { optionalNumber } from '../internal/validate.ts'
import { IpLimiter } from './ip-limiter.ts'
import { isNativeTlsFirstByte, RPC_MAX_TYPE_VALUE } from './protocols.ts'
import { ALERT, plaintextAlert, sealedAlert } from './tls-alert.ts'
import { secureContextOptions, type TlsCredentials, validateTlsCredentials } from './tls-options.ts'

/** Consul's `rpc_handshake_timeout` default: covers the first-byte peek and the TLS handshake. */
export const DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS = 5_000
/** Consul's `rpc_max_conns_per_client` default. All tunnelled traffic comes from the gateway's IP. */
export const DEFAULT_MAX_CONNS_PER_CLIENT = 100
/** How long `close()` lets dispatched connections finish before destroying them. */
export const DEFAULT_CLOSE_GRACE_MS = 5_000

export interface AlpnConnectionInfo {
  /** The negotiated ALPN protocol. */
  alpn: string
  /** The SNI the client sent, if any. */
  servername: string | undefined
  /** The peer's address as `host:port` (for tunnelled traffic: the gateway's). */
  remote: string
}

export interface LegacyConnectionInfo {
  /** The first byte, still unread on the socket. */
  typeByte: number
  remote: string
}

/** Receives a TLS connection whose handshake completed with `alpn`. It owns the socket from then on. */
export type AlpnHandler = (socket: TLSSocket, info: AlpnConnectionInfo) => void
/** Receives a plain connection whose first byte (unconsumed) is a legacy type byte. It owns the socket. */
export type LegacyHandler = (socket: Socket, info: LegacyConnectionInfo) => void

/** How a handler's connections take part in the server's `close()`. */
export interface AlpnHandlerOptions {
  /**
   * Called once for each open connection this handler was given, when `close()` begins: ask it
   * to finish now rather than wait out `closeGraceMs` (end a pooled connection the peer would
   * otherwise keep until its idle timeout). Connections still open at the grace's end are
   * destroyed either way. Without it, a connection is left to its owner within the grace.
   */
  onServerClose?: (socket: TLSSocket) => void
}

export interface AlpnServerOptions {
  /** This server's certificate and key, and the CA every client certificate must chain to. */
  tls: TlsCredentials
  /** Deadline in ms from accept to a dispatched connection (peek plus handshake). Default 5,000. */
  handshakeTimeoutMs?: number
  /**
   * Open connections allowed per source IP; 0 means no limit. Default 100 (Consul's
   * `rpc_max_conns_per_client`). Tunnelled traffic all arrives from the local gateways' IPs, so
   * list those in `unlimitedAddresses` or the gateways share one quota.
   */
  maxConnsPerClient?: number
  /** Source IPs the per-IP limit does not apply to (this DC's mesh gateways). */
  unlimitedAddresses?: readonly string[]
  /**
   * When set, the SNI a client sends must be one of these names (compared case-insensitively), or
   * pass this predicate; otherwise the handshake is refused. Consul only logs the SNI.
   */
  serverNames?: readonly string[] | ((servername: string | undefined) => boolean)
  /** Grace period in ms that `close()` gives dispatched connections. Default 5,000. */
  closeGraceMs?: number
  /** Highest legacy type byte. Default {@link RPC_MAX_TYPE_VALUE} (9); Consul before 2020 used 7. */
  maxTypeValue?: number
  /** @internal */
  clock?: Clock
}

/**
 * Why {@link AlpnServer} refused or dropped a connection. `'tls-error'`: the handshake failed or
 * the client went away during it; `'bad-client-cert'`: the client's certificate does not verify
 * against the CA (or it sent none), answered with a TLS alert; the rest as named.
 */
export type RejectReason =
  | 'conn-limit'
  | 'handshake-timeout'
  | 'tls-error'
  | 'bad-client-cert'
  | 'no-alpn'
  | 'unknown-alpn'
  | 'unknown-type-byte'
  | 'sni-mismatch'
  | 'closed-before-first-byte'
  | 'closing'

export interface AlpnServerEvents {
  /**
   * A connection was refused or dropped before it reached a handler. Counted in `stats()` too.
   * `remote` is the peer's `host:port`; `error` says more where there is more to say: a
   * {@link TlsError} for `'tls-error'`, `'sni-mismatch'` and `'unknown-alpn'` refused by the TLS
   * engine (`cause` keeps Node's error) and for `'bad-client-cert'` (naming the verification error).
   */
  rejected: (info: { reason: RejectReason; remote: string; error?: Error }) => void
  /** A background failure of the listener itself. */
  error: (err: Error) => void
  /** Emitted once, when the listener and every connection are closed. */
  close: () => void
}

export interface AlpnServerStats {
  status: AlpnServer['status']
  /** Connections accepted (before limits). */
  accepted: number
  /** Connections currently open: pending dispatch plus dispatched. */
  open: number
  /** Connections waiting for their first byte or handshake. */
  pending: number
  /** Dispatched TLS connections, by ALPN protocol. */
  byAlpn: Record<string, number>
  /** Dispatched legacy connections, by type byte. */
  byTypeByte: Record<number, number>
  /** Refused or dropped connections, by reason. */
  rejected: Record<RejectReason, number>
}

interface PendingConn {
  timer: TimerHandle
  remote: string
  timedOut: boolean
  /** The first byte was TLS and the socket went to the TLS engine. */
  tls: boolean
}

/**
 * A server port that speaks both worlds, as a Consul server's RPC port does: it peeks at the first
 * byte of every connection without consuming it. A byte up to {@link RPC_MAX_TYPE_VALUE} is a legacy
 * type byte and goes to the handler registered for it; anything higher is native TLS, which must
 * present a client certificate signed by the CA, and is dispatched on its negotiated ALPN protocol.
 *
 * The TLS side runs on a `tls.Server` that never listens and is handed each socket. A client whose
 * certificate does not verify against the CA (or that sends none) is refused with the TLS alert
 * Go's crypto/tls (a Consul server) sends: `certificate_required`, `unknown_ca`,
 * `certificate_expired` or `bad_certificate`, counted as `bad-client-cert`. Node itself would close
 * silently, which a TLS 1.3 client, already finished, cannot tell from an accept.
 *
 * @example
 * ```ts
 * const server = new AlpnServer({ tls: { ca, cert, key } })
 * server.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => socket.pipe(socket))
 * const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
 * ```
 */
export class AlpnServer extends EventEmitter<AlpnServerEvents> {
  readonly #net: NetServer
  readonly #life: ListenerLifecycle
  readonly #tls: TlsServer
  readonly #handlers = new Map<string, AlpnHandlerOptions & { handler: AlpnHandler }>()
  readonly #legacy = new Map<number, LegacyHandler>()
  readonly #limiter: IpLimiter
  /** TLS 1.3 server application traffic secrets, from the keylog, until the handshake ends. */
  readonly #secrets = new WeakMap<TLSSocket, Buffer>()
  readonly #pending = new Map<Socket, PendingConn>()
  readonly #dispatched = new OpenSet<Socket>()
  /** The close hook of the handler each dispatched TLS connection went to, if it has one. */
  readonly #closeHooks = new WeakMap<Socket, (socket: TLSSocket) => void>()
  readonly #clock: Clock
  readonly #handshakeTimeoutMs: number
  readonly #closeGraceMs: number
  readonly #maxTypeValue: number
  readonly #serverNames: ((servername: string | undefined) => boolean) | undefined
  #closing: Promise<void> | undefined
  #accepted = 0
  readonly #byAlpn: Record<string, number> = {}
  readonly #byTypeByte: Record<number, number> = {}
  readonly #rejected: Record<RejectReason, number> = {
    'conn-limit': 0,
    'handshake-timeout': 0,
    'tls-error': 0,
    'bad-client-cert': 0,
    'no-alpn': 0,
    'unknown-alpn': 0,
    'unknown-type-byte': 0,
    'sni-mismatch': 0,
    'closed-before-first-byte': 0,
    closing: 0,
  }

  constructor(options: AlpnServerOptions) {
    super()
    // Fails closed: without a CA Node would accept any client its default trust store accepts.
    validateTlsCredentials(options?.tls, 'AlpnServer')
    this.#clock = options.clock ?? systemClock
    this.#handshakeTimeoutMs = optionalNumber(
      options.handshakeTimeoutMs,
      DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
      'handshakeTimeoutMs',
      { positive: true },
    )
    this.#limiter = new IpLimiter(
      optionalNumber(options.maxConnsPerClient, DEFAULT_MAX_CONNS_PER_CLIENT, 'maxConnsPerClient', {
        min: 0,
      }),
      options.unlimitedAddresses,
    )
    this.#closeGraceMs = optionalNumber(
      options.closeGraceMs,
      DEFAULT_CLOSE_GRACE_MS,
      'closeGraceMs',
      { min: 0 },
    )
    this.#maxTypeValue = optionalNumber(options.maxTypeValue, RPC_MAX_TYPE_VALUE, 'maxTypeValue', {
      integer: true,
      min: 0,
      max: 19,
    })
    this.#serverNames = sniPredicate(options.serverNames)

    this.#tls = createTlsServer({
      ...secureContextOptions(options.tls, 'AlpnServer'),
      requestCert: true,
      // We check `authorized` ourselves in #onSecure and refuse with a TLS alert, as Go does;
      // Node's own refusal closes without one, and a TLS 1.3 client cannot tell it from an accept.
      rejectUnauthorized: false,
      allowHalfOpen: true,
      // Our own timer covers peek plus handshake; this one is only a backstop.
      handshakeTimeout: this.#handshakeTimeoutMs * 2,
      ALPNCallback: ({ protocols }) => protocols.find((p) => this.#handlers.has(p)),
      ...(this.#serverNames === undefined ? {} : { SNICallback: this.#checkSni }),
    })
    this.#tls.on('secureConnection', (socket) => this.#onSecure(socket))
    this.#tls.on('tlsClientError', (err, socket) => this.#onTlsError(err, socket))
    this.#tls.on('keylog', (line, socket) => this.#onKeylog(line, socket))

    // Half-open on: a peer's close_notify/FIN ends only its direction, as a Go net.Conn's CloseWrite
    // does; handlers close their side themselves. The TLS sockets inherit it from these.
    this.#net = createNetServer({ noDelay: true, allowHalfOpen: true }, (socket) =>
      this.#onConnection(socket),
    )
    this.#life = new ListenerLifecycle(
      this.#net,
      'AlpnServer',
      () => void this.close(),
      (err) => this.emit('error', err),
    )
  }

  /** `'idle'` before `listen()`, then `'listening'`, `'closing'` during `close()`, `'closed'`. */
  get status(): 'idle' | 'listening' | 'closing' | 'closed' {
    return this.#life.status
  }

  /**
   * Registers the handler for an ALPN protocol. Clients offering it are accepted from now on.
   * `options.onServerClose` lets the handler's connections finish early when the server closes.
   */
  handle(alpn: string, handler: AlpnHandler, options: AlpnHandlerOptions = {}): this {
    if (typeof alpn !== 'string' || alpn === '' || alpn.length > 255) {
      throw new InvalidArgumentError(`invalid ALPN protocol id ${JSON.stringify(alpn)}`)
    }
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    const { onServerClose } = options ?? {}
    if (onServerClose !== undefined && typeof onServerClose !== 'function')
      throw new InvalidArgumentError('onServerClose must be a function')
    this.#handlers.set(alpn, onServerClose === undefined ? { handler } : { handler, onServerClose })
    return this
  }

  /**
   * Removes the handler for an ALPN protocol; new clients offering only it fail the handshake.
   * With `handler`, only if that is the one registered (so one owner cannot remove another's).
   */
  unhandle(alpn: string, handler?: AlpnHandler): this {
    if (handler === undefined || this.#handlers.get(alpn)?.handler === handler)
      this.#handlers.delete(alpn)
    return this
  }

  /** Whether a handler is registered for an ALPN protocol. */
  handles(alpn: string): boolean {
    return this.#handlers.has(alpn)
  }

  /** Registers the handler for a legacy type byte (0..maxTypeValue). */
  handleLegacy(typeByte: number, handler: LegacyHandler): this {
    if (!Number.isInteger(typeByte) || typeByte < 0 || typeByte > this.#maxTypeValue) {
      throw new InvalidArgumentError(
        `legacy type byte must be an integer 0..${this.#maxTypeValue}, got ${typeByte}`,
      )
    }
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler must be a function')
    this.#legacy.set(typeByte, handler)
    return this
  }

  /** Replaces the certificate, key or CA for new handshakes (a certificate rotation). */
  setTlsCredentials(creds: TlsCredentials): void {
    this.#tls.setSecureContext(secureContextOptions(creds, 'AlpnServer.setTlsCredentials'))
  }

  /** Starts listening. Resolves with the bound address (port 0 picks a free port). */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    return this.#life.listen(options)
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    return this.#life.address()
  }

  stats(): AlpnServerStats {
    return {
      status: this.#life.status,
      accepted: this.#accepted,
      open: this.#pending.size + this.#dispatched.size,
      pending: this.#pending.size,
      byAlpn: { ...this.#byAlpn },
      byTypeByte: { ...this.#byTypeByte },
      rejected: { ...this.#rejected },
    }
  }

  /**
   * Stops accepting, drops connections that have not been dispatched yet, and gives dispatched
   * ones `closeGraceMs` to finish before destroying them. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false)
    return this.#closing
  }

  /** Stops at once: every connection is destroyed. */
  destroy(err?: Error): void {
    for (const socket of this.#dispatched) socket.destroy(err)
    this.#closing ??= this.#shutdown(true)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(abrupt: boolean): Promise<void> {
    const wasListening = this.#life.beginClose()
    for (const socket of this.#pending.keys()) this.#drop(socket, 'closing')
    await drain({
      open: this.#dispatched,
      graceMs: this.#closeGraceMs,
      clock: this.#clock,
      abrupt,
      // Handlers that can end their connections early do so now (a far pool would otherwise keep
      // an idle packet connection open for the whole grace); the rest have the grace to finish.
      begin: (socket) => {
        const hook = this.#closeHooks.get(socket)
        if (hook !== undefined) this.#invoke(() => hook(socket as TLSSocket), socket)
      },
      destroy: (socket) => socket.destroy(),
      ...(wasListening
        ? { stopAccepting: () => new Promise<void>((resolve) => this.#net.close(() => resolve())) }
        : {}),
    })
    this.#life.status = 'closed'
    this.emit('close')
  }

  #onConnection(socket: Socket): void {
    const remote = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0)
    if (this.#life.status !== 'listening') {
      this.#count('closing', remote)
      socket.destroy()
      return
    }
    this.#accepted++
    const ip = socket.remoteAddress ?? ''
    if (!this.#limiter.acquire(ip)) {
      this.#count('conn-limit', remote)
      socket.destroy()
      return
    }
    socket.once('close', () => {
      this.#limiter.release(ip)
      this.#dispatched.delete(socket)
      // Still pending: the TLS engine gave up without an event (Node destroys a client whose
      // certificate fails verification silently), or the peer went away mid-handshake.
      const conn = this.#pending.get(socket)
      if (conn !== undefined)
        this.#drop(socket, conn.tls ? 'tls-error' : 'closed-before-first-byte')
    })
    // Peer resets before dispatch are routine (scanners, aborted dials); they are counted, not thrown.
    socket.on('error', (err) => debug('connection %s error: %s', remote, err.message))

    const conn: PendingConn = {
      remote,
      timedOut: false,
      tls: false,
      timer: this.#clock.setTimeout(() => {
        conn.timedOut = true
        this.#drop(socket, 'handshake-timeout')
      }, this.#handshakeTimeoutMs),
    }
    this.#pending.set(socket, conn)

    const onEnd = () => {
      socket.off('data', onData)
      this.#drop(socket, 'closed-before-first-byte')
    }
    const onData = (chunk: Buffer) => {
      socket.off('end', onEnd)
      socket.pause()
      // Peeking must not consume: the byte goes back for the TLS engine or the legacy handler.
      socket.unshift(chunk)
      const first = chunk[0] as number
      if (isNativeTlsFirstByte(first, this.#maxTypeValue)) {
        conn.tls = true
        // Until the handshake ends, a FIN must close the socket (the TLS engine then reports the
        // client gone): half-open, a client that sent half a ClientHello and left would hold its
        // socket and per-IP slot until the handshake timeout. #onSecure turns half-open back on.
        socket.allowHalfOpen = false
        this.#tls.emit('connection', socket)
        return
      }
      this.#dispatchLegacy(socket, conn, first)
    }
    socket.once('data', onData)
    socket.once('end', onEnd)
  }

  #dispatchLegacy(socket: Socket, conn: PendingConn, typeByte: number): void {
    const handler = this.#legacy.get(typeByte)
    if (handler === undefined) {
      this.#drop(socket, 'unknown-type-byte')
      return
    }
    this.#clock.clearTimeout(conn.timer)
    this.#pending.delete(socket)
    this.#dispatched.add(socket)
    this.#byTypeByte[typeByte] = (this.#byTypeByte[typeByte] ?? 0) + 1
    if (channels.serverLegacy.hasSubscribers)
      channels.serverLegacy.publish({ typeByte, remote: conn.remote })
    debug('legacy connection %s type byte %d', conn.remote, typeByte)
    this.#invoke(() => handler(socket, { typeByte, remote: conn.remote }), socket)
  }

  #onSecure(tlsSocket: TLSSocket): void {
    const raw = parentOf(tlsSocket)
    const conn = raw === undefined ? undefined : this.#pending.get(raw)
    if (raw === undefined || conn === undefined) {
      // Timed out or closed while the handshake finished.
      tlsSocket.destroy()
      return
    }
    const secret = this.#secrets.get(tlsSocket)
    this.#secrets.delete(tlsSocket)
    if (tlsSocket.authorized !== true) {
      this.#refuseClientCert(raw, tlsSocket, secret)
      return
    }
    this.#clock.clearTimeout(conn.timer)
    this.#pending.delete(raw)
    const alpn = tlsSocket.alpnProtocol
    const servername = typeof tlsSocket.servername === 'string' ? tlsSocket.servername : undefined
    if (alpn === false || alpn === null) {
      // Node accepts a client that offers no ALPN at all; the protocol requires one.
      this.#drop(raw, 'no-alpn', undefined, tlsSocket, conn.remote)
      return
    }
    if (this.#serverNames?.(servername) === false) {
      // Reached only without SNI: a wrong SNI already failed the handshake in the SNI callback.
      this.#drop(raw, 'sni-mismatch', undefined, tlsSocket, conn.remote)
      return
    }
    const registered = this.#handlers.get(alpn)
    if (registered === undefined) {
      // Only when a handler was removed between the ALPN callback and here.
      this.#drop(raw, 'unknown-alpn', undefined, tlsSocket, conn.remote)
      return
    }
    // Half-open from here on: a peer's close_notify/FIN ends only its direction (see #onConnection).
    raw.allowHalfOpen = true
    tlsSocket.allowHalfOpen = true
    this.#dispatched.add(tlsSocket)
    if (registered.onServerClose !== undefined)
      this.#closeHooks.set(tlsSocket, registered.onServerClose)
    tlsSocket.once('close', () => this.#dispatched.delete(tlsSocket))
    this.#byAlpn[alpn] = (this.#byAlpn[alpn] ?? 0) + 1
    if (channels.serverAccepted.hasSubscribers)
      channels.serverAccepted.publish({ remote: conn.remote, alpn, servername })
    debug('accepted %s sni=%s alpn=%s', conn.remote, servername, alpn)
    // The handler runs one turn later: Node writes the TLS 1.3 session tickets after 'secure', and
    // a handler that closes at once (a stream nobody consumes) would drop them unsent. The ticket
    // is how a dialer knows its certificate was accepted, so without it an accepted connection
    // that closes early would look like a refusal-shaped failure to the dialer.
    setImmediate(() => {
      if (tlsSocket.destroyed) return
      this.#invoke(
        () => registered.handler(tlsSocket, { alpn, servername, remote: conn.remote }),
        tlsSocket,
      )
    })
  }

  #onTlsError(err: Error, tlsSocket: TLSSocket): void {
    const raw = parentOf(tlsSocket)
    const conn = raw === undefined ? undefined : this.#pending.get(raw)
    tlsSocket.destroy()
    if (raw === undefined || conn === undefined || conn.timedOut) return
    const code = (err as NodeJS.ErrnoException).code
    const reason: RejectReason =
      err instanceof SniMismatchError
        ? 'sni-mismatch'
        : code === 'ERR_SSL_NO_APPLICATION_PROTOCOL'
          ? 'unknown-alpn'
          : 'tls-error'
    // Listeners get a typed error with a stable code; OpenSSL's own stays as its cause.
    this.#drop(
      raw,
      reason,
      new TlsError(`TLS handshake refused: ${err.message.trim()}`, { cause: err }),
    )
  }

  #checkSni = (servername: string, cb: (err: Error | null) => void): void => {
    if (this.#serverNames?.(servername) === false) {
      cb(new SniMismatchError(`SNI ${JSON.stringify(servername)} does not name this server`))
      return
    }
    cb(null)
  }

  /**
   * The client's certificate failed verification (or it sent none): send the alert Go's
   * crypto/tls sends (certificate_required, unknown_ca, certificate_expired, else
   * bad_certificate) so the client can tell a refusal from an accept, then drop it.
   */
  #refuseClientCert(raw: Socket, tlsSocket: TLSSocket, secret: Buffer | undefined): void {
    const missing = tlsSocket.getPeerX509Certificate() === undefined
    const tls13 = tlsSocket.getProtocol() === 'TLSv1.3'
    const code = tlsSocket.authorizationError ?? 'UNAUTHORIZED'
    const description = missing
      ? tls13
        ? ALERT.certificateRequired
        : ALERT.badCertificate
      : alertFor(String(code))
    const alert = tls13
      ? secret === undefined
        ? undefined
        : sealedAlert(tlsSocket.getCipher().standardName, secret, description)
      : plaintextAlert(description)
    // Straight to the TCP socket, ahead of anything the TLS engine still holds.
    if (alert !== undefined && raw.writable) raw.write(alert)
    const error = new TlsError(
      missing ? 'client sent no certificate' : `client certificate refused: ${String(code)}`,
    )
    this.#drop(raw, 'bad-client-cert', error, tlsSocket)
  }

  #onKeylog(line: Buffer, tlsSocket: TLSSocket): void {
    // Only this one line is kept, and only until the handshake ends (see #refuseClientCert).
    if (line.subarray(0, SERVER_SECRET.length).equals(SERVER_SECRET)) {
      const hex = line.toString('latin1').trim().split(' ')[2]
      if (hex !== undefined) this.#secrets.set(tlsSocket, Buffer.from(hex, 'hex'))
    }
  }

  #drop(
    socket: Socket,
    reason: RejectReason,
    error?: Error,
    tlsSocket?: TLSSocket,
    remote?: string,
  ): void {
    const conn = this.#pending.get(socket)
    if (conn !== undefined) {
      this.#clock.clearTimeout(conn.timer)
      this.#pending.delete(socket)
    }
    this.#count(reason, conn?.remote ?? remote ?? peerOf(socket), error)
    tlsSocket?.destroy()
    socket.destroy()
  }

  #count(reason: RejectReason, remote: string, error?: Error): void {
    this.#rejected[reason]++
    debug('rejected %s: %s%s', remote, reason, error ? ` (${error.message})` : '')
    if (channels.serverRejected.hasSubscribers)
      channels.serverRejected.publish({ remote, reason, error })
    this.emit('rejected', error === undefined ? { reason, remote } : { reason, remote, error })
  }

  #invoke(fn: () => void, socket: Socket): void {
    try {
      fn()
    } catch (err) {
      // A throwing handler must not take the accept path down with it.
      socket.destroy()
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
    }
  }
}

const SERVER_SECRET = Buffer.from('SERVER_TRAFFIC_SECRET_0 ', 'latin1')

/** OpenSSL verification errors that mean "not signed by a CA we trust". */
const UNKNOWN_CA = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
])

/** The alert Go sends for a verification error (its `processCertsFromClient`). */
function alertFor(code: string): number {
  if (UNKNOWN_CA.has(code)) return ALERT.unknownCa
  if (code === 'CERT_HAS_EXPIRED') return ALERT.certificateExpired
  return ALERT.badCertificate
}

function peerOf(socket: Socket): string {
  return formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0)
}

/** Marks the SNI callback's refusal so the TLS error handler can count it as such. */
class SniMismatchError extends Error {}

function parentOf(tlsSocket: TLSSocket): Socket | undefined {
  // Node keeps the wrapped socket as `_parent`; it has done so since the TLS rewrite in v0.11.
  return (tlsSocket as unknown as { _parent?: Socket })._parent
}

function sniPredicate(
  names: AlpnServerOptions['serverNames'],
): ((servername: string | undefined) => boolean) | undefined {
  if (names === undefined) return undefined
  if (typeof names === 'function') return names
  if (!Array.isArray(names))
    throw new InvalidArgumentError('serverNames must be an array of names or a function')
  const set = new Set(names.map((n) => n.toLowerCase()))
  return (sni) => sni !== undefined && set.has(sni.toLowerCase())
}
