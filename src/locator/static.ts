import { InvalidArgumentError } from '../errors.ts'
import { parseHostPort } from '../internal/address.ts'
import type { BackoffOptions } from '../internal/backoff.ts'
import { type Clock, systemClock } from '../internal/clock.ts'
import { type GatewayHealth, GatewayHealthTracker } from './gateway-health.ts'
import type { GatewayLocator } from './types.ts'

export type { GatewayHealth }

export interface StaticGatewayLocatorOptions {
  /** How long a failed gateway is avoided: exponential in its consecutive failures. */
  backoff?: BackoffOptions
  /** @internal */
  clock?: Clock
  /** @internal Source of randomness for the pick and the jitter. */
  random?: () => number
}

/**
 * A fixed map from datacenter to gateway addresses. Picks at random among the gateways that have
 * not failed recently; a gateway whose dial failed is avoided for a backoff window while another
 * exists, and tried again once the window has passed. When every gateway of a DC is in backoff, the
 * one whose window ends first is returned rather than nothing: a wrong guess costs one dial,
 * returning nothing costs the whole send. (Consul picks uniformly at random, dead or alive.)
 */
export class StaticGatewayLocator implements GatewayLocator {
  readonly #byDc = new Map<string, string[]>()
  readonly #health: GatewayHealthTracker

  constructor(
    gateways: Record<string, readonly string[]> | Map<string, readonly string[]>,
    options: StaticGatewayLocatorOptions = {},
  ) {
    this.#health = new GatewayHealthTracker(
      options.clock ?? systemClock,
      options.random ?? Math.random,
      options.backoff,
    )
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
    const next = [...new Set(gateways)]
    this.#health.retain(datacenter, next)
    if (next.length === 0) this.#byDc.delete(datacenter)
    else this.#byDc.set(datacenter, next)
  }

  /** The datacenters with at least one gateway. */
  datacenters(): string[] {
    return [...this.#byDc.keys()]
  }

  pickGateway(datacenter: string): string | undefined {
    return this.#health.pick(datacenter, this.#byDc.get(datacenter) ?? [])
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    if (this.#byDc.get(datacenter)?.includes(gateway))
      this.#health.reportFailure(datacenter, gateway, err)
  }

  reportSuccess(datacenter: string, gateway: string): void {
    this.#health.reportSuccess(datacenter, gateway)
  }

  /** Health of every gateway of a datacenter. */
  health(datacenter: string): GatewayHealth[] {
    return this.#health.health(datacenter, this.#byDc.get(datacenter) ?? [])
  }
}
