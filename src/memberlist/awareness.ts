/**
 * Lifeguard's local health (`awareness.go`): a score from 0 (healthy) to `max - 1`. Missed acks
 * and refutations raise it, successful probes lower it, and probe intervals and timeouts are
 * stretched by `score + 1`, so a node that is itself slow accuses others less.
 */
export class Awareness {
  #score = 0
  constructor(readonly max: number) {}

  applyDelta(delta: number): void {
    this.#score = Math.max(0, Math.min(this.max - 1, this.#score + delta))
  }

  get score(): number {
    return this.#score
  }

  scaleTimeout(ms: number): number {
    return ms * (this.#score + 1)
  }
}
