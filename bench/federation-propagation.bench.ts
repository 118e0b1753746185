/**
 * Federation-state propagation (issue 8): time from an `Apply` in the primary until a secondary's
 * FederationGatewayLocator returns the new gateway, and until every secondary's does, over real
 * TLS through MeshGateways on loopback. Once with Consul's default rate limits, once with the
 * rates raised. Baseline: the round trip of one federation-state List over the same path.
 * Goal: under 100 ms on loopback (rates raised; the defaults bound it by design).
 */

import type { MeshGateway } from '../src/gateway/mesh-gateway.ts'
import { FederationGatewayLocator } from '../src/locator/federation/gateway-locator.ts'
import { FederationStateReplicator } from '../src/locator/federation/replicator.ts'
import type { FederationStateClient } from '../src/locator/federation/rpc-client.ts'
import { FederationStateStore } from '../src/locator/federation/store.ts'
import {
  FederationCerts,
  meshGateway,
  openSockets,
  PRIMARY,
  type Primary,
  primaryClient,
  startPrimary,
  startSecondaryGateway,
  waitFor,
} from './lib/federation.ts'
import { median, percentile } from './lib/fixtures.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const SECONDARIES = 5
const RAISED_RATE = 1000
const RAISED_WARMUP = 10
const RAISED_APPLIES = 60
const DEFAULT_APPLIES = 8
/** Applies of the defaults variant after which the bursts are spent (1-based, inclusive). */
const DEFAULT_STEADY_FROM = 6
const DEFAULT_IDLE_MS = 5_000
const LIST_WARMUP = 50
const LIST_SAMPLES = 300
const APPLY_TIMEOUT_MS = 20_000

interface Rates {
  /** FederationGatewayLocator `refreshRate` / `refreshBurst`, FederationStateReplicator `rate` / `burst`. */
  locator?: { refreshRate: number }
  replicator?: { rate: number }
}

interface Secondary {
  datacenter: string
  gateway: MeshGateway
  gatewayAddress: string
  store: FederationStateStore
  locator: FederationGatewayLocator
  client: FederationStateClient
  replicator: FederationStateReplicator
  close(): Promise<void>
}

async function startSecondary(
  certs: FederationCerts,
  datacenter: string,
  primary: Primary,
  rates: Rates,
): Promise<Secondary> {
  const { gateway, address } = await startSecondaryGateway(datacenter, primary.gatewayAddress)
  const store = new FederationStateStore()
  const locator = new FederationGatewayLocator({
    store,
    datacenter,
    primaryDatacenter: PRIMARY,
    replicates: true,
    ...rates.locator,
  }).start()
  const client = await primaryClient(certs, datacenter, address)
  const replicator = new FederationStateReplicator({
    store,
    source: client,
    locator,
    ...rates.replicator,
  }).start()
  return {
    datacenter,
    gateway,
    gatewayAddress: address,
    store,
    locator,
    client,
    replicator,
    async close() {
      await replicator.close()
      await client.close()
      await locator.close()
      await store.close()
      await gateway.close()
    },
  }
}

/** dc1's state with one gateway whose WAN address encodes `i`: the "new gateway" of Apply `i`. */
function primaryState(i: number) {
  const wan = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
  return {
    wan,
    address: `${wan}:8443`,
    state: { datacenter: PRIMARY, meshGateways: [meshGateway('gw1', '192.168.1.1', wan)] },
  }
}

interface ApplyTiming {
  first: number
  all: number
  perDc: number[]
}

/** What a timed Apply waits for in each secondary. */
type Target = 'locator' | 'store'

/** The WAN address of dc1's gateway in a secondary's replicated store. */
function replicatedWan(s: Secondary): string | undefined {
  return s.store.get(PRIMARY).state?.meshGateways[0]?.service.taggedAddresses['wan']?.address
}

/**
 * Applies dc1's state `i` in the primary's store and resolves with the time until the first and the
 * last secondary has it: its locator lists the new gateway (`update` event), or, for `'store'`, its
 * replicator has written it into the secondary's store (`round` event).
 */
function timedApply(
  primary: Primary,
  secondaries: Secondary[],
  i: number,
  target: Target = 'locator',
): Promise<ApplyTiming> {
  const { address, wan, state } = primaryState(i)
  return new Promise<ApplyTiming>((resolve, reject) => {
    const seen = new Array<number>(secondaries.length).fill(Number.NaN)
    let left = secondaries.length
    const offs: Array<() => void> = []
    const finish = (err?: Error) => {
      clearTimeout(timer)
      for (const off of offs) off()
      if (err !== undefined) reject(err)
      else resolve({ first: Math.min(...seen), all: Math.max(...seen), perDc: seen })
    }
    const timer = setTimeout(
      () => finish(new Error(`apply ${i}: ${left} secondaries did not see ${address} (${target})`)),
      APPLY_TIMEOUT_MS,
    )
    let t0 = 0
    secondaries.forEach((s, k) => {
      const has =
        target === 'locator'
          ? () => s.locator.primaryGateways().includes(address)
          : () => replicatedWan(s) === wan
      const check = () => {
        if (!Number.isNaN(seen[k]!) || !has()) return
        seen[k] = performance.now() - t0
        if (--left === 0) finish()
      }
      if (target === 'locator') {
        s.locator.on('update', check)
        offs.push(() => s.locator.off('update', check))
      } else {
        s.replicator.on('round', check)
        offs.push(() => s.replicator.off('round', check))
      }
    })
    t0 = performance.now()
    primary.store.apply({ op: 'upsert', state })
  })
}

interface Federation {
  primary: Primary
  secondaries: Secondary[]
  close(): Promise<void>
}

async function federation(certs: FederationCerts, rates: Rates): Promise<Federation> {
  const primary = await startPrimary(certs)
  // Every DC's own gateways are known to the primary, as anti-entropy would have pushed them.
  for (let k = 2; k <= SECONDARIES + 1; k++)
    primary.store.upsert({
      datacenter: `dc${k}`,
      meshGateways: [meshGateway(`gw${k}`, `192.168.${k}.1`, `203.0.113.${k}`)],
    })
  primary.store.upsert(primaryState(0).state)
  const secondaries: Secondary[] = []
  for (let k = 2; k <= SECONDARIES + 1; k++)
    secondaries.push(await startSecondary(certs, `dc${k}`, primary, rates))
  const first = primaryState(0).address
  await waitFor(
    () => secondaries.every((s) => s.locator.primaryGateways().includes(first)),
    'initial replication',
    30_000,
  )
  return {
    primary,
    secondaries,
    async close() {
      for (const s of secondaries) await s.close()
      await primary.close()
    },
  }
}

/** Round trips of a non-blocking List from dc2 through gw2 -> gw1 -> the primary's server. */
async function listRoundTrips(certs: FederationCerts, f: Federation): Promise<number[]> {
  const dc2 = f.secondaries[0]!
  const client = await primaryClient(certs, dc2.datacenter, dc2.gatewayAddress)
  try {
    for (let i = 0; i < LIST_WARMUP; i++) await client.list()
    const samples: number[] = []
    for (let i = 0; i < LIST_SAMPLES; i++) {
      const t0 = performance.now()
      const r = await client.list()
      samples.push(performance.now() - t0)
      if (r.states.length !== SECONDARIES + 1) throw new Error('List returned the wrong states')
    }
    return samples
  } finally {
    await client.close()
  }
}

export async function run(): Promise<BenchReport> {
  const socketsBefore = openSockets()
  const certs = await FederationCerts.create()
  for (let k = 1; k <= SECONDARIES + 1; k++) await certs.forDc(`dc${k}`)

  // Rates raised: the locator and the replicator read as fast as changes come.
  const raisedRates: Rates = {
    locator: { refreshRate: RAISED_RATE },
    replicator: { rate: RAISED_RATE },
  }
  const raised = await federation(certs, raisedRates)
  let listRtt: number[]
  const raisedTimings: ApplyTiming[] = []
  let raisedRounds = 0
  try {
    listRtt = await listRoundTrips(certs, raised)
    for (let i = 1; i <= RAISED_WARMUP + RAISED_APPLIES; i++) {
      const t = await timedApply(raised.primary, raised.secondaries, i)
      if (i > RAISED_WARMUP) raisedTimings.push(t)
    }
    raisedRounds = raised.secondaries[0]!.replicator.stats().rounds
  } finally {
    await raised.close()
  }

  // Consul's defaults: locator 0.2 reads/s burst 5, replicator 1 round/s burst 5.
  const defaults = await federation(certs, {})
  const defaultTimings: ApplyTiming[] = []
  const replicationTimings: ApplyTiming[] = []
  let defaultRounds = 0
  try {
    // Let the buckets refill from the set-up's reads before the first Apply.
    await new Promise((r) => setTimeout(r, DEFAULT_IDLE_MS))
    for (let i = 1; i <= DEFAULT_APPLIES; i++)
      defaultTimings.push(await timedApply(defaults.primary, defaults.secondaries, i))
    // The replicator's own bound: Applies back to back, timed until each secondary's store has them.
    for (let i = 1; i <= DEFAULT_APPLIES; i++)
      replicationTimings.push(
        await timedApply(defaults.primary, defaults.secondaries, DEFAULT_APPLIES + i, 'store'),
      )
    defaultRounds = defaults.secondaries[0]!.replicator.stats().rounds
  } finally {
    await defaults.close()
  }
  await waitFor(() => openSockets() <= socketsBefore, 'every socket closed', 5_000).catch(() => {})
  const leftOpen = Math.max(0, openSockets() - socketsBefore)

  const rttMedian = median(listRtt)
  const firsts = raisedTimings.map((t) => t.first)
  const alls = raisedTimings.map((t) => t.all)
  const steady = defaultTimings.slice(DEFAULT_STEADY_FROM - 1)
  const steadyReplication = replicationTimings.slice(DEFAULT_STEADY_FROM - 1)
  const metrics: BenchMetric[] = [
    {
      key: 'listRttMedian',
      label: 'baseline: List round trip, median',
      value: rttMedian,
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'listRttP99',
      label: 'baseline: List round trip, p99',
      value: percentile(listRtt, 99),
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'raisedFirstMedian',
      label: 'raised: first DC, median',
      value: median(firsts),
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'raisedFirstP99',
      label: 'raised: first DC, p99',
      value: percentile(firsts, 99),
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'raisedAllMedian',
      label: 'raised: all 5 DCs, median',
      value: median(alls),
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'raisedAllP99',
      label: 'raised: all 5 DCs, p99',
      value: percentile(alls, 99),
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'raisedRatioFirst',
      label: 'raised: first DC median / List round trip',
      value: median(firsts) / rttMedian,
      unit: 'x',
      digits: 2,
    },
    {
      key: 'raisedRatioAll',
      label: 'raised: all 5 DCs median / List round trip',
      value: median(alls) / rttMedian,
      unit: 'x',
      digits: 2,
    },
    {
      key: 'defaultFirstApplyFirst',
      label: 'defaults: Apply 1 (after 5 s idle), first DC',
      value: defaultTimings[0]!.first,
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'defaultFirstApplyAll',
      label: 'defaults: Apply 1 (after 5 s idle), all 5 DCs',
      value: defaultTimings[0]!.all,
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'defaultSteadyFirst',
      label: `defaults: Applies ${DEFAULT_STEADY_FROM}-${DEFAULT_APPLIES} back to back, first DC, median`,
      value: median(steady.map((t) => t.first)),
      unit: 'ms',
      digits: 0,
    },
    {
      key: 'defaultSteadyAll',
      label: `defaults: Applies ${DEFAULT_STEADY_FROM}-${DEFAULT_APPLIES} back to back, all 5 DCs, median`,
      value: median(steady.map((t) => t.all)),
      unit: 'ms',
      digits: 0,
    },
    {
      key: 'defaultReplicationFirstApply',
      label: 'defaults, replication only: Apply 1, all 5 stores',
      value: replicationTimings[0]!.all,
      unit: 'ms',
      digits: 2,
    },
    {
      key: 'defaultReplicationSteady',
      label: `defaults, replication only: Applies ${DEFAULT_STEADY_FROM}-${DEFAULT_APPLIES} back to back, all 5 stores, median`,
      value: median(steadyReplication.map((t) => t.all)),
      unit: 'ms',
      digits: 0,
    },
    {
      key: 'socketsLeftOpen',
      label: 'sockets left open after close',
      value: leftOpen,
      unit: 'sockets',
      digits: 0,
    },
  ]
  return {
    title:
      'Apply in the primary until the secondaries\u2019 FederationGatewayLocators list the new gateway',
    description: [
      `- Topology, one process on 127.0.0.1, TLS 1.3 end to end (ECDSA P-256 certificates made in memory): the primary dc1 (a \`FederationStateStore\`, \`FederationStateService\` on an \`AlpnServer\`, behind \`MeshGateway\` gw1) and ${SECONDARIES} secondaries dc2..dc${SECONDARIES + 1}, each with its own \`MeshGateway\` (dc1 routed to gw1), store, \`FederationGatewayLocator\` (\`replicates: true\`), \`FederationStateClient\` and \`FederationStateReplicator\`. Replication runs client -> gw<k> -> gw1 -> server.`,
      `- One Apply: \`store.apply({ op: 'upsert' })\` in the primary of dc1's state with its one gateway's WAN address changed; timed from just before the call until each secondary's locator emits \`update\` with the new address in \`primaryGateways()\`. "First DC" is the earliest secondary, "all" the last. Applies run back to back (the next once all ${SECONDARIES} have it).`,
      `- Rates raised: \`new FederationGatewayLocator({ refreshRate: ${RAISED_RATE} })\` and \`new FederationStateReplicator({ rate: ${RAISED_RATE} })\` (bursts left at 5); ${RAISED_WARMUP} warm-up Applies, then ${RAISED_APPLIES} timed.`,
      `- Defaults (Consul's): locator \`refreshRate\` 0.2/s, \`refreshBurst\` 5; replicator \`rate\` 1/s, \`burst\` 5. After set-up and ${DEFAULT_IDLE_MS / 1000} s idle, ${DEFAULT_APPLIES} Applies back to back: Apply 1 is served from the buckets; from Apply ${DEFAULT_STEADY_FROM} on the bursts are spent and each waits for a token. Then, in the same federation, ${DEFAULT_APPLIES} more Applies back to back timed only until each secondary's replicator has written the new state into its store (its \`round\` event): the replicator's own bound, without the locator's.`,
      `- Baseline: a non-blocking \`List\` of the ${SECONDARIES + 1}-DC store by a separate \`FederationStateClient\` in dc2 over the same path (dc2's gateway, gw1, the server), on one established connection; ${LIST_WARMUP} warm-up, ${LIST_SAMPLES} timed, in the same run. Ratio = propagation median / List median.`,
      '- Every socket is closed at the end (counted with `process.getActiveResourcesInfo()`).',
    ].join('\n'),
    metrics,
    raw: {
      listRtt,
      raised: raisedTimings,
      defaults: defaultTimings,
      defaultsReplication: replicationTimings,
      replicatorRounds: { raised: raisedRounds, defaults: defaultRounds },
    },
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  const all = m['raisedAllMedian'] ?? Number.NaN
  const p99 = m['raisedAllP99'] ?? Number.NaN
  const met = all < 100 && p99 < 100
  return [
    `Goal (under 100 ms on loopback, rates raised) ${met ? 'met' : 'NOT met'}: all ${SECONDARIES} DCs' locators list the new gateway ${all.toFixed(1)} ms after the Apply (median; p99 ${p99.toFixed(1)} ms), ${(m['raisedRatioAll'] ?? Number.NaN).toFixed(1)}x one List round trip.`,
    `With Consul's default rates a lone Apply (buckets full) reaches all ${SECONDARIES} in ${(m['defaultFirstApplyAll'] ?? Number.NaN).toFixed(1)} ms; back-to-back Applies once the bursts are spent take ${(m['defaultSteadyAll'] ?? Number.NaN).toFixed(0)} ms each to reach the locators (the locator's 0.2 reads/s allows one read per 5 s) and ${(m['defaultReplicationSteady'] ?? Number.NaN).toFixed(0)} ms each to reach the secondaries' stores (the replicator's 1 round/s). Raise \`refreshRate\` (FederationGatewayLocator) and \`rate\` (FederationStateReplicator) for sub-second propagation of bursts of changes.`,
  ]
}
