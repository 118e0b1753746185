import type { Clock, TimerHandle } from '../../src/internal/clock.ts'

interface Timer {
  due: number
  fn: () => void
  /** Set for intervals. */
  every?: number
}

/**
 * A clock whose time moves only when the test moves it. Timers fire in due order, each with
 * `now()` reading exactly its due time, so a deadline can be checked to the millisecond: at
 * `deadline - 1` nothing has fired, at `deadline` it has.
 */
export class VirtualClock implements Clock {
  readonly #timers = new Map<number, Timer>()
  #now: number
  #id = 0

  constructor(start = 0) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), fn })
    return id
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    const every = Math.max(1, ms)
    this.#timers.set(id, { due: this.#now + every, fn, every })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  /** Timers set and neither fired (one-shot) nor cleared. */
  get pendingTimers(): number {
    return this.#timers.size
  }

  /**
   * As {@link advance}, for code whose timers start promise chains: the event loop turns (see
   * {@link settle}) before each due timer and after the last, so a chain a timer starts, and the
   * next timer it sets, run before time moves on.
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.#now + ms
    for (;;) {
      await settle()
      let due: number | undefined
      for (const timer of this.#timers.values())
        if (timer.due <= end && (due === undefined || timer.due < due)) due = timer.due
      if (due === undefined) break
      this.advanceTo(due)
    }
    this.advanceTo(end)
    await settle()
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms)
  }

  /** Moves time to `t` (never back), firing every timer due at or before it, earliest first. */
  advanceTo(t: number): void {
    if (t < this.#now) throw new Error(`VirtualClock cannot go back from ${this.#now} to ${t}`)
    for (;;) {
      let nextId: number | undefined
      let next: Timer | undefined
      for (const [id, timer] of this.#timers) {
        if (timer.due <= t && (next === undefined || timer.due < next.due)) {
          nextId = id
          next = timer
        }
      }
      if (next === undefined || nextId === undefined) break
      this.#now = next.due
      if (next.every === undefined) this.#timers.delete(nextId)
      else next.due += next.every
      next.fn()
    }
    this.#now = t
  }
}

/** Lets pending promise callbacks and immediates run: a few turns of the event loop. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
