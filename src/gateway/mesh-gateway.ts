import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net'
import { EventEmitter } from 'eventemitter3'
import { SocketError } from '../errors.ts'
import { formatHostPort } from '../internal/address.ts'
import { debug } from '../internal/debug.ts'
import { channels } from '../internal/diagnostics.ts'
import { drain, OpenSet } from '../internal/drain.ts'
import { ListenerLifecycle, type ListenOptions } from '../internal/listen.ts'
import { type GatewayConn, newConn, type Routed } from './connection.ts'
import { type HelloOutcome, readHello } from './hello-reader.ts'
import {
  type MeshGatewayOptions,
  type ResolvedGatewayOptions,
  resolveGatewayOptions,
} from './options.ts'
import { matchSni } from './routes.ts'
import { destroyBoth, endWhenQuiet, sideClosed, splice } from './splice.ts'
import {
  type CountedSplice,
  GatewayCounters,
  type GatewayRejectReason,
  type MeshGatewayStats,
} from './stats.ts'
import { UpstreamConnector, type UpstreamResult } from './upstream.ts'
import { type StalledSide, WriteStallWatch } from './write-stall.ts'

export {
  DEFAULT_ANSWER_TIMEOUT_MS,
  DEFAULT_CLOSE_QUIET_MS,
  DEFAULT_GATEWAY_CLOSE_GRACE_MS,
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECT_ATTEMPTS,
  DEFAULT_MAX_GATEWAY_CONNECTIONS,
  DEFAULT_MAX_HELLO_BYTES,
  DEFAULT_WRITE_STALL_TIMEOUT_MS,
  type MeshGatewayOptions,
} from './options.ts'
export type {
  GatewayRejectReason,
  GatewayTrafficStats,
  MeshGatewayStats,
} from './stats.ts'

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

/**
 * Plaintext TLS alerts (fatal, record version TLS 1.2) sent in place of a ServerHello when the
 * gateway read a ClientHello and cannot route it: `unrecognized_name` (112) for a name it has no
 * route for, `internal_error` (80) when every upstream failed. Nothing else is ever written to a
 * client: after the hello, bytes are only spliced.
 */
const ALERT_FOR: Partial<Record<GatewayRejectReason, Buffer>> = {
  'unknown-route': Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112]),
  'upstream-failed': Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 80]),
}

/**
 * A mesh gateway for WAN federation: it routes TLS connections on their SNI without terminating
 * TLS, as Consul's mesh gateways with `consul-wan-federation` meta do, so the TLS session (and its
 * ALPN) stays end to end between the dialing server and the destination server.
 *
 * - `<node>.server.<local>.<domain>` goes to that local server;
 * - `server.<local>.<domain>` goes to any local server, round-robin, failing over on connect errors;
 * - `server.<dc>.<domain>` and `*.server.<dc>.<domain>` go to a gateway of `dc` picked by the
 *   locator, failing over to another gateway when one refuses, times out or never answers (each
 *   result is reported back; a gateway counts as healthy once it has sent its first byte back);
 * - anything else, no SNI, or bytes that are not a TLS ClientHello: closed and counted.
 *
 * The gateway buffers at most `maxHelloBytes` before the route is known, replays them upstream,
 * then splices both ways with backpressure, half-close in both directions and an idle timeout.
 *
 * Closing order: close the transports whose connections pass through a gateway (and their
 * `AlpnServer`s) before the gateway, so their pooled connections and streams end on their own and
 * the gateway's `close()` finds nothing open. Closed the other way round, `close()` still finishes
 * promptly: splices quiet both ways for `closeQuietMs` are ended at once, and only connections
 * with bytes in flight get up to `closeGraceMs`.
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
  readonly #o: ResolvedGatewayOptions
  readonly #upstream: UpstreamConnector
  readonly #conns = new OpenSet<GatewayConn>()
  readonly #counters = new GatewayCounters()
  readonly #stalls: WriteStallWatch
  #closing: Promise<void> | undefined

  constructor(options: MeshGatewayOptions) {
    super()
    this.#o = resolveGatewayOptions(options)
    this.#upstream = new UpstreamConnector(this.#o, {
      attemptFailed: (conn, route, address, err) => this.#attemptFailed(conn, route, address, err),
      error: (err) => this.emit('error', err),
    })
    this.#stalls = new WriteStallWatch(this.#o.clock, this.#o.writeStallTimeoutMs, (conn, side) =>
      this.#writeStalled(conn, side),
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
    return this.#o.datacenter
  }

  /** The Consul domain, lowercased, without a trailing dot. */
  get domain(): string {
    return this.#o.domain
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
    const open: CountedSplice[] = []
    for (const c of this.#conns) {
      if (c.phase === 'hello' || c.phase === 'connecting') pending++
      // Connections still spliced count what their sockets have carried so far.
      if (c.phase !== 'spliced' || c.route === undefined) continue
      open.push({
        kind: c.route.kind,
        key: c.route.key,
        bytesIn: c.client.bytesRead,
        bytesOut: c.upstream?.bytesRead ?? 0,
      })
    }
    return this.#counters.snapshot(
      { status: this.#life.status, open: this.#conns.size, pending },
      open,
    )
  }

  /**
   * Stops accepting, drops connections that are not spliced yet, ends spliced ones as soon as
   * they are quiet both ways for `closeQuietMs`, and gives the rest (bytes in flight)
   * `closeGraceMs` to finish before destroying them. Idempotent.
   *
   * Close the transports that send through this gateway first (see the class notes); then this
   * resolves at once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false)
    return this.#closing
  }

  /** Stops at once: every connection is destroyed. `err`, if given, is emitted as `error`. */
  destroy(err?: Error): void {
    for (const c of this.#conns) if (c.phase === 'spliced') destroyBoth(c)
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
    const quietMs = this.#o.closeQuietMs
    await drain({
      open: this.#conns,
      graceMs: this.#o.closeGraceMs,
      clock: this.#o.clock,
      abrupt,
      // The callback runs once every accepted socket has closed, which the drain ensures.
      stopAccepting: () =>
        wasListening
          ? new Promise<void>((resolve) => this.#net.close(() => resolve()))
          : Promise.resolve(),
      ...(quietMs > 0 ? { begin: (c: GatewayConn) => endWhenQuiet(c, quietMs) } : {}),
      // Destroyed sockets close within a tick or two; the drain waits for both sides so stats end at zero.
      destroy: destroyBoth,
    })
    this.#stalls.stop()
    this.#life.status = 'closed'
    this.emit('close')
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
    this.#counters.accepted++
    const max = this.#o.maxConnections
    if (max > 0 && this.#conns.size >= max) {
      client.destroy()
      this.#count('max-connections', remote)
      return
    }
    const conn = newConn(client, remote)
    this.#conns.add(conn)
    readHello(conn, this.#o, (outcome) => this.#onHello(conn, outcome))
    client.once('close', () => {
      conn.clientClosed = true
      if (conn.phase === 'hello' || conn.phase === 'connecting') this.#reject(conn, 'client-closed')
      else if (conn.phase === 'spliced' && sideClosed(conn, client, conn.upstream)) {
        this.#finish(conn)
      }
    })
  }

  #onHello(conn: GatewayConn, outcome: HelloOutcome): void {
    if (!outcome.ok) {
      this.#reject(conn, outcome.reason, outcome.error)
      return
    }
    conn.sni = outcome.serverName
    const match = matchSni(outcome.serverName, {
      datacenter: this.#o.datacenter,
      domain: this.#o.domain,
    })
    if (match.kind === 'none') {
      this.#reject(conn, match.reason)
      return
    }
    conn.route = match
    conn.phase = 'connecting'
    this.#upstream.connect(conn, match).then(
      (result) => this.#connected(conn, match, result),
      (err: unknown) => {
        // Only a bug gets here; the connection must still be released.
        this.emit('error', err instanceof Error ? err : new Error(String(err)))
        this.#reject(conn, 'upstream-failed', err instanceof Error ? err : undefined)
      },
    )
  }

  #connected(conn: GatewayConn, route: Routed, result: UpstreamResult | undefined): void {
    if (result === undefined || conn.phase !== 'connecting') {
      if (result?.ok === true) result.socket.destroy()
      return
    }
    if (!result.ok) {
      this.#reject(conn, result.reason, result.error)
      return
    }
    const { socket: upstream, address } = result
    conn.upstreamAddr = address
    this.#counters.spliced(route.kind, route.key)
    splice(conn, upstream, {
      idleTimeoutMs: this.#o.idleTimeoutMs,
      answer: result.answer,
      onIdle: () => {
        this.#counters.idleTimeouts++
        debug(
          'gateway %s sni=%s idle for %d ms: closing',
          conn.remote,
          conn.sni,
          this.#o.idleTimeoutMs,
        )
      },
      onUpstreamClosed: () => {
        if (sideClosed(conn, upstream, conn.client)) this.#finish(conn)
      },
    })
    this.#stalls.add(conn)
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

  #attemptFailed(conn: GatewayConn, route: Routed, address: string, err: Error): void {
    this.#counters.connectFailed(route.kind, route.key)
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
  }

  /**
   * Bytes towards one side stopped moving: the connection is cut, so the node's pooled connection
   * ends and its pool redials (a black-holed remote gateway, reported failed here, is then
   * avoided by the redial's pick).
   */
  #writeStalled(conn: GatewayConn, side: StalledSide): void {
    const route = conn.route as Routed
    this.#counters.writeStalls++
    conn.endReason = 'write-stalled'
    const peer = side === 'upstream' ? conn.upstreamAddr : conn.remote
    const err = new SocketError(
      `gateway sni=${conn.sni}: writes to ${side} ${peer} made no progress for ${this.#o.writeStallTimeoutMs} ms`,
    )
    debug('%s: closing', err.message)
    if (side === 'upstream' && route.kind === 'remote-dc') {
      this.#upstream.reportFailure(route.datacenter, conn.upstreamAddr, err)
    }
    destroyBoth(conn)
  }

  #finish(conn: GatewayConn): void {
    if (conn.phase === 'done') return
    const route = conn.route as Routed
    this.#stalls.delete(conn)
    conn.phase = 'done'
    if (conn.timer !== undefined) this.#o.clock.clearTimeout(conn.timer)
    conn.timer = undefined
    conn.bytesIn = conn.client.bytesRead
    conn.bytesOut = conn.upstream?.bytesRead ?? 0
    this.#counters.ended({
      kind: route.kind,
      key: route.key,
      bytesIn: conn.bytesIn,
      bytesOut: conn.bytesOut,
    })
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
    // Last: deleting the last connection wakes a drain waiting in close().
    this.#conns.delete(conn)
  }

  #reject(conn: GatewayConn, reason: GatewayRejectReason, error?: Error): void {
    if (conn.phase === 'done' || conn.phase === 'spliced') return
    conn.phase = 'done'
    if (conn.timer !== undefined) this.#o.clock.clearTimeout(conn.timer)
    conn.timer = undefined
    conn.upstream?.destroy()
    const alert = ALERT_FOR[reason]
    if (alert !== undefined && !conn.clientClosed) {
      // The client's dialer blames the gateway for a handshake closed with no byte (a wedged
      // gateway looks exactly so). A gateway that did read the hello says why it gives up, so a
      // dead far node or an unknown route is not held against a gateway that is working.
      conn.client.end(alert, () => conn.client.destroy())
    } else {
      conn.client.destroy()
    }
    this.#count(reason, conn.remote, conn.sni, error)
    this.#conns.delete(conn)
  }

  #count(reason: GatewayRejectReason, remote: string, sni?: string, error?: Error): void {
    this.#counters.rejected(reason)
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
