import { InvalidArgumentError } from '../../errors.ts'
import type { BackoffOptions } from '../../internal/backoff.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { type GatewayHealth, GatewayHealthTracker } from '../gateway-health.ts'
import type { GatewayLocator } from '../types.ts'
import { renderGatewayAddresses } from './gateway-addresses.ts'
import type { FederationStateStore } from './store.ts'

export interface FederationRouteLocatorOptions {
  /** A store holding every datacenter's federation state (replicated from the primary, or the primary's). */
  store: FederationStateStore
  /** How long a gateway whose dial failed is avoided. */
  backoff?: BackoffOptions
  /** @internal */
  clock?: Clock
  /** @internal */
  random?: () => number
}

/**
 * The view a mesh gateway needs (Consul's gateways take it from `ListMeshGateways` when exposing
 * servers): a datacenter's own gateways, by their WAN addresses, from federation states. Give it
 * to a `MeshGateway` as its `locator` and remote datacenters are routed without config: a DC that
 * appears in the federation states is reachable as soon as its state is stored. Only gateways with
 * meta `consul-wan-federation: "1"` and no critical check count; a gateway whose dial failed is
 * avoided for a backoff window while another remains.
 */
export class FederationRouteLocator implements GatewayLocator {
  readonly #store: FederationStateStore
  readonly #health: GatewayHealthTracker
  readonly #cache = new Map<string, string[]>()
  #cachedIndex = -1

  constructor(options: FederationRouteLocatorOptions) {
    if (typeof options?.store?.get !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    this.#store = options.store
    this.#health = new GatewayHealthTracker(
      options.clock ?? systemClock,
      options.random ?? Math.random,
      options.backoff,
    )
  }

  /** WAN `host:port` of the datacenter's usable gateways, sorted. */
  gateways(datacenter: string): string[] {
    if (this.#store.index !== this.#cachedIndex) {
      this.#cache.clear()
      this.#cachedIndex = this.#store.index
    }
    let list = this.#cache.get(datacenter)
    if (list === undefined) {
      const s = datacenter === '' ? undefined : this.#store.get(datacenter).state
      list = s === undefined ? [] : renderGatewayAddresses(s.meshGateways, true)
      this.#cache.set(datacenter, list)
    }
    return [...list]
  }

  pickGateway(datacenter: string): string | undefined {
    return this.#health.pick(datacenter, this.gateways(datacenter))
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    if (this.gateways(datacenter).includes(gateway))
      this.#health.reportFailure(datacenter, gateway, err)
  }

  reportSuccess(datacenter: string, gateway: string): void {
    this.#health.reportSuccess(datacenter, gateway)
  }

  health(datacenter: string): GatewayHealth[] {
    return this.#health.health(datacenter, this.gateways(datacenter))
  }
}
