import { InvalidArgumentError } from '../../errors.ts'
import type { BackoffOptions } from '../../internal/backoff.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { type GatewayHealth, GatewayHealthTracker } from '../gateway-health.ts'
import type { GatewayLocator } from '../types.ts'
import { renderGatewayAddresses } from './gateway-addresses.ts'
import type { FederationState } from './state.ts'
import type { FederationStateStore } from './store.ts'

export interface FederationRoutesOptions {
  /** The federation states this gateway routes by: the primary's, or a copy replicated from it. */
  store: FederationStateStore
  /** The gateway's own datacenter, never routed to remotely. */
  datacenter: string
  /**
   * Asked, in order, for a datacenter whose federation state names no usable gateway (not yet
   * replicated, say): static routes from config, the primary's gateways from `--primary-gateway`.
   */
  fallback?: readonly GatewayLocator[]
  /** How long a gateway whose dial failed is avoided (exponential in its consecutive failures). */
  backoff?: BackoffOptions
  /** @internal */
  clock?: Clock
  /** @internal */
  random?: () => number
}

/**
 * A mesh gateway's remote-DC routes taken from federation states, as Consul's mesh gateways with
 * `-expose-servers` take theirs from `ListMeshGateways`: a connection for `*.server.<dc>.<domain>`
 * goes to one of `dc`'s gateways that carry federation traffic (meta `consul-wan-federation` "1",
 * no critical check), at their WAN addresses. The store is read on each pick (a record's addresses
 * are rendered once per write), so a datacenter added to the federation states is routable at once,
 * with no config edit. A gateway that failed is avoided for a backoff window while another remains.
 */
export class FederationRoutes implements GatewayLocator {
  readonly #store: FederationStateStore
  readonly #datacenter: string
  readonly #fallback: readonly GatewayLocator[]
  readonly #health: GatewayHealthTracker
  /** Rendered WAN addresses per record; a record is replaced (never changed) on each write. */
  readonly #rendered = new WeakMap<FederationState, string[]>()

  constructor(options: FederationRoutesOptions) {
    if (typeof options?.store?.get !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    if (typeof options.datacenter !== 'string' || options.datacenter === '')
      throw new InvalidArgumentError('datacenter must be a non-empty string')
    const fallback = options.fallback ?? []
    if (!Array.isArray(fallback) || fallback.some((l) => typeof l?.pickGateway !== 'function'))
      throw new InvalidArgumentError('fallback must be a list of locators with pickGateway(dc)')
    this.#store = options.store
    this.#datacenter = options.datacenter.toLowerCase()
    this.#fallback = fallback
    this.#health = new GatewayHealthTracker(
      options.clock ?? systemClock,
      options.random ?? Math.random,
      options.backoff,
    )
  }

  /** The usable gateways of `datacenter` in the federation states, WAN `host:port`, sorted. */
  gateways(datacenter: string): string[] {
    if (datacenter.toLowerCase() === this.#datacenter) return []
    const state = this.#store.get(datacenter).state
    if (state === undefined) return []
    let rendered = this.#rendered.get(state)
    if (rendered === undefined) {
      rendered = renderGatewayAddresses(state.meshGateways, true)
      this.#rendered.set(state, rendered)
      this.#health.retain(datacenter, rendered)
    }
    return [...rendered]
  }

  /** Every other datacenter with a usable gateway in the federation states, sorted. */
  datacenters(): string[] {
    return this.#store
      .list()
      .states.map((s) => s.datacenter)
      .filter((dc) => this.gateways(dc).length > 0)
  }

  pickGateway(datacenter: string): string | undefined {
    const picked = this.#health.pick(datacenter, this.gateways(datacenter))
    if (picked !== undefined) return picked
    for (const l of this.#fallback) {
      const g = l.pickGateway(datacenter)
      if (g !== undefined) return g
    }
    return undefined
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    if (this.gateways(datacenter).includes(gateway))
      this.#health.reportFailure(datacenter, gateway, err)
    else for (const l of this.#fallback) l.reportFailure?.(datacenter, gateway, err)
  }

  reportSuccess(datacenter: string, gateway: string): void {
    if (this.gateways(datacenter).includes(gateway)) this.#health.reportSuccess(datacenter, gateway)
    else for (const l of this.#fallback) l.reportSuccess?.(datacenter, gateway)
  }

  /** Health of `datacenter`'s gateways from the federation states. */
  health(datacenter: string): GatewayHealth[] {
    return this.#health.health(datacenter, this.gateways(datacenter))
  }
}
