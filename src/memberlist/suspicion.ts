import type { Clock, TimerHandle } from '../internal/clock.ts'
import { remainingSuspicionTime } from './timing.ts'

/**
 * Lifeguard's dynamic suspicion timeout (`suspicion.go`): a suspected node is declared dead after
 * `max`, shortened toward `min` as `k` independent peers confirm the suspicion (log-scaled), so
 * a node seen failing by many is declared dead quickly and one suspected by a lone slow peer has
 * time to refute.
 */
export class Suspicion {
  #n = 0
  readonly #k: number
  readonly #min: number
  readonly #max: number
  readonly #start: number
  readonly #confirmations = new Set<string>()
  #timer: TimerHandle | undefined
  #fired = false
  readonly #fn: (confirmations: number) => void
  readonly #clock: Clock

  constructor(
    from: string,
    k: number,
    minMs: number,
    maxMs: number,
    fn: (confirmations: number) => void,
    clock: Clock,
  ) {
    this.#k = k
    this.#min = minMs
    this.#max = maxMs
    this.#fn = fn
    this.#clock = clock
    this.#confirmations.add(from)
    this.#start = clock.now()
    // With no confirmations to wait for, the minimum applies at once.
    this.#arm(k < 1 ? minMs : maxMs)
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      this.#fire()
    }, ms)
  }

  #fire(): void {
    if (this.#fired) return
    this.#fired = true
    this.#fn(this.#n)
  }

  /** A new peer agrees; true when it counted (new and still needed), so it is worth re-gossiping. */
  confirm(from: string): boolean {
    if (this.#n >= this.#k) return false
    if (this.#confirmations.has(from)) return false
    this.#confirmations.add(from)
    this.#n++
    const remaining = remainingSuspicionTime(
      this.#n,
      this.#k,
      this.#clock.now() - this.#start,
      this.#min,
      this.#max,
    )
    if (this.#timer !== undefined && !this.#fired) {
      this.#clock.clearTimeout(this.#timer)
      this.#timer = undefined
      if (remaining > 0) this.#arm(remaining)
      else queueMicrotask(() => this.#fire())
    }
    return true
  }

  get confirmations(): number {
    return this.#n
  }

  cancel(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#fired = true
  }
}
