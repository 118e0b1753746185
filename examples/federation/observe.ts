/** What the federation looks like right now, read from memberlist, the stores and the locators. */
import type { DemoDatacenter } from './datacenter.ts'
import type { Federation } from './federation.ts'
import type { DemoNode } from './node.ts'

export interface MemberCounts {
  alive: number
  suspect: number
  dead: number
}

/** Members as `node` sees them, itself included. */
export function memberCounts(node: DemoNode): MemberCounts {
  const c = { alive: 0, suspect: 0, dead: 0 }
  for (const m of node.memberlist.allNodes()) {
    if (m.state === 'alive') c.alive++
    else if (m.state === 'suspect') c.suspect++
    else c.dead++
  }
  return c
}

/** Every node of `dc` sees every other node of `dc` alive. */
export function seesOwnDatacenter(dc: DemoDatacenter): boolean {
  const names = dc.nodes.map((n) => n.name)
  return dc.nodes.every((n) => {
    const alive = new Set(
      n.memberlist
        .allNodes()
        .filter((m) => m.state === 'alive')
        .map((m) => m.name),
    )
    return names.every((name) => alive.has(name))
  })
}

/**
 * Every live node sees every live node alive, and every stopped node dead (or, not yet heard of,
 * absent): the gossip pool agrees on who is there.
 */
export function agreed(fed: Federation): boolean {
  const live = fed.live()
  const liveNames = live.map((n) => n.name)
  const stopped = new Set(
    fed
      .nodes()
      .filter((n) => n.stopped)
      .map((n) => n.name),
  )
  return live.every((n) => {
    const states = new Map(n.memberlist.allNodes().map((m) => [m.name, m.state]))
    if (!liveNames.every((name) => states.get(name) === 'alive')) return false
    for (const name of stopped) {
      const s = states.get(name)
      if (s === 'alive' || s === 'suspect') return false
    }
    return true
  })
}

/** DCs whose federation state names at least one usable gateway, in `dc`'s store. */
export function knownDatacenters(dc: DemoDatacenter): string[] {
  const store = dc.plane?.store
  if (store === undefined) return []
  return store
    .list()
    .states.filter((s) => s.meshGateways.length > 0)
    .map((s) => s.datacenter)
}

/**
 * Every DC's store holds every DC's gateways, and every node's locator can pick a gateway for
 * every other DC: cross-DC traffic has somewhere to go from everywhere.
 */
export function federationComplete(fed: Federation): boolean {
  const all = fed.dcs.map((d) => d.name)
  return fed.dcs.every(
    (dc) =>
      knownDatacenters(dc).length === all.length &&
      dc.nodes.every((n) =>
        all.every((other) => other === dc.name || n.locator.pickGateway(other) !== undefined),
      ),
  )
}
