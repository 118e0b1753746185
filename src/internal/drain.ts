import type { Socket } from 'node:net'
import type { Clock, TimerHandle } from './clock.ts'

/**
 * The open connections of a server or a pool, as a set that can be waited on until it is empty.
 * The owner adds a connection when it opens and deletes it once it has fully closed; waiters are
 * told as soon as the last one goes.
 */
export class OpenSet<T> implements Iterable<T> {
  readonly #items = new Set<T>()
  readonly #waiters = new Set<() => void>()

  get size(): number {
    return this.#items.size
  }

  add(item: T): void {
    this.#items.add(item)
  }

  has(item: T): boolean {
    return this.#items.has(item)
  }

  /** Removes `item`; when that empties the set, every {@link whenEmpty} waiter resolves. */
  delete(item: T): boolean {
    const had = this.#items.delete(item)
    if (had && this.#items.size === 0) for (const wake of [...this.#waiters]) wake()
    return had
  }

  [Symbol.iterator](): Iterator<T> {
    return this.#items[Symbol.iterator]()
  }

  /**
   * Resolves `true` once the set is empty (at once if it is), or `false` after `ms` when a
   * deadline is given. The timer is released either way.
   */
  whenEmpty(clock: Clock, ms?: number): Promise<boolean> {
    if (this.#items.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined
      const finish = (empty: boolean) => {
        if (timer !== undefined) clock.clearTimeout(timer)
        this.#waiters.delete(wake)
        resolve(empty)
      }
      const wake = () => finish(true)
      this.#waiters.add(wake)
      if (ms !== undefined) timer = clock.setTimeout(() => finish(false), ms)
    })
  }
}

/**
 * The sockets still open among `sockets`, as an {@link OpenSet} each leaves when it closes: how
 * an owner that keeps its sockets elsewhere (a pool's slots) drains them.
 */
export function openSockets<S extends Socket>(sockets: Iterable<S>): OpenSet<S> {
  const open = new OpenSet<S>()
  for (const s of sockets) {
    if (s.closed) continue
    open.add(s)
    s.once('close', () => open.delete(s))
  }
  return open
}

/** The pieces of one graceful drain; see {@link drain}. */
export interface DrainOptions<T> {
  /** The open connections. The drain waits until this is empty (or the deadline). */
  open: OpenSet<T>
  /** How long open connections may finish before the rest are destroyed, in ms. */
  graceMs: number
  clock: Clock
  /**
   * Stops accepting. The promise it returns is awaited last, after every connection has gone: a
   * `net.Server`'s close callback waits for its connections, so awaiting it first would hang.
   */
  stopAccepting?: () => Promise<void>
  /**
   * Asks one connection to finish, as the drain starts: `socket.end()` for a pool flushing its
   * queue, a quiet-watch for a proxy that ends a connection once nothing is in flight.
   */
  begin?: (conn: T) => void
  /** Destroys one connection still open at the deadline (or at once when `abrupt`). */
  destroy: (conn: T) => void
  /**
   * After the destroys, wait this long at most for the destroyed connections to leave `open`
   * (destroyed sockets close within a tick or two; waiting makes counts end at zero). Default:
   * no bound, as long as the owner deletes every destroyed connection on its close.
   */
  settleMs?: number
  /** Skip the grace period: destroy every connection now. */
  abrupt?: boolean
}

/** What a drain did. */
export interface DrainResult {
  /** Connections that finished on their own within the grace period. */
  finished: number
  /** Connections destroyed at the deadline (or at once, abruptly). */
  destroyed: number
}

/**
 * One graceful drain: stop accepting, ask every open connection to finish, wait for them up to
 * `graceMs`, destroy the rest, then wait for the listener to close. Every timer it sets is
 * released on every path. Connections added to `open` meanwhile are waited for too (the owner
 * refuses new ones while draining, so only those already accepted can appear).
 */
export async function drain<T>(options: DrainOptions<T>): Promise<DrainResult> {
  const { open, clock } = options
  const stopped = options.stopAccepting?.() ?? Promise.resolve()
  const before = open.size
  if (options.abrupt !== true && open.size > 0) {
    if (options.begin !== undefined) for (const conn of [...open]) options.begin(conn)
    await open.whenEmpty(clock, options.graceMs)
  }
  const left = [...open]
  for (const conn of left) options.destroy(conn)
  if (open.size > 0) await open.whenEmpty(clock, options.settleMs)
  await stopped
  return { finished: Math.max(0, before - left.length), destroyed: left.length }
}
