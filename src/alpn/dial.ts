import { isIP } from 'node:net'
import {
  type ConnectionOptions,
  type SecureContext,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls'
import {
  AlpnMismatchError,
  ConnectTimeoutError,
  HandshakeTimeoutError,
  InvalidArgumentError,
  SocketError,
  TlsError,
} from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import { type HostPort, parseHostPort } from '../internal/address.ts'
import { type Clock, systemClock } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { channels } from '../internal/diagnostics.ts'
import { connectError as classifyConnectError } from '../internal/socket-errors.ts'
import { optionalNumber } from '../internal/validate.ts'
import { watchCleanEnd } from './clean-end.ts'
import type { TlsSessionCache } from './session-cache.ts'
import { serverSni } from './sni.ts'
import { clientSecureContext, type TlsCredentials } from './tls-options.ts'

/** Consul's fixed TCP dial timeout towards a gateway. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
/** Consul has no TLS handshake timeout at all; a peer that accepts and stays silent must not hang us. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

export interface DialViaGatewayOptions {
  /** The gateway to connect to, `host:port` (IPv6 in brackets). */
  gateway: string
  /** Destination datacenter. */
  datacenter: string
  /** Destination server's short node name; `''`, `'*'` or omitted means any server in the DC. */
  node?: string
  /** Consul domain, default `consul`. */
  domain?: string
  /** Use this server name instead of the one built from datacenter, node and domain. */
  servername?: string
  /** The one ALPN protocol to offer; the peer must select exactly it. */
  alpn: string
  /** This node's certificate and the CA that signs the peer's. */
  tls: TlsCredentials
  /** TCP connect timeout in ms. Default 10,000 (Consul's). */
  connectTimeoutMs?: number
  /** TLS handshake timeout in ms, counted from the TCP connect. Default 10,000. */
  handshakeTimeoutMs?: number
  /** Aborts the dial; the socket is destroyed and the promise rejects with `AbortError` (or `TimeoutError` for `AbortSignal.timeout`). */
  signal?: AbortSignal
  /** Resume TLS sessions through this cache, keyed by server name. */
  sessionCache?: TlsSessionCache
  /** Local address to bind the TCP socket to. */
  localAddress?: string
  /** @internal */
  clock?: Clock
  /**
   * @internal Streams: once connected, an end without TLS close_notify (a gateway that died) is a
   * `SocketError`, and socket errors are wanfed errors (see clean-end.ts).
   */
  strictEnd?: boolean
}

interface Plan {
  target: HostPort
  servername: string
  secureContext: SecureContext
  connectTimeoutMs: number
  handshakeTimeoutMs: number
}

function plan(options: DialViaGatewayOptions): Plan {
  const target = parseHostPort(options.gateway, 'gateway address')
  if (typeof options.alpn !== 'string' || options.alpn === '') {
    throw new InvalidArgumentError('cannot dial via a gateway without an ALPN protocol')
  }
  if (options.datacenter === '' && options.servername === undefined) {
    throw new InvalidArgumentError('cannot dial via a gateway without a target datacenter')
  }
  const servername =
    options.servername ?? serverSni(options.datacenter, options.node, options.domain)
  if (options.localAddress !== undefined && isIP(options.localAddress) === 0) {
    throw new InvalidArgumentError(
      `localAddress must be an IP address, got ${JSON.stringify(options.localAddress)}`,
    )
  }
  return {
    target,
    servername,
    // Fails closed: no CA, an empty one or one Node cannot parse would mean trusting its default store.
    secureContext: clientSecureContext(options.tls, 'dialViaGateway'),
    connectTimeoutMs: optionalNumber(
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      'connectTimeoutMs',
      { positive: true, unit: 'ms' },
    ),
    handshakeTimeoutMs: optionalNumber(
      options.handshakeTimeoutMs,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
      'handshakeTimeoutMs',
      { positive: true, unit: 'ms' },
    ),
  }
}

/**
 * Opens a connection to a server in another datacenter through a mesh gateway: TCP to the gateway,
 * then mutual TLS with SNI `<node>.server.<dc>.<domain>` and exactly one ALPN protocol. The server's
 * certificate is verified against the CA and the SNI name; a peer that selects another protocol (or
 * none) is an error. Every failure path destroys the socket and clears every timer and listener.
 *
 * The promise resolves only once the server has accepted this node's client certificate. With
 * TLS 1.2 that is the end of the handshake. With TLS 1.3 the client finishes before the server has
 * seen its certificate, so the dial also waits (within the handshake timeout) for the server's
 * session ticket: Go's crypto/tls (a Consul server) and OpenSSL (an {@link AlpnServer}) send one
 * only after verifying the client certificate, in the flight that follows the client's Finished,
 * so no extra round trip is spent. A refusal arrives as a TLS alert instead and rejects with
 * {@link TlsError}. A server that closes cleanly without a ticket is not called a refusal (it may
 * have accepted and closed at once with tickets disabled): that is a {@link SocketError}. A
 * resumed session needs no ticket: the server accepted these credentials when it issued it. A
 * server that sent its ticket and closed at once is an accept: the socket may then come back
 * already ended (`readableEnded`), so a caller that waits for `'end'` checks that first.
 *
 * @returns the TLS socket, handshake complete, positioned at the first application byte.
 * @throws {InvalidArgumentError} bad gateway address, SNI parts, options or missing credentials (no socket is created)
 * @throws {CertificateError} the credentials do not parse, or the key does not match the certificate (no socket is created)
 * @throws {AbortError} / {TimeoutError} the signal fired
 * @throws {ConnectTimeoutError} / {HandshakeTimeoutError} a phase ran out of time
 * @throws {SocketError} the TCP connection failed (`cause.code` e.g. `ECONNREFUSED`); local
 *   (`remote: false`) when the gateway's name did not resolve or `localAddress` cannot be bound
 * @throws {TlsError} the handshake failed (certificate, hostname, alert), or the server refused
 *   our client certificate
 * @throws {AlpnMismatchError} the peer did not select the requested protocol
 */
export function dialViaGateway(options: DialViaGatewayOptions): Promise<TLSSocket> {
  let p: Plan
  try {
    p = plan(options)
  } catch (err) {
    return Promise.reject(err)
  }
  const { signal, alpn, sessionCache, tls } = options
  const clock = options.clock ?? systemClock
  const { servername } = p
  const gateway = options.gateway
  const what = `dial ${servername} (${alpn}) via gateway ${gateway}`
  if (signal?.aborted) return Promise.reject(abortReason(signal, what))

  return new Promise<TLSSocket>((resolve, reject) => {
    if (channels.dialStart.hasSubscribers)
      channels.dialStart.publish({ gateway, sni: servername, alpn })
    let settled = false
    let connected = false
    /** Waiting for the TLS 1.3 session ticket that proves the server accepted our certificate. */
    let confirming = false
    let ticket = false
    /** The TCP handle under the TLS engine, to tell whether the far side ever sent a byte. */
    let tcp: { bytesRead?: number } | undefined
    const session = sessionCache?.get(servername, tls)
    // One socket for both phases: tls.connect with host and port is a TLSSocket that emits
    // 'connect' when TCP is up and 'secureConnect' after the handshake. Wrapping a separate
    // net.Socket would cost a second socket object per pooled connection.
    const connectOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: p.target.host,
      port: p.target.port,
      servername,
      ALPNProtocols: [alpn],
      rejectUnauthorized: true,
      secureContext: p.secureContext,
      // The stream's owner decides when to close; ending our side must not end theirs.
      allowHalfOpen: true,
      ...(session === undefined ? {} : { session }),
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    }
    // A stream dial brings its own TCP socket, connected after tls.connect has wrapped it, so the
    // TCP EOF is seen apart from the TLS one (clean-end.ts); other dials let tls.connect make it.
    const watch = options.strictEnd === true ? watchCleanEnd() : undefined
    // tls.connect passes allowHalfOpen to its socket; @types/node's ConnectionOptions lacks it.
    const socket = tlsConnect(
      watch === undefined
        ? connectOptions
        : { ...connectOptions, host: undefined, port: undefined, socket: watch.raw },
    )
    const tcpSocket = watch?.raw ?? socket
    if (watch !== undefined) {
      watch.raw.on('error', noop) // the TLS socket re-emits it
      watch.raw.connect({
        host: p.target.host,
        port: p.target.port,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      })
    }
    tcpSocket.setNoDelay(true)
    tcpSocket.setKeepAlive(true)
    if (sessionCache !== undefined) {
      socket.on('session', (s: Buffer) => sessionCache.set(servername, tls, s))
    }
    let timer = clock.setTimeout(
      () =>
        fail(
          gatewayFault(
            new ConnectTimeoutError(
              `${what}: TCP connect timed out after ${p.connectTimeoutMs} ms`,
            ),
          ),
        ),
      p.connectTimeoutMs,
    )

    /** Bytes the far side sent; undefined when Node's internals do not say. */
    const heard = (): number | undefined => tcp?.bytesRead
    /** A gateway that accepts TCP and never says a word (or hangs up without one) is the gateway's failure. */
    const silent = <E extends Error>(err: E): E => (heard() === 0 ? gatewayFault(err) : err)

    const onAbort = () => fail(abortReason(signal as AbortSignal, what))
    const onError = (err: Error) =>
      fail(connected ? silent(mapHandshakeError(err, what, confirming)) : connectError(err, what))
    const onClose = () =>
      fail(
        confirming
          ? notConfirmed(what)
          : silent(new SocketError(`${what}: connection closed during TLS handshake`)),
      )
    const onEnd = () => {
      // Only listened to while confirming: a clean EOF where the ticket should have been.
      fail(notConfirmed(what))
    }
    const onSession = () => {
      ticket = true
      if (!confirming) return
      // Confirmed: an EOF or close from here on is a server that accepted us and hung up at once,
      // not a refusal, so it no longer fails the dial.
      confirming = false
      socket.off('end', onEnd)
      socket.off('close', onClose)
      // Not from inside the event: a write made while Node's TLS engine is still handing out the
      // ticket (including from a promise continuation of this resolve, or a nextTick) is lost. By
      // the time this runs, a server that closed at once may have ended the socket already
      // (`readableEnded`), which the caller sees as EOF.
      setImmediate(() => settled || succeed())
    }

    const cleanup = () => {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      tcpSocket.off('connect', onConnect)
      socket.off('secureConnect', onSecure)
      socket.off('session', onSession)
      socket.off('end', onEnd)
      socket.off('error', onError)
      socket.off('close', onClose)
    }

    function fail(err: Error) {
      if (settled) return
      settled = true
      cleanup()
      // A late error after we gave up must not become an unhandled 'error'.
      socket.on('error', noop)
      socket.destroy()
      watch?.raw.destroy()
      if (sessionCache !== undefined && err instanceof TlsError)
        sessionCache.delete(servername, tls)
      debug('%s failed: %s', what, err.message)
      if (channels.dialError.hasSubscribers)
        channels.dialError.publish({ gateway, sni: servername, alpn, error: err })
      reject(err)
    }

    function succeed() {
      settled = true
      cleanup()
      watch?.arm(socket, what)
      debug('%s connected (resumed=%s)', what, socket.isSessionReused())
      if (channels.dialConnected.hasSubscribers)
        channels.dialConnected.publish({ gateway, sni: servername, alpn, socket })
      resolve(socket)
    }

    function onConnect() {
      connected = true
      tcp =
        watch?.raw ??
        (socket as unknown as { _handle?: { _parent?: { bytesRead?: number } } })._handle?._parent
      clock.clearTimeout(timer)
      timer = clock.setTimeout(
        () =>
          fail(
            silent(
              new HandshakeTimeoutError(
                confirming
                  ? `${what}: the server did not confirm our client certificate within ${p.handshakeTimeoutMs} ms`
                  : `${what}: TLS handshake timed out after ${p.handshakeTimeoutMs} ms`,
              ),
            ),
          ),
        p.handshakeTimeoutMs,
      )
    }

    function onSecure() {
      if (socket.alpnProtocol !== alpn) {
        fail(
          new AlpnMismatchError(
            `${what}: peer selected ${JSON.stringify(socket.alpnProtocol || null)}, not ${alpn}`,
          ),
        )
        return
      }
      if (ticket || socket.getProtocol() !== 'TLSv1.3' || socket.isSessionReused()) {
        succeed()
        return
      }
      confirming = true
      socket.once('end', onEnd)
    }

    signal?.addEventListener('abort', onAbort, { once: true })
    tcpSocket.once('connect', onConnect)
    socket.once('secureConnect', onSecure)
    socket.on('session', onSession)
    socket.on('error', onError)
    socket.once('close', onClose)
  })
}

function noop() {}

function notConfirmed(what: string): SocketError {
  return new SocketError(
    `${what}: the server closed the connection before confirming our client certificate ` +
      '(no TLS 1.3 session ticket and no alert)',
  )
}

/** A failure before TCP was up: the gateway's, unless it happened on our side. */
function connectError(err: Error, what: string): SocketError {
  const mapped = classifyConnectError(err, what, 'the gateway address')
  return mapped.remote ? gatewayFault(mapped) : mapped
}

function gatewayFault<E extends Error>(err: E): E {
  unreachable.add(err)
  return err
}

/** Errors that are the gateway's own failure. */
const unreachable = new WeakSet<Error>()

/**
 * True when a `dialViaGateway` failure is the gateway's own: the TCP connection to it failed
 * (refused, reset, timed out), or it accepted TCP and then never sent a byte of the TLS handshake
 * (timed out, or closed or reset without a word), as a wedged process or a load balancer in front
 * of a dead proxy does. Failures after the far side answered (the far server refusing, a TLS or
 * ALPN error, an alert), and local ones (DNS, a bad local address), are not the gateway's, and a
 * locator should not avoid it for them.
 */
export function isGatewayUnreachable(err: unknown): boolean {
  return err instanceof Error && unreachable.has(err)
}

/** Alerts a server sends about the client's certificate (Go: unknown_ca, certificate_expired, bad_certificate, certificate_required). */
const CLIENT_CERT_ALERT =
  /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_EXPIRED|CERTIFICATE_REQUIRED|CERTIFICATE_REVOKED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)$/

function mapHandshakeError(err: Error, what: string, confirming: boolean): Error {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if ((confirming && code.includes('ALERT')) || CLIENT_CERT_ALERT.test(code)) {
    // The alert came where the session ticket should have: the server checked our certificate
    // and said no (bad_certificate, unknown_ca, certificate_expired, certificate_required...).
    return new TlsError(`${what}: the server refused our client certificate: ${err.message}`, {
      cause: err,
    })
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return new AlpnMismatchError(`${what}: peer does not speak this protocol`, { cause: err })
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new SocketError(`${what}: connection reset during TLS handshake`, { cause: err })
  }
  return new TlsError(`${what}: TLS handshake failed: ${err.message}`, { cause: err })
}
