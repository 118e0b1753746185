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
  if (options.tls === undefined)
    throw new InvalidArgumentError('cannot dial via a gateway without tls credentials')
  return {
    target,
    servername,
    secureContext: clientSecureContext(options.tls),
    connectTimeoutMs: positive(
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      'connectTimeoutMs',
    ),
    handshakeTimeoutMs: positive(
      options.handshakeTimeoutMs,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
      'handshakeTimeoutMs',
    ),
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(
      `${name} must be a positive number of milliseconds, got ${value}`,
    )
  }
  return value
}

/**
 * Opens a connection to a server in another datacenter through a mesh gateway: TCP to the gateway,
 * then mutual TLS with SNI `<node>.server.<dc>.<domain>` and exactly one ALPN protocol. The server's
 * certificate is verified against the CA and the SNI name; a peer that selects another protocol (or
 * none) is an error. Every failure path destroys the socket and clears every timer and listener.
 *
 * @returns the TLS socket, handshake complete, positioned at the first application byte.
 * @throws {InvalidArgumentError} bad gateway address, SNI parts or options (no socket is created)
 * @throws {AbortError} / {TimeoutError} the signal fired
 * @throws {ConnectTimeoutError} / {HandshakeTimeoutError} a phase ran out of time
 * @throws {SocketError} the TCP connection failed (`cause.code` e.g. `ECONNREFUSED`)
 * @throws {TlsError} the handshake failed (certificate, hostname, alert)
 * @throws {AlpnMismatchError} the peer did not select the requested protocol
 */
export function dialViaGateway(options: DialViaGatewayOptions): Promise<TLSSocket> {
  let p: Plan
  try {
    p = plan(options)
  } catch (err) {
    return Promise.reject(err)
  }
  const { signal, alpn, sessionCache } = options
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
    const session = sessionCache?.get(servername)
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
    // tls.connect passes allowHalfOpen to its socket; @types/node's ConnectionOptions lacks it.
    const socket = tlsConnect(connectOptions)
    socket.setNoDelay(true)
    socket.setKeepAlive(true)
    if (sessionCache !== undefined) {
      socket.on('session', (s: Buffer) => sessionCache.set(servername, s))
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

    const onAbort = () => fail(abortReason(signal as AbortSignal, what))
    const onError = (err: Error) =>
      fail(
        connected
          ? mapHandshakeError(err, what)
          : gatewayFault(
              new SocketError(`${what}: connect failed: ${err.message}`, { cause: err }),
            ),
      )
    const onClose = () => fail(new SocketError(`${what}: connection closed during TLS handshake`))

    const cleanup = () => {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      socket.off('connect', onConnect)
      socket.off('secureConnect', onSecure)
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
      if (sessionCache !== undefined && err instanceof TlsError) sessionCache.delete(servername)
      debug('%s failed: %s', what, err.message)
      if (channels.dialError.hasSubscribers)
        channels.dialError.publish({ gateway, sni: servername, alpn, error: err })
      reject(err)
    }

    function onConnect() {
      connected = true
      clock.clearTimeout(timer)
      timer = clock.setTimeout(
        () =>
          fail(
            new HandshakeTimeoutError(
              `${what}: TLS handshake timed out after ${p.handshakeTimeoutMs} ms`,
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
      settled = true
      cleanup()
      debug('%s connected (resumed=%s)', what, socket.isSessionReused())
      if (channels.dialConnected.hasSubscribers)
        channels.dialConnected.publish({ gateway, sni: servername, alpn, socket })
      resolve(socket)
    }

    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', onConnect)
    socket.once('secureConnect', onSecure)
    socket.on('error', onError)
    socket.once('close', onClose)
  })
}

function noop() {}

function gatewayFault<E extends Error>(err: E): E {
  unreachable.add(err)
  return err
}

/** Errors raised before the TCP connection to the gateway existed: the gateway is the one to blame. */
const unreachable = new WeakSet<Error>()

/**
 * True when a `dialViaGateway` failure happened before the TCP connection to the gateway was
 * established (refused, reset, timed out): the gateway itself is unreachable. Failures after it
 * (the far server refusing, a TLS or ALPN error, a dead node behind the gateway) are not the
 * gateway's, and a locator should not avoid it for them.
 */
export function isGatewayUnreachable(err: unknown): boolean {
  return err instanceof Error && unreachable.has(err)
}

function mapHandshakeError(err: Error, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return new AlpnMismatchError(`${what}: peer does not speak this protocol`, { cause: err })
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED') {
    return new SocketError(`${what}: connection reset during TLS handshake`, { cause: err })
  }
  return new TlsError(`${what}: TLS handshake failed: ${err.message}`, { cause: err })
}
