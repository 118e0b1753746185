import type { Clock, TimerHandle } from '../../internal/clock.ts'

/**
 * Watches one federation-state connection while requests wait on it. After `intervalMs` without a
 * byte from the server it calls `probe()` (the client sends a `Ping`: its answer, or any other
 * frame, is proof of life, so a server from before `Ping` existed, which answers it with an
 * unknown-method error, proves as much); after as long again without one it calls `dead(silentMs)`.
 * Its one timer runs only while `busy()` says requests are in flight, and stops for good on
 * {@link stop}.
 */
export class ConnectionLiveness {
  readonly #intervalMs: number
  readonly #clock: Clock
  readonly #busy: () => boolean
  readonly #probe: () => void
  readonly #dead: (silentMs: number) => void
  #lastHeard: number
  #probedAt: number | undefined
  #timer: TimerHandle | undefined
  #stopped = false

  constructor(o: {
    intervalMs: number
    clock: Clock
    busy: () => boolean
    probe: () => void
    dead: (silentMs: number) => void
  }) {
    this.#intervalMs = o.intervalMs
    this.#clock = o.clock
    this.#busy = o.busy
    this.#probe = o.probe
    this.#dead = o.dead
    this.#lastHeard = o.clock.now()
  }

  /** A byte came from the server. */
  heard(): void {
    this.#lastHeard = this.#clock.now()
  }

  /** A request was sent: the silence is counted from now, unless a probe is still unanswered. */
  arm(): void {
    if (this.#timer !== undefined || this.#stopped) return
    // A probe still unanswered keeps its deadline: requests that came and went (aborted) in
    // between must not buy a dead connection another round.
    if (!this.#awaitingProbe()) this.#lastHeard = this.#clock.now()
    this.#schedule()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #awaitingProbe(): boolean {
    return this.#probedAt !== undefined && this.#lastHeard < this.#probedAt
  }

  #schedule(): void {
    const from = this.#awaitingProbe() ? (this.#probedAt as number) : this.#lastHeard
    const ms = Math.max(1, from + this.#intervalMs - this.#clock.now())
    this.#timer = this.#clock.setTimeout(() => this.#tick(), ms)
  }

  #tick(): void {
    this.#timer = undefined
    if (this.#stopped || !this.#busy()) return
    const now = this.#clock.now()
    if (this.#awaitingProbe()) {
      if (now - (this.#probedAt as number) >= this.#intervalMs) {
        this.#dead(now - this.#lastHeard)
        return
      }
    } else if (now - this.#lastHeard >= this.#intervalMs) {
      this.#probedAt = now
      this.#probe()
    }
    this.#schedule()
  }
}
