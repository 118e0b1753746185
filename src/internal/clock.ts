/**
 * One injectable source of time. Every timestamp and every timer in wanfed goes through a `Clock`,
 * so tests can drive time and timestamps stay monotonic (never `Date.now()`).
 */
export interface Clock {
  /** Monotonic milliseconds (fractional), comparable only with other readings of the same clock. */
  now(): number
  /** A one-shot timer. Implementations must not keep the process alive (unref). */
  setTimeout(fn: () => void, ms: number): TimerHandle
  /** A repeating timer. Implementations must not keep the process alive (unref). */
  setInterval(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
  clearInterval(handle: TimerHandle): void
}

export type TimerHandle = unknown

/** Node's timers fire at once (with a warning) for delays above this; longer ones are capped. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The real clock: `performance.now()` and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.min(ms, MAX_TIMER_MS))
    t.unref()
    return t
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, Math.min(ms, MAX_TIMER_MS))
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout)
  },
}
