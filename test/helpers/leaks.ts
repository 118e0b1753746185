export { expectNoLeakedHandles, handleCounts } from '../../src/testing/handles.ts'

import type { Clock, TimerHandle } from '../../src/internal/clock.ts'
import { systemClock } from '../../src/internal/clock.ts'

/**
 * A real clock that remembers which timers are live. Unref'd timers do not show in
 * `getActiveResourcesInfo()`, so this is how tests see a timer that was never cleared.
 */
export class TrackingClock implements Clock {
  readonly #live = new Set<TimerHandle>()

  now(): number {
    return systemClock.now()
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = systemClock.setTimeout(() => {
      this.#live.delete(handle)
      fn()
    }, ms)
    this.#live.add(handle)
    return handle
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const handle = systemClock.setInterval(fn, ms)
    this.#live.add(handle)
    return handle
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle)
    systemClock.clearTimeout(handle)
  }

  clearInterval(handle: TimerHandle): void {
    this.#live.delete(handle)
    systemClock.clearInterval(handle)
  }

  /** Timers set and neither fired (one-shot) nor cleared. */
  get liveTimers(): number {
    return this.#live.size
  }
}
