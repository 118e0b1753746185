/**
 * From a started federation to one gossip pool: each DC's nodes find each other directly, the
 * federation states reach every DC (secondaries knew one primary gateway only), then every
 * secondary node joins a primary node through the gateways and gossip does the rest.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Memberlist } from 'wanfed/memberlist'
import type { Federation } from './federation.ts'
import type { DemoNode } from './node.ts'
import { agreed, federationComplete, seesOwnDatacenter } from './observe.ts'
import type { DemoView } from './view.ts'
import { seconds, waitFor } from './wait.ts'

export interface ConvergenceTimes {
  /** Every DC's nodes see each other. */
  ownDatacentersMs: number
  /** Every store holds every DC's gateways; every locator routes to every DC. */
  federationStatesMs: number
  /** Every node sees all members alive. */
  allMembersMs: number
}

export async function converge(
  fed: Federation,
  view: DemoView,
  o: { since: number; deadlineMs: number; signal: AbortSignal },
): Promise<ConvergenceTimes> {
  const { signal } = o
  const deadline = performance.now() + o.deadlineMs
  const left = () => Math.max(0, deadline - performance.now())
  const at = () => performance.now() - o.since

  await waitFor(() => fed.dcs.every(seesOwnDatacenter), {
    what: "each DC's nodes seeing each other",
    deadlineMs: left(),
    signal,
  })
  const ownDatacentersMs = at()
  view.event(
    `each DC's ${fed.options.nodes} nodes see each other, directly (${seconds(ownDatacentersMs)})`,
  )

  await waitFor(() => federationComplete(fed), {
    what: 'federation states in every DC',
    deadlineMs: left(),
    signal,
  })
  const federationStatesMs = at()
  view.event(
    `federation states: every DC's store knows all ${fed.dcs.length} DCs' gateways, every node's ` +
      `locator routes to every DC (${seconds(federationStatesMs)})`,
  )

  // As Consul servers do (each joins the WAN pool), every secondary node joins the primary, by
  // name through the gateways: node i the primary's node i, so no one node takes every join.
  const primaryNodes = fed.primary.nodes
  await Promise.all(
    fed.dcs
      .filter((dc) => !dc.primary)
      .flatMap((dc) =>
        dc.nodes.map((n, i) => {
          const target = primaryNodes[i % primaryNodes.length] as DemoNode
          return joinAcross(n.memberlist, target.joinAddress, left, signal)
        }),
      ),
  )
  view.event(`every secondary node joined a primary node, by name, through the gateways`)

  const total = fed.topology.members
  await waitFor(() => fed.live().every((n) => n.memberlist.numMembers === total) && agreed(fed), {
    what: `every node seeing all ${total} members`,
    deadlineMs: left(),
    signal,
  })
  const allMembersMs = at()
  view.event(`converged: every node sees all ${total} members alive (${seconds(allMembersMs)})`)
  return { ownDatacentersMs, federationStatesMs, allMembersMs }
}

/** A cross-DC join, retried: the first attempt may race the last replication round. */
export async function joinAcross(
  ml: Memberlist,
  address: string,
  left: () => number,
  signal: AbortSignal,
): Promise<void> {
  let lastError: unknown
  for (;;) {
    signal.throwIfAborted()
    try {
      await ml.join([address])
      return
    } catch (err) {
      lastError = err
    }
    if (left() <= 0) throw lastError
    await sleep(250, undefined, { signal })
  }
}
