import type { TLSSocket } from 'node:tls'
import { ClosedError, InvalidArgumentError, SocketError } from '../errors.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'

/** Consul's `GossipPacketMaxIdleTime`: pooled packet connections unused this long are closed. */
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 120_000
/** Consul's reaper interval. */
export const DEFAULT_POOL_REAP_INTERVAL_MS = 1_000

export interface PacketPoolOptions {
  /** Connections per destination node. Consul's pool has no bound. Default 2. */
  maxConnsPerNode?: number
  /** A connection not written to for this long is closed. Default 120,000 ms (Consul's). */
  idleTimeoutMs?: number
  /** How often idle connections are looked for. Default 1,000 ms. */
  reapIntervalMs?: number
  /**
   * Bytes queued on a connection above which it counts as congested: a packet for it is dropped and
   * counted rather than buffered. Default 1 MiB.
   */
  writeHighWaterMark?: number
  /** Packets allowed to wait for a connection being dialled, per node; more are dropped. Default 256. */
  maxPendingPerNode?: number
  /**
   * A connection that stays congested (its peer stopped reading) this long without draining is
   * closed, so a stuck peer cannot hold a pool slot for ever. Default 10,000 ms.
   */
  congestionTimeoutMs?: number
}

/** A pooled connection: the socket and the gateway it was dialled through. */
export interface PooledConnection {
  socket: TLSSocket
  gateway: string
}

export interface PacketPoolStats {
  /** Open connections. */
  open: number
  /** Open connections with nothing queued to write. */
  idle: number
  /** Destinations with at least one connection or a dial in flight. */
  nodes: number
  dials: number
  dialFailures: number
  writeFailures: number
  /** Packets dropped because every connection was congested or too many waited for a dial. */
  dropped: number
  /** Connections closed by the idle reaper. */
  reaped: number
  /** Connections closed because they stayed congested past `congestionTimeoutMs`. */
  stalled: number
  /** Connections the peer closed within a second of the handshake (a certificate it refuses, say). */
  closedEarly: number
}

export type SendOutcome = 'sent' | 'dropped'

/** Dials a new connection for a node key. */
export type PoolDialer = (key: string) => Promise<PooledConnection>

interface Conn extends PooledConnection {
  lastUsed: number
  openedAt: number
  failed: boolean
  /** When the connection was first found congested since it last drained. */
  congestedSince: number | undefined
}

/** Hooks the pool's owner gets. */
export interface PoolEvents {
  /** A connection failed (write error, reset). */
  onConnectionError(conn: PooledConnection, key: string, err: Error): void
  /**
   * The peer closed several connections in a row right after their handshakes: with TLS 1.3 the
   * dialler finishes before the server has checked its certificate, so this is how a server that
   * refuses us shows.
   */
  onRejectedAfterHandshake(key: string, gateway: string, times: number): void
}

/** A connection closed by its peer sooner than this after opening counts as an early close. */
const EARLY_CLOSE_MS = 1_000
/** Early closes in a row before the owner hears of it. */
const EARLY_CLOSES_REPORTED = 3

interface Slot {
  /** Most recently used last. */
  conns: Conn[]
  dialing: Promise<Conn> | undefined
  waiting: number
}

/**
 * Pooled TLS connections for cross-DC packets, keyed by the full node name (`bob.dc2`), as Consul's
 * `connPool`. Differences, each on purpose: a frame is one `write`, so packets share a connection
 * instead of checking it out; connections per node are bounded; a congested connection drops the
 * packet (as UDP would) instead of buffering without bound; concurrent sends wait for one dial
 * instead of each dialling.
 * @internal
 */
export class PacketPool {
  readonly #slots = new Map<string, Slot>()
  readonly #dial: PoolDialer
  readonly #events: PoolEvents
  readonly #congestionTimeoutMs: number
  readonly #clock: Clock
  readonly #maxConns: number
  readonly #idleTimeoutMs: number
  readonly #hwm: number
  readonly #maxPending: number
  readonly #reapMs: number
  /** Runs only while the pool holds connections, so an idle pool costs no timer. */
  #reaper: TimerHandle | undefined
  /** Reaped connections still finishing their close handshake. */
  readonly #ending = new Set<TLSSocket>()
  /** Early closes in a row, by node; outlives the node's slot, which goes when it has no connection. */
  readonly #earlyCloses = new Map<string, number>()
  #closed = false
  readonly #counters = {
    dials: 0,
    dialFailures: 0,
    writeFailures: 0,
    dropped: 0,
    reaped: 0,
    stalled: 0,
    closedEarly: 0,
  }

  constructor(
    dial: PoolDialer,
    events: PoolEvents,
    options: PacketPoolOptions = {},
    clock: Clock = systemClock,
  ) {
    this.#dial = dial
    this.#events = events
    this.#clock = clock
    this.#maxConns = int(options.maxConnsPerNode, 2, 1, 'pool.maxConnsPerNode')
    this.#idleTimeoutMs = int(
      options.idleTimeoutMs,
      DEFAULT_POOL_IDLE_TIMEOUT_MS,
      1,
      'pool.idleTimeoutMs',
    )
    this.#hwm = int(options.writeHighWaterMark, 1024 * 1024, 1, 'pool.writeHighWaterMark')
    this.#maxPending = int(options.maxPendingPerNode, 256, 0, 'pool.maxPendingPerNode')
    this.#congestionTimeoutMs = int(
      options.congestionTimeoutMs,
      10_000,
      1,
      'pool.congestionTimeoutMs',
    )
    this.#reapMs = int(
      options.reapIntervalMs,
      DEFAULT_POOL_REAP_INTERVAL_MS,
      1,
      'pool.reapIntervalMs',
    )
  }

  /**
   * Writes one encoded frame to a connection for `key`, dialling one if needed. Returns the outcome
   * at once when a connection is ready (the common case, kept free of promises), or a promise when
   * the packet has to wait for a dial. `'dropped'` means the packet was dropped for congestion; the
   * promise rejects when the dial fails.
   */
  send(key: string, frame: Buffer): SendOutcome | Promise<SendOutcome> {
    if (this.#closed) throw new ClosedError('packet pool is closed')
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      slot = { conns: [], dialing: undefined, waiting: 0 }
      this.#slots.set(key, slot)
    }
    const ready = this.#pick(slot)
    if (ready !== undefined) return this.#write(ready, key, frame)
    if (slot.dialing === undefined && slot.conns.length < this.#maxConns) {
      slot.dialing = this.#dialInto(key, slot)
      // The packet that started the dial may be dropped below without waiting for it; a failed
      // dial must not then surface as an unhandled rejection.
      slot.dialing.catch(noop)
    }
    if (slot.dialing === undefined || slot.waiting >= this.#maxPending) return this.#drop(key)
    return this.#sendAfterDial(slot, key, frame)
  }

  async #sendAfterDial(slot: Slot, key: string, frame: Buffer): Promise<SendOutcome> {
    slot.waiting++
    try {
      const conn = await (slot.dialing as Promise<Conn>)
      if (conn.socket.destroyed) {
        throw new SocketError(`connection to ${key} closed before the packet could be sent`)
      }
      return conn.socket.writableLength < this.#hwm
        ? this.#write(conn, key, frame)
        : this.#drop(key)
    } finally {
      slot.waiting--
    }
  }

  stats(): PacketPoolStats {
    let open = 0
    let idle = 0
    let nodes = 0
    for (const slot of this.#slots.values()) {
      if (slot.conns.length > 0 || slot.dialing !== undefined) nodes++
      for (const c of slot.conns) {
        open++
        if (c.socket.writableLength === 0) idle++
      }
    }
    return { open, idle, nodes, ...this.#counters }
  }

  /**
   * Closes every connection. Graceful: queued frames are flushed (`end()`), and connections still
   * open after `graceMs` are destroyed. Dials in flight are the caller's to abort.
   */
  async close(graceMs = 1_000): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopReaper()
    for (const s of this.#ending) s.destroy()
    const sockets = [...this.#slots.values()].flatMap((s) => s.conns.map((c) => c.socket))
    this.#slots.clear()
    if (sockets.length === 0) return
    await new Promise<void>((resolve) => {
      let left = sockets.length
      const timer = this.#clock.setTimeout(finish, graceMs)
      function onClose() {
        left--
        if (left === 0) finish()
      }
      function finish() {
        clearTimer()
        for (const s of sockets) {
          s.off('close', onClose)
          s.destroy()
        }
        resolve()
      }
      const clearTimer = () => this.#clock.clearTimeout(timer)
      for (const s of sockets) {
        s.once('close', onClose)
        s.end()
      }
    })
  }

  /** Destroys every connection at once. */
  destroy(): void {
    this.#closed = true
    this.#stopReaper()
    for (const s of this.#ending) s.destroy()
    for (const slot of this.#slots.values()) for (const c of slot.conns) c.socket.destroy()
    this.#slots.clear()
  }

  #pick(slot: Slot): Conn | undefined {
    for (let i = slot.conns.length - 1; i >= 0; i--) {
      const c = slot.conns[i] as Conn
      if (c.socket.destroyed) continue
      if (c.socket.writableLength < this.#hwm) return c
      c.congestedSince ??= this.#clock.now()
    }
    return undefined
  }

  #write(conn: Conn, key: string, frame: Buffer): SendOutcome {
    conn.lastUsed = this.#clock.now()
    const slot = this.#slots.get(key)
    if (slot !== undefined && slot.conns[slot.conns.length - 1] !== conn) {
      // Most recently used goes last, so the others go idle and the reaper can shrink the pool.
      const i = slot.conns.indexOf(conn)
      if (i >= 0) slot.conns.splice(i, 1)
      slot.conns.push(conn)
    }
    // No callback: a failed write also emits 'error', which #failed handles, and a closure per
    // packet is measurable at full rate.
    conn.socket.write(frame)
    return 'sent'
  }

  #drop(key: string): SendOutcome {
    this.#counters.dropped++
    debug('packet to %s dropped: connection congested', key)
    return 'dropped'
  }

  async #dialInto(key: string, slot: Slot): Promise<Conn> {
    this.#counters.dials++
    try {
      const pooled = await this.#dial(key)
      const now = this.#clock.now()
      const conn: Conn = {
        ...pooled,
        lastUsed: now,
        openedAt: now,
        failed: false,
        congestedSince: undefined,
      }
      if (this.#closed) {
        conn.socket.destroy()
        throw new ClosedError('packet pool is closed')
      }
      const { socket } = conn
      // Nothing ever flows server -> client on a packet connection; anything that does is a broken peer.
      socket.on('data', () =>
        socket.destroy(new SocketError(`unexpected data from ${key} on a packet connection`)),
      )
      socket.on('error', (err) => this.#failed(conn, key, err))
      // The far side closing (its idle timeout, a restart) ends our readable; the connection is done.
      socket.once('end', () => socket.destroy())
      socket.on('drain', () => {
        conn.congestedSince = undefined
      })
      socket.once('close', () => this.#onClose(conn, key))
      slot.conns.push(conn)
      if (!this.#slots.has(key)) this.#slots.set(key, slot)
      this.#reaper ??= this.#clock.setInterval(() => this.#reap(), this.#reapMs)
      return conn
    } catch (err) {
      this.#counters.dialFailures++
      throw err
    } finally {
      slot.dialing = undefined
      if (slot.conns.length === 0 && this.#slots.get(key) === slot) this.#slots.delete(key)
    }
  }

  #failed(conn: Conn, key: string, err: Error): void {
    // A write callback and the 'error' event can both report one failure.
    if (conn.failed) return
    conn.failed = true
    this.#counters.writeFailures++
    debug('packet connection to %s via %s failed: %s', key, conn.gateway, err.message)
    this.#remove(conn, key)
    conn.socket.destroy()
    this.#events.onConnectionError(conn, key, err)
  }

  #onClose(conn: Conn, key: string): void {
    this.#remove(conn, key)
    if (this.#closed || conn.failed) return
    if (this.#clock.now() - conn.openedAt < EARLY_CLOSE_MS) {
      this.#counters.closedEarly++
      const times = (this.#earlyCloses.get(key) ?? 0) + 1
      // Bounded: only nodes that keep refusing are remembered, and a flood of them is forgotten.
      if (this.#earlyCloses.size >= 10_000) this.#earlyCloses.clear()
      this.#earlyCloses.set(key, times)
      if (times % EARLY_CLOSES_REPORTED === 0)
        this.#events.onRejectedAfterHandshake(key, conn.gateway, times)
    } else {
      this.#earlyCloses.delete(key)
    }
  }

  #remove(conn: Conn, key: string): void {
    const slot = this.#slots.get(key)
    if (slot === undefined) return
    const i = slot.conns.indexOf(conn)
    if (i >= 0) slot.conns.splice(i, 1)
    if (slot.conns.length === 0 && slot.dialing === undefined && slot.waiting === 0)
      this.#slots.delete(key)
  }

  #stopReaper(): void {
    if (this.#reaper === undefined) return
    this.#clock.clearInterval(this.#reaper)
    this.#reaper = undefined
  }

  #reap(): void {
    if (this.#slots.size === 0) {
      this.#stopReaper()
      return
    }
    const now = this.#clock.now()
    for (const [key, slot] of this.#slots) {
      for (const c of [...slot.conns]) {
        if (c.congestedSince !== undefined && now - c.congestedSince >= this.#congestionTimeoutMs) {
          // Its peer stopped reading: free the slot for a fresh connection.
          this.#counters.stalled++
          debug('packet connection to %s via %s stalled: closing', key, c.gateway)
          this.#remove(c, key)
          c.socket.destroy()
          continue
        }
        if (now - c.lastUsed >= this.#idleTimeoutMs && c.socket.writableLength === 0) {
          this.#counters.reaped++
          this.#remove(c, key)
          const socket = c.socket
          this.#ending.add(socket)
          socket.once('close', () => this.#ending.delete(socket))
          socket.end()
          // A peer that never answers our close must not keep the socket.
          socket.setTimeout(5_000, () => socket.destroy())
        }
      }
    }
  }
}

function int(value: number | undefined, fallback: number, min: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${value}`)
  }
  return value
}

function noop() {}
