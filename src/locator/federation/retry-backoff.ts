/**
 * The wait between failed attempts of Consul's retry loops (`retryLoopBackoff` in
 * agent/consul/leader.go): 2^n seconds, n counted up before each attempt while under the cap and
 * reset to 0 by a success, so the first failure waits 2 s and the cap is reached without overflow.
 */
export class RetryLoopBackoff {
  readonly #maxMs: number
  #failedAttempts = 0

  constructor(maxMs: number) {
    this.#maxMs = maxMs
  }

  /** Called before each attempt: the wait should this attempt fail. */
  next(): number {
    if (2 ** this.#failedAttempts * 1000 < this.#maxMs) this.#failedAttempts++
    return Math.min(this.#maxMs, 2 ** this.#failedAttempts * 1000)
  }

  /** Called after an attempt that succeeded. */
  reset(): void {
    this.#failedAttempts = 0
  }
}
