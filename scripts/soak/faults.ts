/**
 * The soak's failures, one per interval, in turn. Each is injected, its effect is waited for (the
 * others see it), it is healed the way an operator or a supervisor would (the process starts
 * again on its old address), and the federation must converge again: every node sees every node
 * alive, every DC routes to every DC, the restarted gateway is back in every route.
 *
 * - node-crash: a follower's sockets destroyed, no leave; restarted, it joins its DC's leader and
 *   refutes the `dead` the others hold about it.
 * - gateway-crash: the busier of the primary's two gateways destroyed; traffic must fail over to
 *   the other; restarted, it is passing and routed again everywhere.
 * - node-leave: a follower leaves politely, then restarts and joins again.
 * - dc-gateway-crash: a secondary DC's only gateway destroyed for {@link OUTAGE_MS}: nothing
 *   reaches the DC, while its nodes still send out through the primary's gateways (the locator
 *   falls back to them, as Consul's does), a one-way partition memberlist must ride out; then
 *   its nodes join the primary again (what Serf's reconnect or Consul's retry-join does).
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { joinAcross } from '../../examples/federation/convergence.ts'
import type { DemoDatacenter } from '../../examples/federation/datacenter.ts'
import {
  gatewayDropped,
  pickGatewayToKill,
  reachEveryoneAgain,
} from '../../examples/federation/failure-act.ts'
import type { Federation } from '../../examples/federation/federation.ts'
import type { OurGateway } from '../../examples/federation/gateways-ours.ts'
import type { DemoNode } from '../../examples/federation/node.ts'
import { agreed, federationComplete } from '../../examples/federation/observe.ts'
import { waitFor } from '../../examples/federation/wait.ts'

export type FaultKind = 'node-crash' | 'gateway-crash' | 'node-leave' | 'dc-gateway-crash'
export const FAULT_ORDER: readonly FaultKind[] = [
  'node-crash',
  'gateway-crash',
  'node-leave',
  'dc-gateway-crash',
]

/** How long a secondary DC's only gateway stays dead: past a suspicion timeout, so nodes are suspected. */
const OUTAGE_MS = 12_000

/** Each phase of a fault may take this long before the soak fails. */
const PHASE_DEADLINE_MS = 90_000

export interface FaultRecord {
  kind: FaultKind
  /** The node, or the gateway, that failed. */
  target: string
  /** Seconds since the soak began. */
  startS: number
  /** The failure seen everywhere: dead or left in every view, or traffic through the survivor. */
  effectMs: number
  /** Restarted (from the start of the fault). */
  healedMs: number
  /** Converged again (from the start of the fault). */
  convergedMs: number
}

/** When faults were under way: a message sent in one may vanish with a killed hop. */
export class FaultWindows {
  readonly #windows: { start: number; end: number }[] = []

  open(at: number): { close(at: number): void } {
    const w = { start: at, end: Number.POSITIVE_INFINITY }
    this.#windows.push(w)
    return {
      close: (end) => {
        w.end = end
      },
    }
  }

  covers(at: number, slackMs: number): boolean {
    return this.#windows.some((w) => at >= w.start - slackMs && at <= w.end + slackMs)
  }
}

export interface FaultContext {
  fed: Federation
  signal: AbortSignal
  log: (line: string) => void
  /** performance.now() when the soak began. */
  since: number
}

/** Runs fault number `round` (of {@link FAULT_ORDER}, in turn) to convergence. */
export async function runFault(ctx: FaultContext, round: number): Promise<FaultRecord> {
  const kind = FAULT_ORDER[round % FAULT_ORDER.length] as FaultKind
  const t0 = performance.now()
  const startS = Math.round((t0 - ctx.since) / 100) / 10
  const cycle = Math.floor(round / FAULT_ORDER.length)
  const r = await FAULTS[kind](ctx, cycle)
  const healed = performance.now()
  await explained(
    () => views(ctx.fed.live(), ctx.fed.live()),
    waitFor(() => converged(ctx.fed), {
      what: `convergence after ${kind} of ${r.target}`,
      deadlineMs: PHASE_DEADLINE_MS,
      signal: ctx.signal,
      intervalMs: 100,
    }),
  )
  return {
    kind,
    target: r.target,
    startS,
    effectMs: Math.round(r.effectAt - t0),
    healedMs: Math.round(healed - t0),
    convergedMs: Math.round(performance.now() - t0),
  }
}

type Fault = (ctx: FaultContext, cycle: number) => Promise<{ target: string; effectAt: number }>

const FAULTS: Record<FaultKind, Fault> = {
  'node-crash': (ctx, cycle) =>
    nodeDownAndBack(ctx, cycle, 0, 'dead', (n) => {
      ctx.log(`node-crash: ${n.name} stops abruptly (sockets destroyed, no leave)`)
      return n.stopAbruptly()
    }),
  'node-leave': (ctx, cycle) =>
    nodeDownAndBack(ctx, cycle, 1, 'left', (n) => {
      ctx.log(`node-leave: ${n.name} leaves`)
      return n.leave(3_000)
    }),
  'gateway-crash': async (ctx) => {
    const dc = ctx.fed.primary
    const [killed] = pickGatewayToKill(dc.gateways)
    ctx.log(`gateway-crash: ${killed.name} destroyed (every socket at once)`)
    await killed.kill()
    await reachEveryoneAgain(ctx.fed, { signal: ctx.signal, deadlineMs: PHASE_DEADLINE_MS })
    const effectAt = performance.now()
    await waitFor(() => gatewayDropped(ctx.fed, killed), {
      what: `${killed.name} dropped from every route`,
      deadlineMs: PHASE_DEADLINE_MS,
      signal: ctx.signal,
    })
    await restartGateway(ctx, dc, killed as OurGateway)
    return { target: killed.name, effectAt }
  },
  'dc-gateway-crash': async (ctx, cycle) => {
    const secondaries = ctx.fed.dcs.filter((d) => !d.primary)
    const dc = secondaries[cycle % secondaries.length] as DemoDatacenter
    const gateway = dc.gateways[0] as OurGateway
    ctx.log(
      `dc-gateway-crash: ${dc.name}'s only gateway ${gateway.name} destroyed for ${OUTAGE_MS / 1000} s`,
    )
    const t0 = performance.now()
    await gateway.kill()
    // Nothing reaches the DC now; its nodes still send out through the primary's gateways (the
    // locator's fallback), so the others must suspect them, and they keep refuting.
    const outside = () => ctx.fed.live().filter((n) => n.datacenter !== dc.name)
    const names = new Set(dc.nodes.map((n) => n.name))
    await explained(
      () => views(outside(), dc.nodes),
      waitFor(
        () =>
          outside().some((o) =>
            o.memberlist.allNodes().some((m) => names.has(m.name) && m.state !== 'alive'),
          ),
        {
          what: `a ${dc.name} node suspected outside ${dc.name}`,
          deadlineMs: OUTAGE_MS,
          signal: ctx.signal,
        },
      ),
    )
    const effectAt = performance.now()
    await sleep(Math.max(0, t0 + OUTAGE_MS - performance.now()), undefined, { signal: ctx.signal })
    await restartGateway(ctx, dc, gateway)
    // Any of its nodes that others declared dead and forgot must join again, as Serf's reconnect
    // or Consul's retry-join would make it; a join to a node that never lost it is a push/pull.
    const primaryNodes = ctx.fed.primary.live()
    const deadline = performance.now() + PHASE_DEADLINE_MS
    await Promise.all(
      dc
        .live()
        .map((n, i) =>
          joinAcross(
            n.memberlist,
            (primaryNodes[i % primaryNodes.length] as DemoNode).joinAddress,
            () => deadline - performance.now(),
            ctx.signal,
          ),
        ),
    )
    return { target: gateway.name, effectAt }
  },
}

/** A follower of DC `cycle + offset` (in turn) goes, is seen `state` everywhere, and comes back. */
async function nodeDownAndBack(
  ctx: FaultContext,
  cycle: number,
  offset: number,
  state: 'dead' | 'left',
  stop: (n: DemoNode) => Promise<void>,
): Promise<{ target: string; effectAt: number }> {
  const dcs = ctx.fed.dcs
  const dc = dcs[(cycle + offset) % dcs.length] as DemoDatacenter
  const followers = dc.nodes.slice(1)
  const victim = followers[cycle % followers.length] as DemoNode
  await stop(victim)
  await explained(
    () => views(ctx.fed.live(), [victim]),
    waitFor(
      () =>
        ctx.fed.live().every((o) => {
          const m = o.memberlist.allNodes().find((x) => x.name === victim.name)
          return m === undefined || m.state === state
        }),
      {
        what: `${victim.name} ${state} in every view`,
        deadlineMs: PHASE_DEADLINE_MS,
        signal: ctx.signal,
      },
    ),
  )
  const effectAt = performance.now()
  const restarted = await dc.restartNode(victim)
  ctx.log(`${victim.name} restarted on its old addresses; joining ${dc.leader.name}`)
  const deadline = performance.now() + PHASE_DEADLINE_MS
  await joinAcross(
    restarted.memberlist,
    dc.leader.joinAddress,
    () => deadline - performance.now(),
    ctx.signal,
  )
  return { target: victim.name, effectAt }
}

async function restartGateway(ctx: FaultContext, dc: DemoDatacenter, killed: OurGateway) {
  const i = dc.gateways.indexOf(killed)
  const restarted = await killed.restart()
  // In place: the DC's catalog checks this same array.
  dc.gateways[i] = restarted
  ctx.log(`${restarted.name} restarted on ${restarted.address}`)
  await waitFor(() => gatewayRestored(ctx.fed, restarted), {
    what: `${restarted.name} passing and routed again in every DC`,
    deadlineMs: PHASE_DEADLINE_MS,
    signal: ctx.signal,
  })
}

/** The mirror of `gatewayDropped`: passing in its catalog, in every other DC's routes and its own nodes' locators. */
function gatewayRestored(fed: Federation, g: OurGateway): boolean {
  return fed.dcs.every((dc) => {
    if (dc.name === g.datacenter)
      return (
        !(dc.catalog?.critical() ?? []).includes(g.name) &&
        dc.live().every((n) => n.locator.localGateways().includes(g.address))
      )
    return dc.plane?.routes.gateways(g.datacenter).includes(g.address) ?? false
  })
}

/** Every node running, every one seeing every other alive, every DC routing to every DC. */
export function converged(fed: Federation): boolean {
  return fed.live().length === fed.topology.members && agreed(fed) && federationComplete(fed)
}

/** A wait that, when it times out, says what the views held: a failed soak must be debuggable. */
async function explained(views: () => string, wait: Promise<void>): Promise<void> {
  try {
    await wait
  } catch (err) {
    if ((err as { code?: string }).code !== 'WANFED_ERR_TIMEOUT') throw err
    throw new Error(`${(err as Error).message}; views:\n${views()}`, { cause: err })
  }
}

/** What each of `observers` holds about each of `about`: `name=state/incarnation`. */
function views(observers: readonly DemoNode[], about: readonly DemoNode[]): string {
  return observers
    .map((o) => {
      const states = new Map(o.memberlist.allNodes().map((m) => [m.name, m]))
      const of = about.map((a) => {
        const m = states.get(a.name)
        return m === undefined ? `${a.name}=absent` : `${a.name}=${m.state}/${m.incarnation}`
      })
      return `    ${o.name}: ${of.join(' ')}`
    })
    .join('\n')
}
