/**
 * Memberlist convergence and failure detection over MemoryNetwork, WAN profile, against
 * memberlist's own model.
 *
 * Clusters of 10, 50 and 200 nodes run `DefaultWANConfig()` (Consul's WAN pool: probe 5 s,
 * gossip 500 ms to 4 nodes, push/pull 60 s, suspicion multiplier 6) with 50 ms one-way latency.
 * So that 200 nodes finish in minutes on 2 cores, every duration (config intervals and timeouts,
 * and the network latency) is divided by TIME_SCALE and every measured time multiplied back: the
 * protocol's timing is all proportional to those durations, so the scaled figures are the
 * unscaled ones, except that CPU time (not scaled) weighs TIME_SCALE times more. That makes them
 * an upper bound if anything.
 */

import { DefaultWANConfig, Memberlist, type MemberlistOptions } from '../src/memberlist/index.ts'
import { MemoryNetwork } from '../src/transport/memory-network.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const TIME_SCALE = 5
const LATENCY_MS = 50
const SIZES = [10, 50, 200] as const
/** Model seconds allowed for convergence and for detection before a run is declared failed. */
const CONVERGE_LIMIT_S = 600
const DETECT_LIMIT_S = 900
/** Model seconds of steady state over which packets are counted. */
const STEADY_S = 30

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function scaledWan(): Partial<MemberlistOptions> {
  const c = DefaultWANConfig()
  const out: Record<string, unknown> = { ...c }
  for (const [k, v] of Object.entries(c)) {
    if (k.endsWith('Ms') && typeof v === 'number') out[k] = v / TIME_SCALE
  }
  return out as Partial<MemberlistOptions>
}

/** Polls `cond` every 5 ms; resolves with model seconds elapsed since `t0`, or NaN past `limitS`. */
async function timeUntil(cond: () => boolean, t0: number, limitS: number): Promise<number> {
  for (;;) {
    const model = ((performance.now() - t0) * TIME_SCALE) / 1000
    if (cond()) return model
    if (model > limitS) return Number.NaN
    await sleep(5)
  }
}

function stateOf(ml: Memberlist, name: string): string | undefined {
  return ml.allNodes().find((n) => n.name === name)?.state
}

interface ClusterFigures {
  convergeS: number
  packetsPerNodePerS: number
  suspectS: number
  deadAllS: number
  healthMax: number
}

async function cluster(n: number): Promise<ClusterFigures> {
  const net = new MemoryNetwork({ latencyMs: LATENCY_MS / TIME_SCALE })
  const nodes: Memberlist[] = []
  try {
    for (let i = 0; i < n; i++) {
      const name = `n${i}.dc1`
      nodes.push(
        await Memberlist.create({ ...scaledWan(), name, transport: net.createTransport(name) }),
      )
    }
    const seed = nodes[0]!
    const seedAddr = `${seed.localNode.name}/${seed.localNode.address}`
    // Every node joins one seed at once, as Consul servers join the WAN pool through one address.
    const t0 = performance.now()
    await Promise.all(nodes.slice(1).map((ml) => ml.join([seedAddr])))
    const convergeS = await timeUntil(
      () => nodes.every((ml) => ml.numMembers === n),
      t0,
      CONVERGE_LIMIT_S,
    )
    if (Number.isNaN(convergeS)) throw new Error(`${n} nodes did not converge`)

    const sentBefore = nodes.reduce((s, ml) => s + ml.stats().packets.sent, 0)
    await sleep((STEADY_S * 1000) / TIME_SCALE)
    const sentAfter = nodes.reduce((s, ml) => s + ml.stats().packets.sent, 0)
    const packetsPerNodePerS = (sentAfter - sentBefore) / n / STEADY_S

    const victim = nodes[n - 1]!
    const victimName = victim.localNode.name
    const survivors = nodes.slice(0, n - 1)
    const t1 = performance.now()
    net.partition(victimName)
    const suspectS = await timeUntil(
      () => survivors.some((ml) => stateOf(ml, victimName) !== 'alive'),
      t1,
      DETECT_LIMIT_S,
    )
    const deadAllS = await timeUntil(
      () => survivors.every((ml) => stateOf(ml, victimName) === 'dead'),
      t1,
      DETECT_LIMIT_S,
    )
    const healthMax = Math.max(...survivors.map((ml) => ml.healthScore))
    return { convergeS, packetsPerNodePerS, suspectS, deadAllS, healthMax }
  } finally {
    await Promise.all(nodes.map((ml) => ml.close()))
  }
}

/**
 * memberlist's model. Dissemination: the infection recurrence behind Serf's convergence
 * simulator (each round, every informed node tells `fanout` random others; a node stays
 * uninformed with probability (1 - 1/(n-1))^(fanout * informed)); time to inform 99.9 % of the
 * nodes, in gossip rounds times the interval. Detection: SWIM's expected time to first
 * suspicion, e/(e-1) probe periods (a period ends with the indirect probes), and Lifeguard's suspicion timeout
 * bounds `suspicionMult * max(1, log10(n)) * probeInterval` (reached with `suspicionMult - 2`
 * confirmations) up to `suspicionMaxTimeoutMult` times that.
 */
export function model(n: number): { gossipS: number; firstSuspectS: number; minDeadS: number } {
  const c = DefaultWANConfig()
  let informed = 1
  let rounds = 0
  while (informed < 0.999 * n && rounds < 1000) {
    const miss = (1 - 1 / (n - 1)) ** (c.gossipNodes * informed)
    informed += (n - informed) * (1 - miss)
    rounds++
  }
  const probeS = c.probeIntervalMs / 1000
  const firstSuspectS = (Math.E / (Math.E - 1)) * probeS
  const suspicionS = c.suspicionMult * Math.max(1, Math.log10(n)) * probeS
  return {
    gossipS: (rounds * c.gossipIntervalMs) / 1000,
    firstSuspectS,
    minDeadS: firstSuspectS + suspicionS,
  }
}

export async function run(): Promise<BenchReport> {
  const metrics: BenchMetric[] = []
  const raw: Record<string, ClusterFigures> = {}
  // Memberlist's and MemoryNetwork's timers are unref'd: without a ref'd one, Node would exit
  // while a cluster waits on them.
  const keepAlive = setInterval(() => {}, 1_000)
  try {
    for (const n of SIZES) {
      const f = await cluster(n)
      raw[n] = f
      metrics.push(
        {
          key: `converge-${n}`,
          label: `${n} nodes: full membership everywhere`,
          value: f.convergeS,
          unit: 's',
          digits: 1,
        },
        {
          key: `pps-${n}`,
          label: `${n} nodes: packets sent per node per second (steady)`,
          value: f.packetsPerNodePerS,
          unit: 'pkt/s',
          digits: 2,
        },
        {
          key: `suspect-${n}`,
          label: `${n} nodes: first suspicion after a failure`,
          value: f.suspectS,
          unit: 's',
          digits: 1,
        },
        {
          key: `dead-${n}`,
          label: `${n} nodes: dead at every survivor`,
          value: f.deadAllS,
          unit: 's',
          digits: 1,
        },
        {
          key: `health-${n}`,
          label: `${n} nodes: worst health score at the end`,
          value: f.healthMax,
          unit: '',
          digits: 0,
        },
      )
    }
  } finally {
    clearInterval(keepAlive)
  }
  return {
    title: 'memberlist convergence and failure detection (WAN profile, MemoryNetwork)',
    description: [
      `Clusters of ${SIZES.join(', ')} \`Memberlist\` nodes in one process on a \`MemoryNetwork\` with ${LATENCY_MS} ms one-way latency (fixed: MemoryNetwork has no jitter), running \`DefaultWANConfig()\` (probe 5 s, probe timeout 3 s, gossip every 500 ms to 4 nodes, push/pull 60 s, suspicion multiplier 6), as Consul runs its WAN pool. Every node joins one seed at the same moment; "full membership" is when every node lists all n members. Packets are counted over ${STEADY_S} s of steady state. Then the last node is cut off (\`partition\`): the time until the first survivor stops calling it alive, and until every survivor calls it dead.`,
      '',
      `Time is scaled: every config duration and the latency are divided by ${TIME_SCALE} and every measured time (and rate) converted back, so 200 nodes finish in minutes on 2 cores. The protocol's timing is proportional to those durations; only CPU time is not scaled (it weighs ${TIME_SCALE}x more than it would), so the figures err on the slow side. The worst health score (awareness, 0 = healthy) shows whether CPU starvation stretched probes.`,
    ].join('\n'),
    metrics,
    raw,
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  const c = DefaultWANConfig()
  const header = [
    'nodes',
    'measured full membership',
    'model gossip 99.9 %',
    'measured first suspicion',
    'model first suspicion',
    'measured dead everywhere',
    'model earliest dead',
  ]
  const sec = (v: number | undefined): string => `${(v ?? Number.NaN).toFixed(1)} s`
  const rows = SIZES.map((n) => {
    const x = model(n)
    return [
      String(n),
      sec(m[`converge-${n}`]),
      sec(x.gossipS),
      sec(m[`suspect-${n}`]),
      sec(x.firstSuspectS),
      sec(m[`dead-${n}`]),
      sec(x.minDeadS),
    ]
  })
  // Padded as Biome formats markdown tables, so `biome check` stays clean.
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`
  const lines = [
    `memberlist's model for \`DefaultWANConfig()\` (computed in \`model()\` of this file): gossip reaches 99.9 % of the nodes in the number of rounds of the infection recurrence that Serf's convergence simulator (https://www.serf.io/docs/internals/simulator.html) plots, fanout ${c.gossipNodes}, interval ${c.gossipIntervalMs} ms, no loss; first suspicion is expected after e/(e-1) probe intervals (SWIM, Das, Gupta and Motivala 2002, section 3.1); dead follows at the earliest \`suspicionMult * max(1, log10 n) * probeInterval\` later (memberlist's \`suspicionTimeout\`, reached after \`suspicionMult - 2\` independent confirmations; at most ${c.suspicionMaxTimeoutMult}x that without them).`,
    '',
    line(header),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.map(line),
  ]
  return [lines.join('\n')]
}
