import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  connect as netConnect,
  type Socket,
} from 'node:net'
import { EventEmitter } from 'eventemitter3'
import { ConnectTimeoutError, InvalidArgumentError, SocketError } from '../errors.ts'
import { formatHostPort, parseHostPort } from '../internal/address.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { channels } from '../internal/diagnostics.ts'
import { ListenerLifecycle, type ListenOptions } from '../internal/listen.ts'
import type { GatewayLocator } from '../locator/types.ts'
import { parseClientHello } from './client-hello.ts'
import {
  checkDatacenter,
  matchSni,
  normalizeDomain,
  type RouteKind,
  type ServerRegistry,
  type ServerSource,
  type SniMatch,
  toServerRegistry,
} from './routes.ts'

/** Consul's `rpc_handshake_timeout`: how long a client has to send its whole ClientHello. */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000
/** Bytes buffered before the SNI is known. Real hellos are well under 2 KiB (post-quantum key shares included). */
export const DEFAULT_MAX_HELLO_BYTES = 16 * 1024
/** Consul's fixed TCP dial timeout. */
export const DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS = 10_000
/** A spliced connection with no byte either way for this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000
/** Distinct upstreams tried per connection before giving up. */
export const DEFAULT_MAX_CONNECT_ATTEMPTS = 3
/** Default bound on open client connections (the renderers' `maxconn` / `worker_connections`). */
export const DEFAULT_MAX_GATEWAY_CONNECTIONS = 4_096
/** How long `close()` lets spliced connections finish. */
export const DEFAULT_GATEWAY_CLOSE_GRACE_MS = 5_000

const TLS_HANDSHAKE_BYTE = 22

export interface MeshGatewayOptions {
  /** The gateway's own datacenter: `*.server.<datacenter>.<domain>` names are local. */
  datacenter: string
  /** Consul domain, default `consul`. */
  domain?: string
  /**
   * Local servers by node name (`host:port`): a record, a map, a lookup function, or a
   * {@link ServerRegistry} (whose `all()` serves `server.<dc>.<domain>`; a bare function has no
   * servers for that route). Records and maps are copied; registries and functions are asked live.
   */
  servers: ServerSource
  /** Where other datacenters' gateways are. Without it, remote names have no route. */
  locator?: GatewayLocator
  /** Time in ms from accept to a complete ClientHello. Default 5,000. */
  helloTimeoutMs?: number
  /** Bytes buffered before the SNI is known; a longer hello is refused. Default 16 KiB. */
  maxHelloBytes?: number
  /** TCP connect timeout in ms per upstream attempt. Default 10,000. */
  connectTimeoutMs?: number
  /** A spliced connection idle both ways this long (ms) is closed; 0 disables. Default 10 minutes. */
  idleTimeoutMs?: number
  /**
   * Open client connections allowed; 0 means no limit. Default 4,096, as the rendered HAProxy and
   * nginx configs: an unauthenticated client must not be able to exhaust file descriptors.
   */
  maxConnections?: number
  /** Distinct servers or gateways tried per connection before it is refused. Default 3. */
  maxConnectAttempts?: number
  /** Grace period in ms that `close()` gives spliced connections. Default 5,000. */
  closeGraceMs?: number
  /** @internal */
  clock?: Clock
}

/** Why a connection was closed before it was spliced. */
export type GatewayRejectReason =
  /** The ClientHello carries no server_name. */
  | 'no-sni'
  /** The SNI names no route: another domain, an unknown local node, a DC without gateways. */
  | 'unknown-route'
  /** The ClientHello was not complete within `helloTimeoutMs`. */
  | 'hello-timeout'
  /** The ClientHello would not fit in `maxHelloBytes`. */
  | 'hello-too-large'
  /** A TLS handshake record, but not a well-formed ClientHello. */
  | 'malformed'
  /** The first byte is not a TLS handshake record (another protocol, an SSLv2 hello). */
  | 'not-tls'
  /** `maxConnections` connections were already open. */
  | 'max-connections'
  /** Every upstream tried (up to `maxConnectAttempts`) failed to connect. */
  | 'upstream-failed'
  /** The client went away before its connection was spliced. */
  | 'client-closed'
  /** The gateway was closing. */
  | 'closing'

export interface GatewayRejectInfo {
  reason: GatewayRejectReason
  /** The client's address, `host:port`. */
  remote: string
  /** The SNI, once the ClientHello was parsed. */
  sni?: string
  error?: Error
}

export interface MeshGatewayEvents {
  /** A connection was closed before it was spliced. Counted in `stats().rejected` too. */
  rejected: (info: GatewayRejectInfo) => void
  /** A background failure: the listener, or a locator or registry that threw. */
  error: (err: Error) => void
  /** Emitted once, when the listener and every connection are closed. */
  close: () => void
}

/** Traffic of one route kind or one target. Bytes in flow client → upstream, bytes out the other way. */
export interface GatewayTrafficStats {
  /** Connections spliced. */
  connections: number
  /** Spliced connections open now. */
  active: number
  bytesIn: number
  bytesOut: number
  /** Upstream connect attempts that failed. */
  connectFailures: number
}

export interface MeshGatewayStats {
  status: MeshGateway['status']
  /** Connections accepted. */
  accepted: number
  /** Client connections open now, spliced or not. */
  open: number
  /** Connections still reading their ClientHello or connecting upstream. */
  pending: number
  /** By route kind. */
  routes: Record<RouteKind, GatewayTrafficStats>
  /** By target key (`<node>.server.<dc>.<domain>` or `server.<dc>.<domain>`). */
  targets: Record<string, GatewayTrafficStats & { kind: RouteKind }>
  /** Connections closed before they were spliced, by reason. */
  rejected: Record<GatewayRejectReason, number>
  /** Spliced connections closed by the idle timeout. */
  idleTimeouts: number
}

type Routed = Exclude<SniMatch, { kind: 'none' }>

interface Conn {
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
}

const REJECT_REASONS: readonly GatewayRejectReason[] = [
  'no-sni',
  'unknown-route',
  'hello-timeout',
  'hello-too-large',
  'malformed',
  'not-tls',
  'max-connections',
  'upstream-failed',
  'client-closed',
  'closing',
]

function emptyTraffic(): GatewayTrafficStats {
  return { connections: 0, active: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0 }
}

/**
 * A mesh gateway for WAN federation: it routes TLS connections on their SNI without terminating
 * TLS, as Consul's mesh gateways with `consul-wan-federation` meta do, so the TLS session (and its
 * ALPN) stays end to end between the dialing server and the destination server.
 *
 * - `<node>.server.<local>.<domain>` goes to that local server;
 * - `server.<local>.<domain>` goes to any local server, round-robin, failing over on connect errors;
 * - `server.<dc>.<domain>` and `*.server.<dc>.<domain>` go to a gateway of `dc` picked by the
 *   locator, failing over to another gateway when a connect fails (each result is reported back);
 * - anything else, no SNI, or bytes that are not a TLS ClientHello: closed and counted.
 *
 * The gateway buffers at most `maxHelloBytes` before the route is known, replays them upstream,
 * then splices both ways with backpressure, half-close in both directions and an idle timeout.
 *
 * @example
 * ```ts
 * const gateway = new MeshGateway({
 *   datacenter: 'dc1',
 *   servers: { bob: '10.0.1.10:8300' },
 *   locator: new StaticGatewayLocator({ dc2: ['10.0.2.1:8443'] }),
 * })
 * await gateway.listen({ host: '0.0.0.0', port: 8443 })
 * ```
 */
export class MeshGateway extends EventEmitter<MeshGatewayEvents> {
  readonly #net: NetServer
  readonly #life: ListenerLifecycle
  readonly #datacenter: string
  readonly #domain: string
  readonly #servers: ServerRegistry
  readonly #locator: GatewayLocator | undefined
  readonly #clock: Clock
  readonly #helloTimeoutMs: number
  readonly #maxHelloBytes: number
  readonly #connectTimeoutMs: number
  readonly #idleTimeoutMs: number
  readonly #maxConnections: number
  readonly #maxConnectAttempts: number
  readonly #closeGraceMs: number
  readonly #conns = new Set<Conn>()
  #closing: Promise<void> | undefined
  #onSettled: (() => void) | undefined
  #roundRobin = 0
  #accepted = 0
  #idleTimeouts = 0
  readonly #routes: Record<RouteKind, GatewayTrafficStats> = {
    'local-server': emptyTraffic(),
    'local-any': emptyTraffic(),
    'remote-dc': emptyTraffic(),
  }
  readonly #targets = new Map<string, GatewayTrafficStats & { kind: RouteKind }>()
  readonly #rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
    GatewayRejectReason,
    number
  >

  constructor(options: MeshGatewayOptions) {
    super()
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('MeshGateway needs options { datacenter, servers }')
    }
    this.#datacenter = checkDatacenter(options.datacenter, 'datacenter')
    if (options.domain !== undefined) checkDomain(options.domain)
    this.#domain = normalizeDomain(options.domain)
    if (options.servers === undefined) throw new InvalidArgumentError('servers is required')
    this.#servers = toServerRegistry(options.servers, 'servers')
    if (
      options.locator !== undefined &&
      (options.locator === null || typeof options.locator.pickGateway !== 'function')
    ) {
      throw new InvalidArgumentError('locator must have a pickGateway(dc) method')
    }
    this.#locator = options.locator
    this.#clock = options.clock ?? systemClock
    this.#helloTimeoutMs = checkNumber(
      options.helloTimeoutMs,
      DEFAULT_HELLO_TIMEOUT_MS,
      'helloTimeoutMs',
      { min: 1 },
    )
    this.#maxHelloBytes = checkNumber(
      options.maxHelloBytes,
      DEFAULT_MAX_HELLO_BYTES,
      'maxHelloBytes',
      // Below 64 bytes not even a minimal ClientHello with an SNI fits.
      { min: 64, max: 1024 * 1024, integer: true },
    )
    this.#connectTimeoutMs = checkNumber(
      options.connectTimeoutMs,
      DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
      'connectTimeoutMs',
      { min: 1 },
    )
    this.#idleTimeoutMs = checkNumber(
      options.idleTimeoutMs,
      DEFAULT_IDLE_TIMEOUT_MS,
      'idleTimeoutMs',
      { min: 0 },
    )
    this.#maxConnections = checkNumber(
      options.maxConnections,
      DEFAULT_MAX_GATEWAY_CONNECTIONS,
      'maxConnections',
      {
        min: 0,
        integer: true,
      },
    )
    this.#maxConnectAttempts = checkNumber(
      options.maxConnectAttempts,
      DEFAULT_MAX_CONNECT_ATTEMPTS,
      'maxConnectAttempts',
      { min: 1, max: 100, integer: true },
    )
    this.#closeGraceMs = checkNumber(
      options.closeGraceMs,
      DEFAULT_GATEWAY_CLOSE_GRACE_MS,
      'closeGraceMs',
      { min: 0 },
    )
    // allowHalfOpen: a client's FIN must travel upstream as a FIN, not close the connection.
    this.#net = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) =>
      this.#onConnection(socket),
    )
    this.#life = new ListenerLifecycle(
      this.#net,
      'MeshGateway',
      () => void this.close(),
      (err) => this.emit('error', err),
    )
  }

  /** `'idle'` before `listen()`, then `'listening'`, `'closing'` during `close()`, `'closed'`. */
  get status(): 'idle' | 'listening' | 'closing' | 'closed' {
    return this.#life.status
  }

  /** The gateway's datacenter, lowercased. */
  get datacenter(): string {
    return this.#datacenter
  }

  /** The Consul domain, lowercased, without a trailing dot. */
  get domain(): string {
    return this.#domain
  }

  /**
   * Starts listening. Resolves with the bound address (port 0 picks a free port). Aborting
   * `signal` later closes the gateway, as `close()` does.
   */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    return this.#life.listen(options)
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    return this.#life.address()
  }

  stats(): MeshGatewayStats {
    let pending = 0
    for (const c of this.#conns) if (c.phase === 'hello' || c.phase === 'connecting') pending++
    const routes = {} as Record<RouteKind, GatewayTrafficStats>
    for (const [kind, s] of Object.entries(this.#routes)) routes[kind as RouteKind] = { ...s }
    const targets: Record<string, GatewayTrafficStats & { kind: RouteKind }> = {}
    for (const [key, s] of this.#targets) targets[key] = { ...s }
    // Connections still spliced count what their sockets have carried so far.
    for (const c of this.#conns) {
      if (c.phase !== 'spliced' || c.route === undefined) continue
      const bytesIn = c.client.bytesRead
      const bytesOut = c.upstream?.bytesRead ?? 0
      for (const t of [routes[c.route.kind], targets[c.route.key]]) {
        if (t === undefined) continue
        t.bytesIn += bytesIn
        t.bytesOut += bytesOut
      }
    }
    return {
      status: this.#life.status,
      accepted: this.#accepted,
      open: this.#conns.size,
      pending,
      routes,
      targets,
      rejected: { ...this.#rejected },
      idleTimeouts: this.#idleTimeouts,
    }
  }

  /**
   * Stops accepting, drops connections that are not spliced yet, and gives spliced ones
   * `closeGraceMs` to finish before destroying them. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false)
    return this.#closing
  }

  /** Stops at once: every connection is destroyed. `err`, if given, is emitted as `error`. */
  destroy(err?: Error): void {
    for (const c of this.#conns) if (c.phase === 'spliced') this.#destroyBoth(c)
    this.#closing ??= this.#shutdown(true)
    if (err !== undefined) this.emit('error', err)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(abrupt: boolean): Promise<void> {
    const wasListening = this.#life.beginClose()
    for (const c of [...this.#conns]) {
      if (c.phase === 'hello' || c.phase === 'connecting') this.#reject(c, 'closing')
    }
    // The callback runs once every accepted socket has closed, which the code below ensures.
    const closed = wasListening
      ? new Promise<void>((resolve) => this.#net.close(() => resolve()))
      : Promise.resolve()
    if (!abrupt && this.#conns.size > 0) await this.#settle(this.#closeGraceMs)
    for (const c of this.#conns) this.#destroyBoth(c)
    // Destroyed sockets close within a tick or two; wait for both sides so stats end at zero.
    if (this.#conns.size > 0) await this.#settle(undefined)
    await closed
    this.#life.status = 'closed'
    this.emit('close')
  }

  /** Resolves when every connection has finished, or after `ms` when given. */
  #settle(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : this.#clock.setTimeout(() => finish(), ms)
      const finish = () => {
        if (timer !== undefined) this.#clock.clearTimeout(timer)
        this.#onSettled = undefined
        resolve()
      }
      this.#onSettled = finish
    })
  }

  #onConnection(client: Socket): void {
    const remote = formatHostPort(client.remoteAddress ?? '?', client.remotePort ?? 0)
    // Resets and the like are seen through 'close'; without a listener they would be thrown.
    client.on('error', (err) => debug('gateway client %s error: %s', remote, err.message))
    if (this.#life.status !== 'listening') {
      client.destroy()
      this.#count('closing', remote)
      return
    }
    this.#accepted++
    if (this.#maxConnections > 0 && this.#conns.size >= this.#maxConnections) {
      client.destroy()
      this.#count('max-connections', remote)
      return
    }
    const conn: Conn = {
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
    }
    this.#conns.add(conn)
    conn.timer = this.#clock.setTimeout(() => {
      conn.timer = undefined
      this.#reject(conn, 'hello-timeout')
    }, this.#helloTimeoutMs)

    const onData = (chunk: Buffer) => this.#onHelloData(conn, chunk, stop)
    const onEnd = () => this.#reject(conn, 'client-closed')
    const stop = () => {
      client.off('data', onData)
      client.off('end', onEnd)
    }
    client.on('data', onData)
    client.once('end', onEnd)
    client.once('close', () => {
      conn.clientClosed = true
      if (conn.phase === 'hello' || conn.phase === 'connecting') this.#reject(conn, 'client-closed')
      else if (conn.phase === 'spliced') this.#sideClosed(conn, client, conn.upstream)
    })
  }

  #onHelloData(conn: Conn, chunk: Buffer, stop: () => void): void {
    if (conn.phase !== 'hello') return
    if (conn.size === 0 && chunk[0] !== TLS_HANDSHAKE_BYTE) {
      stop()
      this.#reject(conn, 'not-tls')
      return
    }
    this.#append(conn, chunk)
    let result: ReturnType<typeof parseClientHello>
    try {
      result = parseClientHello(conn.buf.subarray(0, conn.size))
    } catch (err) {
      stop()
      this.#reject(conn, 'malformed', err as Error)
      return
    }
    if (result.status === 'incomplete') {
      // `need` is a lower bound, so this refuses a hello that cannot fit before it all arrives.
      if (conn.size + (result.need ?? 1) > this.#maxHelloBytes) {
        stop()
        this.#reject(conn, 'hello-too-large')
      }
      return
    }
    stop()
    if (result.bytes > this.#maxHelloBytes) {
      this.#reject(conn, 'hello-too-large')
      return
    }
    // Whatever arrives from now on stays in the socket until the splice starts reading.
    conn.client.pause()
    this.#clock.clearTimeout(conn.timer)
    conn.timer = undefined
    conn.sni = result.serverName
    const match = matchSni(result.serverName, {
      datacenter: this.#datacenter,
      domain: this.#domain,
    })
    if (match.kind === 'none') {
      this.#reject(conn, match.reason)
      return
    }
    conn.route = match
    conn.phase = 'connecting'
    this.#connect(conn, match).catch((err: unknown) => {
      // Only a bug gets here; the connection must still be released.
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
      this.#reject(conn, 'upstream-failed', err instanceof Error ? err : undefined)
    })
  }

  /** Appends to the connection's buffer, doubling it, so a trickled hello costs linear copying. */
  #append(conn: Conn, chunk: Buffer): void {
    const needed = conn.size + chunk.length
    if (needed > conn.buf.length) {
      // One chunk may carry the hello and more (TLS 1.3 early data): keep all of it.
      const grown = Buffer.allocUnsafe(Math.max(needed, conn.buf.length * 2))
      conn.buf.copy(grown, 0, 0, conn.size)
      conn.buf = grown
    }
    chunk.copy(conn.buf, conn.size)
    conn.size = needed
  }

  async #connect(conn: Conn, route: Routed): Promise<void> {
    const candidates = this.#candidates(conn, route)
    if (candidates === undefined) return
    let lastError: Error | undefined
    let attempts = 0
    for (const address of candidates) {
      if (conn.phase !== 'connecting') return
      attempts++
      let upstream: Socket
      try {
        upstream = await this.#dial(conn, address)
      } catch (err) {
        // A failure caused by the client leaving or by close() says nothing about the upstream.
        if (conn.phase !== 'connecting') return
        lastError = err as Error
        this.#connectFailed(conn, route, address, lastError)
        continue
      }
      if (conn.phase !== 'connecting') {
        upstream.destroy()
        return
      }
      if (route.kind === 'remote-dc') this.#report('reportSuccess', route.datacenter, address)
      this.#splice(conn, route, upstream, address)
      return
    }
    if (conn.phase !== 'connecting') return
    if (attempts === 0) this.#reject(conn, 'unknown-route')
    else this.#reject(conn, 'upstream-failed', lastError)
  }

  /**
   * The upstream addresses to try, lazily (each remote pick happens after the previous failure
   * was reported, so the locator can steer away from it). Undefined when the lookup threw.
   */
  #candidates(conn: Conn, route: Routed): Iterable<string> | undefined {
    const max = this.#maxConnectAttempts
    try {
      if (route.kind === 'local-server') {
        const address = this.#servers.lookup(route.node)
        return address === undefined ? [] : [address]
      }
      if (route.kind === 'local-any') {
        const all = [...new Set(this.#servers.all())]
        const start = this.#roundRobin++ % Math.max(1, all.length)
        if (this.#roundRobin >= Number.MAX_SAFE_INTEGER) this.#roundRobin = 0
        const order = [...all.slice(start), ...all.slice(0, start)]
        return order.slice(0, max)
      }
    } catch (err) {
      this.#lookupThrew(conn, err)
      return undefined
    }
    return this.#remoteCandidates(conn, route.datacenter, max)
  }

  *#remoteCandidates(conn: Conn, datacenter: string, max: number): Generator<string> {
    const locator = this.#locator
    if (locator === undefined) return
    const tried = new Set<string>()
    // A locator may hand back a gateway already tried; a few extra picks look for another.
    for (let picks = 0; picks < max * 3 && tried.size < max; picks++) {
      let gateway: string | undefined
      try {
        gateway = locator.pickGateway(datacenter)
      } catch (err) {
        this.#lookupThrew(conn, err)
        return
      }
      if (gateway === undefined) return
      if (tried.has(gateway)) continue
      tried.add(gateway)
      yield gateway
    }
  }

  #lookupThrew(conn: Conn, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.emit('error', error)
    this.#reject(conn, 'upstream-failed', error)
  }

  /** One TCP connect upstream; the attempt is `conn.upstream` so a reject can cancel it. */
  #dial(conn: Conn, address: string): Promise<Socket> {
    const { host, port } = parseHostPort(address, 'upstream address')
    return new Promise((resolve, reject) => {
      // allowHalfOpen: the server's FIN must reach the client as a FIN, not close both ways.
      const socket = netConnect({ host, port, noDelay: true, keepAlive: true, allowHalfOpen: true })
      conn.upstream = socket
      socket.on('error', (err) =>
        debug('gateway upstream %s error: %s', address, (err as Error).message),
      )
      const timer = this.#clock.setTimeout(
        () =>
          done(
            new ConnectTimeoutError(
              `connect to ${address} timed out after ${this.#connectTimeoutMs} ms`,
            ),
          ),
        this.#connectTimeoutMs,
      )
      const onConnect = () => done()
      const onError = (err: Error) =>
        done(new SocketError(`connect to ${address} failed: ${err.message}`, { cause: err }))
      const onClose = () => done(new SocketError(`connect to ${address} was cancelled`))
      const done = (err?: Error) => {
        this.#clock.clearTimeout(timer)
        socket.off('connect', onConnect)
        socket.off('error', onError)
        socket.off('close', onClose)
        if (err === undefined) {
          resolve(socket)
          return
        }
        if (conn.upstream === socket) conn.upstream = undefined
        socket.destroy()
        reject(err)
      }
      socket.once('connect', onConnect)
      socket.once('error', onError)
      socket.once('close', onClose)
    })
  }

  #connectFailed(conn: Conn, route: Routed, address: string, err: Error): void {
    this.#routes[route.kind].connectFailures++
    this.#target(route).connectFailures++
    debug('gateway route %s: connect to %s failed: %s', route.key, address, err.message)
    if (channels.gatewayUpstreamError.hasSubscribers) {
      channels.gatewayUpstreamError.publish({
        sni: conn.sni,
        kind: route.kind,
        key: route.key,
        upstream: address,
        error: err,
      })
    }
    if (route.kind === 'remote-dc') this.#report('reportFailure', route.datacenter, address, err)
  }

  #report(
    method: 'reportFailure' | 'reportSuccess',
    datacenter: string,
    gateway: string,
    err?: Error,
  ): void {
    try {
      if (method === 'reportFailure') {
        this.#locator?.reportFailure?.(datacenter, gateway, err as Error)
      } else {
        this.#locator?.reportSuccess?.(datacenter, gateway)
      }
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)))
    }
  }

  #target(route: Routed): GatewayTrafficStats & { kind: RouteKind } {
    let t = this.#targets.get(route.key)
    if (t === undefined) {
      t = { kind: route.kind, ...emptyTraffic() }
      this.#targets.set(route.key, t)
    }
    return t
  }

  #splice(conn: Conn, route: Routed, upstream: Socket, address: string): void {
    const { client } = conn
    conn.phase = 'spliced'
    conn.upstream = upstream
    conn.upstreamAddr = address
    const kindStats = this.#routes[route.kind]
    const targetStats = this.#target(route)
    kindStats.connections++
    kindStats.active++
    targetStats.connections++
    targetStats.active++

    const hello = conn.buf.subarray(0, conn.size)
    conn.buf = Buffer.alloc(0)
    conn.size = 0
    upstream.write(hello)

    upstream.once('close', () => {
      conn.upstreamClosed = true
      this.#sideClosed(conn, upstream, client)
    })
    // pipe() carries backpressure and turns one side's FIN into end() on the other. Bytes are
    // counted by the sockets themselves (bytesRead), not by a listener per chunk: the splice is
    // the hot path and a JavaScript callback per chunk each way costs throughput.
    client.pipe(upstream)
    upstream.pipe(client)
    // Every byte either way is read from or written to the client socket, so its own idle timer
    // (refreshed natively on each read and write) is the connection's.
    if (this.#idleTimeoutMs > 0) {
      client.setTimeout(this.#idleTimeoutMs, () => {
        if (conn.phase !== 'spliced') return
        this.#idleTimeouts++
        conn.endReason = 'idle-timeout'
        debug(
          'gateway %s sni=%s idle for %d ms: closing',
          conn.remote,
          conn.sni,
          this.#idleTimeoutMs,
        )
        this.#destroyBoth(conn)
      })
    }

    debug(
      'gateway %s sni=%s -> %s (%s) via %s',
      conn.remote,
      conn.sni,
      route.key,
      route.kind,
      address,
    )
    if (channels.gatewaySpliced.hasSubscribers) {
      channels.gatewaySpliced.publish({
        remote: conn.remote,
        sni: conn.sni,
        kind: route.kind,
        key: route.key,
        upstream: address,
      })
    }
  }

  /**
   * One side of a spliced connection closed. After a clean end both ways the other side closes on
   * its own once its writes are flushed; after an error or a reset it is destroyed now.
   */
  #sideClosed(conn: Conn, side: Socket, other: Socket | undefined): void {
    const clean = !side.errored && side.readableEnded && side.writableFinished
    if (!clean) {
      if (conn.endReason === 'closed') conn.endReason = 'reset'
      other?.destroy()
    }
    if (conn.clientClosed && conn.upstreamClosed) this.#finish(conn)
  }

  #destroyBoth(conn: Conn): void {
    conn.client.destroy()
    conn.upstream?.destroy()
  }

  #finish(conn: Conn): void {
    if (conn.phase === 'done') return
    const route = conn.route as Routed
    conn.phase = 'done'
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer)
    conn.timer = undefined
    this.#conns.delete(conn)
    conn.bytesIn = conn.client.bytesRead
    conn.bytesOut = conn.upstream?.bytesRead ?? 0
    for (const stats of [this.#routes[route.kind], this.#target(route)]) {
      stats.active--
      stats.bytesIn += conn.bytesIn
      stats.bytesOut += conn.bytesOut
    }
    debug(
      'gateway %s sni=%s closed (%s): %d bytes in, %d out',
      conn.remote,
      conn.sni,
      conn.endReason,
      conn.bytesIn,
      conn.bytesOut,
    )
    if (channels.gatewayClosed.hasSubscribers) {
      channels.gatewayClosed.publish({
        remote: conn.remote,
        sni: conn.sni,
        kind: route.kind,
        key: route.key,
        upstream: conn.upstreamAddr,
        bytesIn: conn.bytesIn,
        bytesOut: conn.bytesOut,
        reason: conn.endReason,
      })
    }
    if (this.#conns.size === 0) this.#onSettled?.()
  }

  #reject(conn: Conn, reason: GatewayRejectReason, error?: Error): void {
    if (conn.phase === 'done' || conn.phase === 'spliced') return
    conn.phase = 'done'
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer)
    conn.timer = undefined
    this.#conns.delete(conn)
    conn.upstream?.destroy()
    conn.client.destroy()
    this.#count(reason, conn.remote, conn.sni, error)
    if (this.#conns.size === 0) this.#onSettled?.()
  }

  #count(reason: GatewayRejectReason, remote: string, sni?: string, error?: Error): void {
    this.#rejected[reason]++
    debug(
      'gateway rejected %s sni=%s: %s%s',
      remote,
      sni,
      reason,
      error ? ` (${error.message})` : '',
    )
    const info: GatewayRejectInfo = { reason, remote }
    if (sni !== undefined) info.sni = sni
    if (error !== undefined) info.error = error
    if (channels.gatewayRejected.hasSubscribers) channels.gatewayRejected.publish(info)
    this.emit('rejected', info)
  }
}

const DOMAIN_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

function checkDomain(domain: unknown): void {
  const d = typeof domain === 'string' && domain.endsWith('.') ? domain.slice(0, -1) : domain
  if (typeof d !== 'string' || d === '' || !d.split('.').every((l) => DOMAIN_LABEL.test(l))) {
    throw new InvalidArgumentError(`domain must be a DNS name, got ${JSON.stringify(domain)}`)
  }
}

function checkNumber(
  value: number | undefined,
  fallback: number,
  name: string,
  rule: { min: number; max?: number; integer?: boolean },
): number {
  if (value === undefined) return fallback
  const max = rule.max ?? Number.MAX_SAFE_INTEGER
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < rule.min ||
    value > max ||
    (rule.integer === true && !Number.isInteger(value))
  ) {
    throw new InvalidArgumentError(
      `${name} must be ${rule.integer ? 'an integer' : 'a number'} in ${rule.min}..${rule.max ?? '∞'}, got ${value}`,
    )
  }
  return value
}
