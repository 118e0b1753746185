import type { Clock } from '../../internal/clock.ts'
import { checkNumber } from '../../internal/validate.ts'
import { sleep } from './sleep.ts'

/**
 * A token bucket as Go's `golang.org/x/time/rate.Limiter` is used by Consul's loops: it starts
 * full (`burst` tokens), refills at `ratePerSecond`, and `wait()` takes a token, sleeping until one
 * is due. An aborted wait gives its token back.
 */
export class RateLimiter {
  readonly ratePerSecond: number
  readonly burst: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  constructor(clock: Clock, ratePerSecond: number, burst: number) {
    this.ratePerSecond = checkNumber(ratePerSecond, 'rate', { positive: true, unit: 'per second' })
    this.burst = checkNumber(burst, 'burst', { integer: true, min: 1 })
    this.#clock = clock
    this.#tokens = burst
    this.#last = clock.now()
  }

  /** Takes a token now if one is there (for callers that skip rather than wait). */
  tryTake(): boolean {
    this.#refill()
    if (this.#tokens < 1) return false
    this.#tokens--
    return true
  }

  async wait(signal?: AbortSignal): Promise<void> {
    this.#refill()
    this.#tokens--
    if (this.#tokens >= 0) return
    const ms = (-this.#tokens / this.ratePerSecond) * 1000
    try {
      await sleep(this.#clock, ms, signal)
    } catch (err) {
      this.#tokens++
      throw err
    }
  }

  #refill(): void {
    const now = this.#clock.now()
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + ((now - this.#last) / 1000) * this.ratePerSecond,
    )
    this.#last = now
  }
}
