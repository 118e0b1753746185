import type { TLSSocket } from 'node:tls'
import { encodeFrame, FRAME_HEADER_SIZE } from '../alpn/frame.ts'
import { ClosedError, InvalidArgumentError, SocketError } from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import { Backoff, type BackoffOptions } from '../internal/backoff.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { drain, openSockets } from '../internal/drain.ts'
import { optionalNumber } from '../internal/validate.ts'

/** Consul's `GossipPacketMaxIdleTime`: pooled packet connections unused this long are closed. */
export const DEFAULT_POOL_IDLE_TIMEOUT_MS = 120_000
/** Consul's reaper interval. */
export const DEFAULT_POOL_REAP_INTERVAL_MS = 1_000
/** Bytes of frames allowed to wait for a dial, per node. */
export const DEFAULT_POOL_MAX_PENDING_BYTES_PER_NODE = 8 * 1024 * 1024
/** Bytes of frames allowed to wait for dials, all nodes together. */
export const DEFAULT_POOL_MAX_PENDING_BYTES = 64 * 1024 * 1024
/** Longest a packet waits for a dial before it is dropped (the dial goes on). */
export const DEFAULT_POOL_MAX_DIAL_WAIT_MS = 5_000
/**
 * A congested connection is stalled only when nothing it holds was written through for this long:
 * on loopback a writer blocked behind a slow but steady reader sees its writes complete only every
 * one to two seconds, in large batches.
 */
export const DEFAULT_POOL_PROGRESS_WINDOW_MS = 3_000

export interface PacketPoolOptions {
  /** Connections per destination node. Consul's pool has no bound. Default 2. */
  maxConnsPerNode?: number
  /** A connection not written to for this long is closed. Default 120,000 ms (Consul's). */
  idleTimeoutMs?: number
  /** How often idle and stalled connections are looked for. Default 1,000 ms. */
  reapIntervalMs?: number
  /**
   * Bytes queued on a connection above which it counts as congested: a packet for it is dropped and
   * counted rather than buffered. Default 1 MiB.
   */
  writeHighWaterMark?: number
  /** Packets allowed to wait for a connection being dialled, per node; more are dropped. Default 256. */
  maxPendingPerNode?: number
  /** Bytes of frames allowed to wait for a dial, per node; more are dropped. Default 8 MiB. */
  maxPendingBytesPerNode?: number
  /** Bytes of frames allowed to wait for dials in the whole pool; more are dropped. Default 64 MiB. */
  maxPendingBytes?: number
  /**
   * Longest a packet waits for a dial: then it is dropped (counted) and its send resolves, while the
   * dial goes on for later packets. Default 5,000 ms.
   */
  maxDialWaitMs?: number
  /**
   * A connection that stays congested this long, and whose peer took none of its bytes within
   * `progressWindowMs`, is closed, so a stuck peer cannot hold a pool slot for ever. Default 10,000 ms.
   */
  congestionTimeoutMs?: number
  /**
   * How far back a congested connection's progress is looked for before it is judged stalled; a
   * peer reading slowly but steadily keeps its connection. Default 3,000 ms.
   */
  progressWindowMs?: number
  /**
   * After a dial fails for a reason that is the far node's (not the gateway's), further packets to
   * that node are dropped (counted) instead of dialling again until this backoff has passed.
   * Default: 1 s, doubling to 30 s, ±20 %.
   */
  dialBackoff?: BackoffOptions
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
  /** Dials begun; a send that failed before the network (no gateway to pick) made none. */
  dials: number
  /** Dials that failed, the same way not counting those that never began. */
  dialFailures: number
  writeFailures: number
  /** Packets waiting for a dial now. */
  pending: number
  /** Bytes of frames waiting for a dial now. */
  pendingBytes: number
  /** Packets dropped, all reasons (the sum of the `dropped*` fields). */
  dropped: number
  /** Dropped because every connection to the node was congested. */
  droppedCongested: number
  /** Dropped because the node's wait queue was full (by count or bytes) or the pool's was (bytes). */
  droppedPendingFull: number
  /** Dropped after waiting `maxDialWaitMs` for a dial. */
  droppedDialWait: number
  /** Dropped because dials to the node were backing off after a failure. */
  droppedBackoff: number
  /** Connections closed by the idle reaper. */
  reaped: number
  /** Connections closed because they stayed congested with no progress (see `congestionTimeoutMs`). */
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
  /** Frame bytes handed to the socket; minus `writableLength`, what went through. */
  written: number
  /** When the connection was first found congested since it last was not. */
  congestedSince: number | undefined
  /** Written-through bytes at the last time they grew, and when. */
  progress: number
  progressAt: number
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
  /**
   * Whether a dial failure is the destination node's (the pool then backs off dialling it) rather
   * than the gateway's or our own. Default: every failure is.
   */
  isNodeFault?(err: unknown): boolean
  /**
   * Whether a dial failed before it reached the network (no gateway to pick, say): it then counts
   * neither as a dial nor as a dial failure. Default: no failure is.
   */
  isNotDialed?(err: unknown): boolean
}

/** A connection closed by its peer sooner than this after opening counts as an early close. */
const EARLY_CLOSE_MS = 1_000
/** Early closes in a row before the owner hears of it. */
const EARLY_CLOSES_REPORTED = 3
/** Per-node memories (early closes, backoffs) are forgotten past this many nodes. */
const MAX_REMEMBERED_NODES = 10_000

interface Waiter {
  frame: Buffer
  resolve(outcome: SendOutcome): void
  reject(err: unknown): void
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

interface Slot {
  /** Most recently used last. */
  conns: Conn[]
  dialing: boolean
  /** Packets waiting for the dial in flight, oldest first. */
  queue: Waiter[]
  queuedBytes: number
  /** Drops what still waits when `maxDialWaitMs` has passed since the dial began. */
  waitTimer: TimerHandle | undefined
}

type DropReason = 'droppedCongested' | 'droppedPendingFull' | 'droppedDialWait' | 'droppedBackoff'

interface NodeBackoff {
  failures: number
  retryAt: number
}

/**
 * Pooled TLS connections for cross-DC packets, keyed by the full node name (`bob.dc2`), as Consul's
 * `connPool`. Differences, each on purpose: a frame is one `write`, so packets share a connection
 * instead of checking it out; connections per node are bounded; a congested connection drops the
 * packet (as UDP would) instead of buffering without bound; concurrent sends wait for one dial
 * instead of each dialling, bounded in count, bytes and time; a node whose dials fail is backed off.
 * @internal
 */
export class PacketPool {
  readonly #slots = new Map<string, Slot>()
  readonly #dial: PoolDialer
  readonly #events: PoolEvents
  readonly #congestionTimeoutMs: number
  readonly #progressWindowMs: number
  readonly #clock: Clock
  readonly #maxConns: number
  readonly #idleTimeoutMs: number
  readonly #hwm: number
  readonly #maxPending: number
  readonly #maxPendingBytesPerNode: number
  readonly #maxPendingBytes: number
  readonly #maxDialWaitMs: number
  readonly #reapMs: number
  readonly #backoff: Backoff
  /** Runs only while the pool holds connections, so an idle pool costs no timer. */
  #reaper: TimerHandle | undefined
  /** Reaped connections still finishing their close handshake. */
  readonly #ending = new Set<TLSSocket>()
  /** Early closes in a row, by node; outlives the node's slot, which goes when it has no connection. */
  readonly #earlyCloses = new Map<string, number>()
  /** Nodes whose last dials failed, by node; cleared by a successful dial. */
  readonly #backoffs = new Map<string, NodeBackoff>()
  #pendingBytes = 0
  #pending = 0
  #closed = false
  readonly #counters = {
    dials: 0,
    dialFailures: 0,
    writeFailures: 0,
    droppedCongested: 0,
    droppedPendingFull: 0,
    droppedDialWait: 0,
    droppedBackoff: 0,
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
    this.#maxConns = optionalNumber(options.maxConnsPerNode, 2, 'pool.maxConnsPerNode', {
      positive: true,
      integer: true,
    })
    this.#idleTimeoutMs = optionalNumber(
      options.idleTimeoutMs,
      DEFAULT_POOL_IDLE_TIMEOUT_MS,
      'pool.idleTimeoutMs',
      { positive: true, integer: true, unit: 'ms' },
    )
    this.#hwm = optionalNumber(options.writeHighWaterMark, 1024 * 1024, 'pool.writeHighWaterMark', {
      positive: true,
      integer: true,
    })
    this.#maxPending = optionalNumber(options.maxPendingPerNode, 256, 'pool.maxPendingPerNode', {
      min: 0,
      integer: true,
    })
    this.#maxPendingBytesPerNode = optionalNumber(
      options.maxPendingBytesPerNode,
      DEFAULT_POOL_MAX_PENDING_BYTES_PER_NODE,
      'pool.maxPendingBytesPerNode',
      { min: 0, integer: true },
    )
    this.#maxPendingBytes = optionalNumber(
      options.maxPendingBytes,
      DEFAULT_POOL_MAX_PENDING_BYTES,
      'pool.maxPendingBytes',
      { min: 0, integer: true },
    )
    this.#maxDialWaitMs = optionalNumber(
      options.maxDialWaitMs,
      DEFAULT_POOL_MAX_DIAL_WAIT_MS,
      'pool.maxDialWaitMs',
      { positive: true, integer: true, unit: 'ms' },
    )
    this.#congestionTimeoutMs = optionalNumber(
      options.congestionTimeoutMs,
      10_000,
      'pool.congestionTimeoutMs',
      { positive: true, integer: true, unit: 'ms' },
    )
    this.#progressWindowMs = optionalNumber(
      options.progressWindowMs,
      DEFAULT_POOL_PROGRESS_WINDOW_MS,
      'pool.progressWindowMs',
      { positive: true, integer: true, unit: 'ms' },
    )
    this.#reapMs = optionalNumber(
      options.reapIntervalMs,
      DEFAULT_POOL_REAP_INTERVAL_MS,
      'pool.reapIntervalMs',
      { positive: true, integer: true, unit: 'ms' },
    )
    try {
      this.#backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000, ...options.dialBackoff })
    } catch (err) {
      throw new InvalidArgumentError(`pool.dialBackoff: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * Frames `payload` and writes it to a connection for `key`, dialling one if needed. Returns the
   * outcome at once when a connection is ready (the common case, kept free of promises), or a
   * promise when the packet has to wait for a dial. `'dropped'` means the packet was dropped (and
   * counted); the promise rejects when the dial fails or `signal` fires while it waits. The payload
   * is copied only once the packet is accepted.
   */
  send(key: string, payload: Uint8Array, signal?: AbortSignal): SendOutcome | Promise<SendOutcome> {
    if (this.#closed) throw new ClosedError('packet pool is closed')
    let slot = this.#slots.get(key)
    if (slot !== undefined) {
      const ready = this.#pick(slot)
      if (ready !== undefined) return this.#write(ready, slot, encodeFrame(payload))
    }
    if (signal?.aborted) throw abortReason(signal, `send to ${key}`)
    if (slot === undefined || !slot.dialing) {
      if (slot !== undefined && slot.conns.length >= this.#maxConns)
        return this.#drop(key, 'droppedCongested')
      const backoff = this.#backoffs.get(key)
      if (backoff !== undefined && this.#clock.now() < backoff.retryAt)
        return this.#drop(key, 'droppedBackoff')
      if (slot === undefined) {
        slot = { conns: [], dialing: false, queue: [], queuedBytes: 0, waitTimer: undefined }
        this.#slots.set(key, slot)
      }
      this.#startDial(key, slot)
    }
    const size = FRAME_HEADER_SIZE + payload.byteLength
    if (
      slot.queue.length >= this.#maxPending ||
      slot.queuedBytes + size > this.#maxPendingBytesPerNode ||
      this.#pendingBytes + size > this.#maxPendingBytes
    ) {
      return this.#drop(key, 'droppedPendingFull')
    }
    return this.#enqueue(key, slot, encodeFrame(payload), signal)
  }

  stats(): PacketPoolStats {
    let open = 0
    let idle = 0
    let nodes = 0
    for (const slot of this.#slots.values()) {
      if (slot.conns.length > 0 || slot.dialing) nodes++
      for (const c of slot.conns) {
        open++
        if (c.socket.writableLength === 0) idle++
      }
    }
    const c = this.#counters
    return {
      open,
      idle,
      nodes,
      pending: this.#pending,
      pendingBytes: this.#pendingBytes,
      dropped: c.droppedCongested + c.droppedPendingFull + c.droppedDialWait + c.droppedBackoff,
      ...c,
    }
  }

  /**
   * Closes every connection. Graceful: queued frames are flushed (`end()`), and connections still
   * open after `graceMs` are destroyed. Dials in flight are the caller's to abort; packets waiting
   * for them reject with `ClosedError`.
   */
  async close(graceMs = 1_000): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopReaper()
    for (const s of this.#ending) s.destroy()
    const sockets = [...this.#slots.values()].flatMap((s) => s.conns.map((c) => c.socket))
    this.#failWaiters(new ClosedError('packet pool is closed'))
    this.#slots.clear()
    await drain({
      open: openSockets(sockets),
      begin: (s) => s.end(),
      destroy: (s) => s.destroy(),
      graceMs,
      clock: this.#clock,
    })
  }

  /** Destroys every connection at once. */
  destroy(): void {
    this.#closed = true
    this.#stopReaper()
    for (const s of this.#ending) s.destroy()
    this.#failWaiters(new ClosedError('packet pool is closed'))
    for (const slot of this.#slots.values()) for (const c of slot.conns) c.socket.destroy()
    this.#slots.clear()
  }

  #pick(slot: Slot): Conn | undefined {
    for (let i = slot.conns.length - 1; i >= 0; i--) {
      const c = slot.conns[i] as Conn
      if (c.socket.destroyed) continue
      if (c.socket.writableLength < this.#hwm) return c
      if (c.congestedSince === undefined) {
        const now = this.#clock.now()
        c.congestedSince = now
        c.progress = c.written - c.socket.writableLength
        c.progressAt = now
      }
    }
    return undefined
  }

  #write(conn: Conn, slot: Slot, frame: Buffer): SendOutcome {
    conn.lastUsed = this.#clock.now()
    conn.written += frame.length
    if (slot.conns[slot.conns.length - 1] !== conn) {
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

  #drop(key: string, reason: DropReason): SendOutcome {
    this.#counters[reason]++
    debug('packet to %s dropped (%s)', key, reason)
    return 'dropped'
  }

  #enqueue(
    key: string,
    slot: Slot,
    frame: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve, reject) => {
      const waiter: Waiter = { frame, resolve, reject, signal, onAbort: undefined }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = slot.queue.indexOf(waiter)
          if (i < 0) return
          slot.queue.splice(i, 1)
          this.#unqueue(slot, waiter)
          reject(abortReason(signal, `send to ${key}`))
        }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      slot.queue.push(waiter)
      slot.queuedBytes += frame.length
      this.#pending++
      this.#pendingBytes += frame.length
    })
  }

  /** Takes a waiter's share out of the counts; it has left `slot.queue` already. */
  #unqueue(slot: Slot, waiter: Waiter): void {
    slot.queuedBytes -= waiter.frame.length
    this.#pending--
    this.#pendingBytes -= waiter.frame.length
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }

  /** Empties a slot's queue, settling each waiter with `settle`. */
  #flushQueue(slot: Slot, settle: (w: Waiter) => void): void {
    const queue = slot.queue
    slot.queue = []
    for (const w of queue) {
      this.#unqueue(slot, w)
      settle(w)
    }
  }

  #failWaiters(err: Error): void {
    for (const slot of this.#slots.values()) {
      if (slot.waitTimer !== undefined) this.#clock.clearTimeout(slot.waitTimer)
      slot.waitTimer = undefined
      this.#flushQueue(slot, (w) => w.reject(err))
    }
  }

  #startDial(key: string, slot: Slot): void {
    slot.dialing = true
    slot.waitTimer = this.#clock.setTimeout(() => {
      slot.waitTimer = undefined
      this.#flushQueue(slot, (w) => w.resolve(this.#drop(key, 'droppedDialWait')))
    }, this.#maxDialWaitMs)
    this.#counters.dials++
    this.#dial(key).then(
      (pooled) => this.#dialed(key, slot, pooled),
      (err: unknown) => this.#dialFailed(key, slot, err),
    )
  }

  #endDial(key: string, slot: Slot): void {
    slot.dialing = false
    if (slot.waitTimer !== undefined) this.#clock.clearTimeout(slot.waitTimer)
    slot.waitTimer = undefined
    if (slot.conns.length === 0 && slot.queue.length === 0 && this.#slots.get(key) === slot)
      this.#slots.delete(key)
  }

  #dialFailed(key: string, slot: Slot, err: unknown): void {
    // Counted when it began; one that never left this host was no dial.
    if (this.#events.isNotDialed?.(err) === true) this.#counters.dials--
    else this.#counters.dialFailures++
    if (!this.#closed && (this.#events.isNodeFault?.(err) ?? true)) {
      const failures = (this.#backoffs.get(key)?.failures ?? 0) + 1
      if (this.#backoffs.size >= MAX_REMEMBERED_NODES && !this.#backoffs.has(key))
        this.#backoffs.clear()
      this.#backoffs.set(key, {
        failures,
        retryAt: this.#clock.now() + this.#backoff.delay(failures),
      })
    }
    this.#flushQueue(slot, (w) => w.reject(err))
    this.#endDial(key, slot)
  }

  #dialed(key: string, slot: Slot, pooled: PooledConnection): void {
    const now = this.#clock.now()
    const conn: Conn = {
      ...pooled,
      lastUsed: now,
      openedAt: now,
      failed: false,
      written: 0,
      congestedSince: undefined,
      progress: 0,
      progressAt: now,
    }
    if (this.#closed) {
      conn.socket.destroy()
      this.#endDial(key, slot)
      return
    }
    this.#backoffs.delete(key)
    const { socket } = conn
    // Nothing ever flows server -> client on a packet connection; anything that does is a broken peer.
    socket.on('data', () =>
      socket.destroy(new SocketError(`unexpected data from ${key} on a packet connection`)),
    )
    socket.on('error', (err) => this.#failed(conn, key, err))
    // The far side closing (its idle timeout, a restart) ends our readable; the connection is done.
    socket.once('end', () => socket.destroy())
    // A server that accepted and hung up at once: the dial hands over a socket already ended.
    if (socket.readableEnded) socket.destroy()
    socket.once('close', () => this.#onClose(conn, key))
    slot.conns.push(conn)
    if (!this.#slots.has(key)) this.#slots.set(key, slot)
    this.#reaper ??= this.#clock.setInterval(() => this.#reap(), this.#reapMs)
    this.#flushQueue(slot, (w) => {
      if (socket.destroyed) {
        w.reject(new SocketError(`connection to ${key} closed before the packet could be sent`))
      } else if (socket.writableLength < this.#hwm) {
        w.resolve(this.#write(conn, slot, w.frame))
      } else {
        w.resolve(this.#drop(key, 'droppedCongested'))
      }
    })
    this.#endDial(key, slot)
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
      if (this.#earlyCloses.size >= MAX_REMEMBERED_NODES) this.#earlyCloses.clear()
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
    if (slot.conns.length === 0 && !slot.dialing && slot.queue.length === 0) this.#slots.delete(key)
  }

  #stopReaper(): void {
    if (this.#reaper === undefined) return
    this.#clock.clearInterval(this.#reaper)
    this.#reaper = undefined
  }

  /**
   * Whether a connection's peer has stopped taking its bytes: congested for `congestionTimeoutMs`
   * and nothing written through within the last `progressWindowMs`. Progress is sampled here, on
   * each reaper tick.
   */
  #stalled(c: Conn, now: number): boolean {
    const queued = c.socket.writableLength
    if (queued === 0) {
      c.congestedSince = undefined
      return false
    }
    if (c.congestedSince === undefined) return false
    const through = c.written - queued
    if (through > c.progress) {
      c.progress = through
      c.progressAt = now
    }
    return (
      now - c.congestedSince >= this.#congestionTimeoutMs &&
      now - c.progressAt >= this.#progressWindowMs
    )
  }

  #reap(): void {
    if (this.#slots.size === 0) {
      this.#stopReaper()
      return
    }
    const now = this.#clock.now()
    for (const [key, slot] of this.#slots) {
      for (const c of [...slot.conns]) {
        if (this.#stalled(c, now)) {
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
