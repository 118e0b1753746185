import { InvalidArgumentError } from '../errors.ts'
import type { ComponentKind } from './metrics.ts'

/** Anything with a `stats()` snapshot: a transport, an `AlpnServer`, a `MeshGateway`, a store. */
export interface StatsSource {
  stats(): object
}

/** A gateway locator as the admin endpoint reads it; `FederationGatewayLocator` has both methods. */
export interface LocatorSource {
  /** What the locator currently believes (`FederationGatewayLocator.decision()`). */
  decision?(): object
  stats?(): object
}

/** The components whose state `/v1/status`, `/health` and `/metrics` report, by instance name. */
export interface AdminComponents {
  /** Transports (`NetTransport`, `WanfedTransport`, ...); a `WanfedTransport`'s pool is its `pool`. */
  transports?: Readonly<Record<string, StatsSource>>
  /** `AlpnServer`s. */
  servers?: Readonly<Record<string, StatsSource>>
  /** `MeshGateway`s. */
  gateways?: Readonly<Record<string, StatsSource>>
  /** Gateway locators, such as `FederationGatewayLocator`. */
  locators?: Readonly<Record<string, LocatorSource>>
  /** `FederationStateStore`s (the one serving `/v1/internal/*` is added as `federation-states`). */
  stores?: Readonly<Record<string, StatsSource>>
}

const GROUPS = {
  transports: 'transport',
  servers: 'server',
  gateways: 'gateway',
  locators: 'locator',
  stores: 'store',
} as const satisfies Record<keyof AdminComponents, ComponentKind>

export type ComponentGroup = keyof typeof GROUPS

/** A Prometheus label value is any string; names are kept short and printable so pages stay readable. */
const NAME = /^[\w.:-]{1,128}$/

/** The registered components, by group and name, in registration order. */
export class ComponentRegistry {
  readonly #groups = new Map<ComponentGroup, Map<string, StatsSource | LocatorSource>>()

  constructor() {
    for (const group of Object.keys(GROUPS) as ComponentGroup[]) this.#groups.set(group, new Map())
  }

  /** Adds every component of `components`; a bad one throws and none is added. */
  add(components: AdminComponents): void {
    if (components === null || typeof components !== 'object')
      throw new InvalidArgumentError('components must be an object of groups')
    const adds: [ComponentGroup, string, StatsSource | LocatorSource][] = []
    for (const [group, entries] of Object.entries(components)) {
      if (entries === undefined) continue
      if (!Object.hasOwn(GROUPS, group))
        throw new InvalidArgumentError(
          `unknown component group ${JSON.stringify(group)} (${Object.keys(GROUPS).join(', ')})`,
        )
      if (entries === null || typeof entries !== 'object')
        throw new InvalidArgumentError(`components.${group} must be an object of name to component`)
      for (const [name, component] of Object.entries(entries as Record<string, unknown>)) {
        const g = group as ComponentGroup
        if (!NAME.test(name))
          throw new InvalidArgumentError(
            `components.${group}: name ${JSON.stringify(name)} must be 1..128 of [A-Za-z0-9_.:-]`,
          )
        if (!isComponent(g, component))
          throw new InvalidArgumentError(
            `components.${group}.${name} must have ${g === 'locators' ? 'decision() or stats()' : 'stats()'}`,
          )
        if (this.#groups.get(g)?.has(name) || adds.some(([ag, an]) => ag === g && an === name))
          throw new InvalidArgumentError(`components.${group}.${name} is already registered`)
        adds.push([g, name, component])
      }
    }
    for (const [group, name, component] of adds) this.#groups.get(group)?.set(name, component)
  }

  /** Removes a component; true if it was there. */
  remove(group: ComponentGroup, name: string): boolean {
    return this.#groups.get(group)?.delete(name) ?? false
  }

  entries(group: ComponentGroup): [string, StatsSource | LocatorSource][] {
    return [...(this.#groups.get(group) ?? [])]
  }

  kindOf(group: ComponentGroup): ComponentKind {
    return GROUPS[group]
  }

  groups(): ComponentGroup[] {
    return Object.keys(GROUPS) as ComponentGroup[]
  }
}

function isComponent(group: ComponentGroup, value: unknown): value is StatsSource | LocatorSource {
  if (value === null || typeof value !== 'object') return false
  const v = value as { stats?: unknown; decision?: unknown }
  if (group === 'locators') return typeof v.stats === 'function' || typeof v.decision === 'function'
  return typeof v.stats === 'function'
}
