import { InvalidArgumentError } from '../errors.ts'
import { parseHostPort } from '../internal/address.ts'
import { Backoff, type BackoffOptions } from '../internal/backoff.ts'
import { type Clock, systemClock } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import type { GatewayLocator } from './types.ts'

export interface StaticGatewayLocatorOptions {
  /** How long a failed gateway is avoided: exponential in its consecutive failures. */
  backoff?: BackoffOptions
  /** @internal */
  clock?: Clock
  /** @internal Source of randomness for the pick and the jitter. */
  random?: () => number
}

export interface GatewayHealth {
  gateway: string
  consecutiveFailures: number
  /** Monotonic ms until which the gateway is avoided; 0 when healthy. */
  avoidUntil: number
}

interface Entry {
  gateway: string
  failures: number
  avoidUntil: number
}

/**
 * A fixed map from datacenter to gateway addresses. Picks at random among the gateways that have
 * not failed recently; a gateway whose dial failed is avoided for a backoff window while another
 * exists, and tried again once the window has passed. When every gateway of a DC is in backoff, the
 * one whose window ends first is returned rather than nothing: a wrong guess costs one dial,
 * returning nothing costs the whole send. (Consul picks uniformly at random, dead or alive.)
 */
export class StaticGatewayLocator implements GatewayLocator {
  readonly #byDc = new Map<string, Entry[]>()
  readonly #backoff: Backoff
  readonly #clock: Clock
  readonly #random: () => number

  constructor(
    gateways: Record<string, readonly string[]> | Map<string, readonly string[]>,
    options: StaticGatewayLocatorOptions = {},
  ) {
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
    this.#backoff = new Backoff(options.backoff, this.#random)
    const entries = gateways instanceof Map ? [...gateways] : Object.entries(gateways ?? {})
    for (const [dc, list] of entries) this.setGateways(dc, list)
  }

  /** Replaces the gateways of one datacenter. Health is kept for addresses that stay. */
  setGateways(datacenter: string, gateways: readonly string[]): void {
    if (typeof datacenter !== 'string' || datacenter === '')
      throw new InvalidArgumentError('datacenter must be a non-empty string')
    if (!Array.isArray(gateways))
      throw new InvalidArgumentError(`gateways for ${datacenter} must be an array of host:port`)
    for (const g of gateways) parseHostPort(g, `gateway address for ${datacenter}`)
    const old = new Map((this.#byDc.get(datacenter) ?? []).map((e) => [e.gateway, e]))
    const next = [...new Set(gateways)].map(
      (gateway) => old.get(gateway) ?? { gateway, failures: 0, avoidUntil: 0 },
    )
    if (next.length === 0) this.#byDc.delete(datacenter)
    else this.#byDc.set(datacenter, next)
  }

  /** The datacenters with at least one gateway. */
  datacenters(): string[] {
    return [...this.#byDc.keys()]
  }

  pickGateway(datacenter: string): string | undefined {
    const entries = this.#byDc.get(datacenter)
    if (entries === undefined) return undefined
    const now = this.#clock.now()
    const healthy = entries.filter((e) => e.avoidUntil <= now)
    if (healthy.length > 0)
      return (healthy[Math.floor(this.#random() * healthy.length)] as Entry).gateway
    let soonest = entries[0] as Entry
    for (const e of entries) if (e.avoidUntil < soonest.avoidUntil) soonest = e
    return soonest.gateway
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    const entry = this.#find(datacenter, gateway)
    if (entry === undefined) return
    entry.failures++
    const wait = this.#backoff.delay(entry.failures)
    entry.avoidUntil = this.#clock.now() + wait
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
    const entry = this.#find(datacenter, gateway)
    if (entry === undefined) return
    entry.failures = 0
    entry.avoidUntil = 0
  }

  /** Health of every gateway of a datacenter. */
  health(datacenter: string): GatewayHealth[] {
    return (this.#byDc.get(datacenter) ?? []).map((e) => ({
      gateway: e.gateway,
      consecutiveFailures: e.failures,
      avoidUntil: e.avoidUntil,
    }))
  }

  #find(datacenter: string, gateway: string): Entry | undefined {
    return this.#byDc.get(datacenter)?.find((e) => e.gateway === gateway)
  }
}
