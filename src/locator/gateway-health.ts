import { Backoff, type BackoffOptions } from '../internal/backoff.ts'
import type { Clock } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'

export interface GatewayHealth {
  gateway: string
  consecutiveFailures: number
  /** Monotonic ms until which the gateway is avoided; 0 when healthy. */
  avoidUntil: number
}

interface Entry {
  failures: number
  avoidUntil: number
}

/**
 * The failure-aware choice every locator shares: per datacenter and gateway, how many dials failed
 * in a row and until when the gateway is avoided (exponential backoff). `pick` chooses at random
 * among the candidates not in backoff; when all are, the one whose window ends first, since a
 * wrong guess costs one dial and returning nothing costs the whole send.
 */
export class GatewayHealthTracker {
  // Only gateways that failed have an entry; a success deletes it.
  readonly #byDc = new Map<string, Map<string, Entry>>()
  readonly #backoff: Backoff
  readonly #clock: Clock
  readonly #random: () => number

  constructor(clock: Clock, random: () => number, backoff?: BackoffOptions) {
    this.#clock = clock
    this.#random = random
    this.#backoff = new Backoff(backoff, random)
  }

  pick(datacenter: string, candidates: readonly string[]): string | undefined {
    if (candidates.length === 0) return undefined
    const failed = this.#byDc.get(datacenter)
    if (failed === undefined) return candidates[Math.floor(this.#random() * candidates.length)]
    const now = this.#clock.now()
    const healthy = candidates.filter((g) => (failed.get(g)?.avoidUntil ?? 0) <= now)
    if (healthy.length > 0) return healthy[Math.floor(this.#random() * healthy.length)]
    let soonest = candidates[0] as string
    let end = failed.get(soonest)?.avoidUntil ?? 0
    for (const g of candidates) {
      const until = failed.get(g)?.avoidUntil ?? 0
      if (until < end) {
        soonest = g
        end = until
      }
    }
    return soonest
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    let failed = this.#byDc.get(datacenter)
    if (failed === undefined) {
      failed = new Map()
      this.#byDc.set(datacenter, failed)
    }
    const entry = failed.get(gateway) ?? { failures: 0, avoidUntil: 0 }
    entry.failures++
    const wait = this.#backoff.delay(entry.failures)
    entry.avoidUntil = this.#clock.now() + wait
    failed.set(gateway, entry)
    debug(
      'gateway %s for %s failed (%d in a row): avoided for %d ms: %s',
      gateway,
      datacenter,
      entry.failures,
      Math.round(wait),
      err.message,
    )
  }

  reportSuccess(datacenter: string, gateway: string): void {
    const failed = this.#byDc.get(datacenter)
    if (failed === undefined) return
    failed.delete(gateway)
    if (failed.size === 0) this.#byDc.delete(datacenter)
  }

  health(datacenter: string, gateways: readonly string[]): GatewayHealth[] {
    const failed = this.#byDc.get(datacenter)
    return gateways.map((gateway) => {
      const e = failed?.get(gateway)
      return { gateway, consecutiveFailures: e?.failures ?? 0, avoidUntil: e?.avoidUntil ?? 0 }
    })
  }

  /** Forgets the health of a datacenter's gateways that are no longer among `keep`. */
  retain(datacenter: string, keep: readonly string[]): void {
    const failed = this.#byDc.get(datacenter)
    if (failed === undefined) return
    const set = new Set(keep)
    for (const g of [...failed.keys()]) if (!set.has(g)) failed.delete(g)
    if (failed.size === 0) this.#byDc.delete(datacenter)
  }
}
