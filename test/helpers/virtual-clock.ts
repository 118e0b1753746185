import type { Clock, TimerHandle } from '../../src/internal/clock.ts'

interface Timer {
  due: number
  fn: () => void
  every: number | undefined
}

/**
 * Virtual time: `now()` moves only when the test calls `advance()`, which fires every timer that
 * falls due, in due order, with `now()` at each timer's due time.
 */
export class VirtualClock implements Clock {
  #now = 0
  #id = 0
  readonly #timers = new Map<number, Timer>()

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    this.#timers.set(id, { due: this.#now + Math.max(0, ms), fn, every: undefined })
    return id
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    this.#timers.set(id, { due: this.#now + Math.max(1, ms), fn, every: Math.max(1, ms) })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  clearInterval(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  /** Timers set and neither fired (one-shot) nor cleared. */
  get liveTimers(): number {
    return this.#timers.size
  }

  /** Due times (relative to now) of the live timers, soonest first. */
  pending(): number[] {
    return [...this.#timers.values()].map((t) => t.due - this.#now).sort((a, b) => a - b)
  }

  /**
   * Moves time forward by `ms`, firing due timers; between timers it yields to the event loop so
   * promise chains a timer starts run before the next one fires.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms
    for (;;) {
      await settle()
      let next: [number, Timer] | undefined
      for (const entry of this.#timers) if (!next || entry[1].due < next[1].due) next = entry
      if (next === undefined || next[1].due > end) break
      const [id, t] = next
      this.#now = Math.max(this.#now, t.due)
      if (t.every === undefined) this.#timers.delete(id)
      else t.due += t.every
      t.fn()
    }
    this.#now = end
    await settle()
  }
}

/** Lets pending promise callbacks and immediates run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r))
}
