import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'
import { debug } from '../internal/debug.ts'
import { ListenerLifecycle, type ListenOptions } from '../internal/listen.ts'
import { AdminEndpoint, type AdminEndpointOptions } from './endpoint.ts'

/** Connections the admin server keeps open at once; more are refused by the kernel backlog. */
export const DEFAULT_ADMIN_MAX_CONNECTIONS = 64
/** Time a client has to send its request headers. */
export const DEFAULT_ADMIN_HEADERS_TIMEOUT_MS = 10_000
/** Time a client has to send its whole request (there is no body). */
export const DEFAULT_ADMIN_REQUEST_TIMEOUT_MS = 15_000
/** An idle keep-alive connection is closed after this long. */
export const DEFAULT_ADMIN_KEEP_ALIVE_TIMEOUT_MS = 5_000
/** Largest request head accepted; a request line and a few headers fit many times over. */
export const DEFAULT_ADMIN_MAX_HEADER_BYTES = 8_192

export interface AdminServerOptions extends AdminEndpointOptions {
  /** See {@link DEFAULT_ADMIN_MAX_CONNECTIONS}. */
  maxConnections?: number
  /** See {@link DEFAULT_ADMIN_HEADERS_TIMEOUT_MS}. */
  headersTimeoutMs?: number
  /** See {@link DEFAULT_ADMIN_REQUEST_TIMEOUT_MS}. */
  requestTimeoutMs?: number
  /** See {@link DEFAULT_ADMIN_KEEP_ALIVE_TIMEOUT_MS}. */
  keepAliveTimeoutMs?: number
  /** See {@link DEFAULT_ADMIN_MAX_HEADER_BYTES}. */
  maxHeaderBytes?: number
}

/**
 * An HTTP server of its own for an {@link AdminEndpoint}. Opt-in and loopback by default:
 * `listen()` binds `127.0.0.1` unless told otherwise. Requests are bounded (a few KiB of headers,
 * no body, timeouts for slow clients, a connection limit); `close()` ends blocking queries,
 * closes every connection and releases the port.
 *
 * @example
 * ```ts
 * const admin = createAdminServer({ datacenter: 'dc1', federationStates: store })
 * admin.endpoint.register({ gateways: { main: gateway } })
 * await admin.listen({ port: 8501 })
 * // curl http://127.0.0.1:8501/metrics
 * await admin.close()
 * ```
 */
export class AdminServer {
  /** The request handling, where components are registered. */
  readonly endpoint: AdminEndpoint
  readonly #http: Server
  readonly #life: ListenerLifecycle
  readonly #sockets = new Set<Socket>()
  #closing: Promise<void> | undefined

  constructor(options: AdminServerOptions = {}) {
    this.endpoint = new AdminEndpoint(options)
    const maxConnections = positiveInt(
      options.maxConnections,
      DEFAULT_ADMIN_MAX_CONNECTIONS,
      'maxConnections',
    )
    const headersTimeout = positiveInt(
      options.headersTimeoutMs,
      DEFAULT_ADMIN_HEADERS_TIMEOUT_MS,
      'headersTimeoutMs',
    )
    const requestTimeout = positiveInt(
      options.requestTimeoutMs,
      DEFAULT_ADMIN_REQUEST_TIMEOUT_MS,
      'requestTimeoutMs',
    )
    if (requestTimeout < headersTimeout)
      throw new InvalidArgumentError('requestTimeoutMs must be at least headersTimeoutMs')
    const maxHeaderSize = positiveInt(
      options.maxHeaderBytes,
      DEFAULT_ADMIN_MAX_HEADER_BYTES,
      'maxHeaderBytes',
    )
    this.#http = createServer(
      {
        maxHeaderSize,
        headersTimeout,
        requestTimeout,
        keepAliveTimeout: positiveInt(
          options.keepAliveTimeoutMs,
          DEFAULT_ADMIN_KEEP_ALIVE_TIMEOUT_MS,
          'keepAliveTimeoutMs',
        ),
        // Node checks the request timers this often; the default (30 s) would stretch short timeouts.
        connectionsCheckingInterval: Math.min(1_000, headersTimeout),
      },
      this.endpoint.listener,
    )
    this.#http.maxConnections = maxConnections
    this.#http.on('connection', (socket: Socket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
    })
    this.#http.on('clientError', (err: Error, socket: Socket) => {
      debug('admin client error: %s', err.message)
      // Node answers 400/408/431 itself only without a listener; keep its answers, then close.
      const code = (err as { code?: string }).code
      const status =
        code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request'
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`)
      else socket.destroy()
    })
    this.#life = new ListenerLifecycle(
      this.#http,
      'AdminServer',
      () => void this.close(),
      (err) => debug('admin server error: %s', err.message),
    )
  }

  get status(): 'idle' | 'listening' | 'closing' | 'closed' {
    return this.#life.status
  }

  /** Binds (default `127.0.0.1`, port 0 for a free one) and resolves with the address. */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    return this.#life.listen(options)
  }

  address(): AddressInfo | undefined {
    return this.#life.address()
  }

  /** Ends blocking queries, closes every connection and the listener. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(): Promise<void> {
    const wasListening = this.#life.beginClose()
    await this.endpoint.close()
    const closed = wasListening
      ? new Promise<void>((resolve) => this.#http.close(() => resolve()))
      : Promise.resolve()
    // Answers to the blocking queries just ended are written; idle keep-alive sockets go now,
    // the rest once their answer is out.
    this.#http.closeIdleConnections()
    const waiting = [...this.#sockets].map(
      (s) =>
        new Promise<void>((resolve) =>
          s.destroyed ? resolve() : s.once('close', () => resolve()),
        ),
    )
    for (const s of this.#sockets) s.end()
    const timer = setTimeout(() => {
      for (const s of this.#sockets) s.destroy()
    }, 1_000)
    timer.unref()
    await Promise.all([closed, ...waiting])
    clearTimeout(timer)
    this.#life.status = 'closed'
  }
}

/** Creates an {@link AdminServer}; call `listen()` to serve. */
export function createAdminServer(options: AdminServerOptions = {}): AdminServer {
  return new AdminServer(options)
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1)
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`)
  return value
}
