import { InvalidArgumentError } from '../errors.ts'
import type { BackoffOptions } from '../locator/backoff-options.ts'

export type { BackoffOptions } from '../locator/backoff-options.ts'

/** Exponential backoff with jitter: the wait after the n-th consecutive failure. */
export class Backoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly multiplier: number
  readonly jitter: number
  readonly #random: () => number

  constructor(options: BackoffOptions = {}, random: () => number = Math.random) {
    this.initialMs = options.initialMs ?? 1_000
    this.maxMs = options.maxMs ?? 60_000
    this.multiplier = options.multiplier ?? 2
    this.jitter = options.jitter ?? 0.2
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs)) {
      throw new InvalidArgumentError('backoff needs 0 < initialMs <= maxMs')
    }
    if (!(this.multiplier >= 1)) throw new InvalidArgumentError('backoff multiplier must be >= 1')
    if (!(this.jitter >= 0 && this.jitter <= 1))
      throw new InvalidArgumentError('backoff jitter must be within 0..1')
    this.#random = random
  }

  /** Wait in ms after `failures` consecutive failures (1 for the first). */
  delay(failures: number): number {
    const base = Math.min(this.maxMs, this.initialMs * this.multiplier ** Math.max(0, failures - 1))
    const spread = base * this.jitter * (this.#random() * 2 - 1)
    return Math.max(0, Math.min(this.maxMs, base + spread))
  }
}
