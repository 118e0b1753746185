import { afterEach, beforeEach, expect } from 'vitest'
import type { Clock, TimerHandle } from '../../src/internal/clock.ts'
import { systemClock } from '../../src/internal/clock.ts'
import { expectNoLeakedHandles, handleCounts } from '../../src/testing/handles.ts'

export { expectNoLeakedHandles, handleCounts }

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

export type Cleanup = () => Promise<void> | void

/**
 * The leak check every socket test runs: before each test it notes the open handles; after it,
 * it runs the test's cleanups (last first), then fails if a handle or a timer of `clock` is left.
 * One `clock` serves the whole file: every test must leave it with no live timer.
 */
export function leakGuard(): { clock: TrackingClock; cleanups: Cleanup[] } {
  const clock = new TrackingClock()
  const cleanups: Cleanup[] = []
  let baseline = new Map<string, number>()
  beforeEach(() => {
    baseline = handleCounts()
  })
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
    await expectNoLeakedHandles(baseline)
    expect(clock.liveTimers).toBe(0)
  })
  return { clock, cleanups }
}
