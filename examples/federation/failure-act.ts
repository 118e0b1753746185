/**
 * The failure act. First a dc1 node dies without a word: the others must find out by probing
 * (suspect, then dead, in every view). Then one of dc1's two gateways is killed, the one that
 * carried the most traffic: every dc1 node must reach every other DC again (and be reached) through
 * the survivor, the DC's health check marks the dead one critical, and every DC's routes drop it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Node } from 'wanfed/memberlist'
import type { Federation } from './federation.ts'
import type { DemoGateway } from './gateway.ts'
import type { DemoNode } from './node.ts'
import { agreed } from './observe.ts'
import { kib } from './panel.ts'
import type { DemoView } from './view.ts'
import { seconds, waitFor } from './wait.ts'

export interface ActTimes {
  stopped: string
  /** First suspicion of the stopped node, anywhere. */
  suspectedMs: number
  /** The stopped node dead in every live view. */
  deadEverywhereMs: number
  killed: string
  survivor: string
  /** Every dc1 node and every other node reached each other again after the kill. */
  failoverMs: number
  /** The killed gateway gone from every DC's routes, membership agreed again. */
  membershipMs: number
  /** Healthy nodes suspected meanwhile (and refuted): packets lost with the gateway. */
  falseSuspicions: number
}

export async function failureAct(
  fed: Federation,
  view: DemoView,
  o: {
    signal: AbortSignal
    deadlines: { detectionMs: number; failoverMs: number; membershipMs: number }
  },
): Promise<ActTimes> {
  const { signal } = o
  const dc1 = fed.primary
  const victim = dc1.nodes.at(-1) as DemoNode
  const watchers = fed.live().filter((n) => n !== victim)
  let suspectedAt: number | undefined
  let suspectedBy = ''
  let falseSuspicions = 0
  const detach = watch(watchers, (by, node) => {
    if (node.name === victim.name) {
      if (suspectedAt === undefined) {
        suspectedAt = performance.now()
        suspectedBy = by
      }
    } else falseSuspicions++
  })
  try {
    view.event(`act 1: stopping ${victim.name} abruptly (sockets destroyed, no leave message)`)
    const t0 = performance.now()
    await victim.stopAbruptly()
    await waitFor(() => suspectedAt !== undefined, {
      what: `${victim.name} suspected`,
      deadlineMs: o.deadlines.detectionMs,
      signal,
    })
    const suspectedMs = (suspectedAt as number) - t0
    view.event(`${victim.name} suspected by ${suspectedBy} after ${seconds(suspectedMs)}`)
    await waitFor(() => watchers.every((n) => stateIn(n, victim.name) === 'dead'), {
      what: `${victim.name} dead in every view`,
      deadlineMs: o.deadlines.detectionMs,
      signal,
    })
    const deadEverywhereMs = performance.now() - t0
    view.event(
      `${victim.name} dead in all ${watchers.length} live nodes' views after ${seconds(deadEverywhereMs)}`,
    )

    const [killed, survivor] = pickGatewayToKill(dc1.gateways)
    const before = survivor.stats()
    view.event(`act 2: killing ${killed.name} (${why(killed, dc1.gateways)})`)
    falseSuspicions = 0
    const t1 = performance.now()
    await killed.kill()
    await reachEveryoneAgain(fed, {
      signal,
      deadlineMs: o.deadlines.failoverMs,
    })
    const failoverMs = performance.now() - t1
    view.event(
      `failover: every dc1 node and every other DC's nodes reach each other again, through ` +
        `${survivor.name}${carried(survivor, before)} (${seconds(failoverMs)} after the kill)`,
    )
    await waitFor(() => gatewayDropped(fed, killed) && agreed(fed), {
      what: `${killed.name} dropped from every DC's routes and membership agreed`,
      deadlineMs: o.deadlines.membershipMs,
      signal,
    })
    const membershipMs = performance.now() - t1
    view.event(
      `membership updated: ${killed.name} critical in every DC's federation states and routes; ` +
        `${fed.live().length} alive and ${victim.name} dead in every view (${seconds(membershipMs)} after the kill)`,
    )
    return {
      stopped: victim.name,
      suspectedMs,
      deadEverywhereMs,
      killed: killed.name,
      survivor: survivor.name,
      failoverMs,
      membershipMs,
      falseSuspicions,
    }
  } finally {
    detach()
  }
}

/** Calls `onSuspect(by, node)` for every suspicion any of `nodes` raises, until detached. */
function watch(nodes: DemoNode[], onSuspect: (by: string, node: Node) => void): () => void {
  const listeners = nodes.map((n) => {
    const l = (node: Node) => onSuspect(n.name, node)
    n.memberlist.on('suspect', l)
    return () => n.memberlist.off('suspect', l)
  })
  return () => {
    for (const off of listeners) off()
  }
}

function stateIn(node: DemoNode, name: string): string | undefined {
  return node.memberlist.allNodes().find((m) => m.name === name)?.state
}

function bytesOf(g: DemoGateway): number {
  const s = g.stats()
  if (s === undefined) return 0
  let total = 0
  for (const r of Object.values(s.routes)) total += r.bytesIn + r.bytesOut
  return total
}

/**
 * The gateway to kill: the one that carried more bytes, so the act cuts real traffic. HAProxy and
 * nginx report no counters here: then the one the secondaries were told about at start.
 */
export function pickGatewayToKill(gateways: DemoGateway[]): [DemoGateway, DemoGateway] {
  const [a, b] = gateways as [DemoGateway, DemoGateway]
  return bytesOf(b) > bytesOf(a) ? [b, a] : [a, b]
}

function why(killed: DemoGateway, all: DemoGateway[]): string {
  const s = killed.stats()
  if (s === undefined)
    return `the primary gateway the secondaries were given; ${killed.kind} has no counters here`
  const total = all.reduce((sum, g) => sum + bytesOf(g), 0)
  const share = total === 0 ? 0 : Math.round((100 * bytesOf(killed)) / total)
  const open = Object.values(s.routes).reduce((sum, r) => sum + r.active, 0)
  return `it carried ${share}% of dc1's gateway bytes, ${kib(bytesOf(killed))}; ${open} connections open through it`
}

function carried(g: DemoGateway, before: ReturnType<DemoGateway['stats']>): string {
  const after = g.stats()
  if (after === undefined || before === undefined) return ''
  const conns = (s: NonNullable<typeof before>) =>
    Object.values(s.routes).reduce((sum, r) => sum + r.connections, 0)
  return ` (+${conns(after) - conns(before)} connections, +${kib(bytesOf(g) - totalBytes(before))} since the kill)`
}

function totalBytes(s: NonNullable<ReturnType<DemoGateway['stats']>>): number {
  let total = 0
  for (const r of Object.values(s.routes)) total += r.bytesIn + r.bytesOut
  return total
}

/**
 * Every live dc1 node pings every live node of the other DCs, and they ping back, until each
 * pair has one answer: cross-DC traffic flows again both ways, whatever gateway a pair used.
 */
export async function reachEveryoneAgain(
  fed: Federation,
  o: { signal: AbortSignal; deadlineMs: number },
): Promise<void> {
  const dc1 = fed.primary.live()
  const others = fed.live().filter((n) => n.datacenter !== fed.primary.name)
  const pairs = [
    ...dc1.flatMap((a) => others.map((b) => [a, b] as const)),
    ...others.flatMap((a) => dc1.map((b) => [a, b] as const)),
  ]
  const deadline = performance.now() + o.deadlineMs
  // One pinger per source node: as many pings in flight as nodes, not as pairs.
  const bySource = new Map<DemoNode, DemoNode[]>()
  for (const [a, b] of pairs) bySource.set(a, [...(bySource.get(a) ?? []), b])
  await Promise.all(
    [...bySource].map(async ([from, targets]) => {
      for (const to of targets) {
        for (;;) {
          o.signal.throwIfAborted()
          try {
            await from.memberlist.ping(to.name, to.memberlist.localNode.address)
            break
          } catch (err) {
            if (performance.now() > deadline)
              throw new Error(`${from.name} could not reach ${to.name} after the kill`, {
                cause: err,
              })
            // A send refused at once (no gateway picked yet) must not spin.
            await sleep(50, undefined, { signal: o.signal })
          }
        }
      }
    }),
  )
}

/** No DC's routes, nor any dc1 node's locator, offer the killed gateway any more. */
export function gatewayDropped(fed: Federation, killed: DemoGateway): boolean {
  return fed.dcs.every((dc) => {
    if (dc.catalog !== undefined && dc.name === killed.datacenter)
      if (!dc.catalog.critical().includes(killed.name)) return false
    const routes = dc.plane?.routes
    if (
      dc.name !== killed.datacenter &&
      routes?.gateways(killed.datacenter).includes(killed.address)
    )
      return false
    return dc
      .live()
      .every(
        (n) =>
          !n.locator.localGateways().includes(killed.address) &&
          !n.locator.primaryGateways().includes(killed.address),
      )
  })
}
