import type { Clock } from '../clock.ts'

export type { Clock, TimerHandle } from '../clock.ts'

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
