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

/** What a {@link Clock} returns for a timer; only that clock can clear it. */
export type TimerHandle = unknown
