import type { Clock, TimerHandle } from '../../src/internal/clock.ts'

interface Timer {
  fn: () => void
  at: number
  every: number | undefined
}

/**
 * A clock that moves only when the test says so: `now()` starts at 0 and `advance(ms)` runs every
 * timer that falls due on the way, in order, repeating intervals as often as they fit.
 */
export class ManualClock implements Clock {
  #now = 0
  #id = 0
  readonly #timers = new Map<number, Timer>()

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    this.#timers.set(id, { fn, at: this.#now + ms, every: undefined })
    return id
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#id
    this.#timers.set(id, { fn, at: this.#now + ms, every: ms })
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

  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      let next: [number, Timer] | undefined
      for (const entry of this.#timers)
        if (next === undefined || entry[1].at < next[1].at) next = entry
      if (next === undefined || next[1].at > end) break
      const [id, timer] = next
      this.#now = Math.max(this.#now, timer.at)
      if (timer.every === undefined) this.#timers.delete(id)
      else timer.at += timer.every
      timer.fn()
    }
    this.#now = end
  }
}
