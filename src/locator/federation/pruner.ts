import { InvalidArgumentError } from '../../errors.ts'
import { type Clock, systemClock, type TimerHandle } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { optionalNumber } from '../../internal/validate.ts'
import type { FederationStateStore } from './store.ts'

/** Consul's `federationStatePruneInterval`. */
export const FEDERATION_STATE_PRUNE_INTERVAL_MS = 3_600_000

export interface FederationStatePrunerOptions {
  /** The primary's store. */
  store: FederationStateStore
  /** Whether a datacenter is still part of the federation (Consul asks its WAN router). */
  knows: (datacenter: string) => boolean
  /** Default 1 hour (Consul's). */
  intervalMs?: number
  /** @internal */
  clock?: Clock
}

/**
 * In the primary: on an interval, deletes the federation states of datacenters the federation no
 * longer knows (Consul's pruning, primary leader only).
 */
export class FederationStatePruner {
  readonly #store: FederationStateStore
  readonly #knows: (datacenter: string) => boolean
  readonly #intervalMs: number
  readonly #clock: Clock
  #timer: TimerHandle | undefined
  #pruned = 0

  constructor(options: FederationStatePrunerOptions) {
    if (typeof options?.store?.delete !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    if (typeof options.knows !== 'function')
      throw new InvalidArgumentError('knows must be a function (datacenter) => boolean')
    this.#store = options.store
    this.#knows = options.knows
    this.#intervalMs = optionalNumber(
      options.intervalMs,
      FEDERATION_STATE_PRUNE_INTERVAL_MS,
      'intervalMs',
      { positive: true, unit: 'ms' },
    )
    this.#clock = options.clock ?? systemClock
  }

  start(): this {
    if (this.#timer === undefined)
      this.#timer = this.#clock.setInterval(() => this.prune(), this.#intervalMs)
    return this
  }

  /** One pass now; returns the datacenters pruned. */
  prune(): string[] {
    const pruned: string[] = []
    for (const s of this.#store.list().states) {
      let known: boolean
      try {
        known = this.#knows(s.datacenter)
      } catch (err) {
        debug('federation state pruning: knows(%s) threw: %s', s.datacenter, (err as Error).message)
        continue
      }
      if (known) continue
      debug('pruning stale federation state: %s', s.datacenter)
      try {
        if (this.#store.delete(s.datacenter)) pruned.push(s.datacenter)
      } catch (err) {
        debug('federation state pruning: %s', (err as Error).message)
        break
      }
    }
    this.#pruned += pruned.length
    return pruned
  }

  get pruned(): number {
    return this.#pruned
  }

  close(): void {
    if (this.#timer !== undefined) this.#clock.clearInterval(this.#timer)
    this.#timer = undefined
  }
}
