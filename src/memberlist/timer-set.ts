import type { Clock, TimerHandle } from '../internal/clock.ts'

/**
 * One-shot timers on a clock that are all remembered until they fire or are cancelled, so that
 * `clear()` on close leaves none behind.
 */
export class TimerSet {
  readonly #live = new Set<TimerHandle>()
  constructor(readonly clock: Clock) {}

  after(ms: number, fn: () => void): TimerHandle {
    const h: TimerHandle = this.clock.setTimeout(() => {
      this.#live.delete(h)
      fn()
    }, ms)
    this.#live.add(h)
    return h
  }

  cancel(h: TimerHandle | undefined): void {
    if (h === undefined) return
    this.clock.clearTimeout(h)
    this.#live.delete(h)
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve))
  }

  clear(): void {
    for (const h of this.#live) this.clock.clearTimeout(h)
    this.#live.clear()
  }
}
