/**
 * Federation-state scale (issue 8): the primary's store and service holding 1,000 datacenters of
 * 4 mesh gateways each. Memory of the store, time to List and ListMeshGateways (in process and over
 * TLS through the gateways), and 100 secondaries' clients each holding a blocking List that one
 * Apply wakes.
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { decode, encode } from '@msgpack/msgpack'
import type { MeshGateway } from '../src/gateway/mesh-gateway.ts'
import type { FederationStateClient } from '../src/locator/federation/rpc-client.ts'
import type { ListResult } from '../src/locator/federation/store.ts'
import { FederationStateStore } from '../src/locator/federation/store.ts'
import { parseFederationState } from '../src/locator/federation/validate.ts'
import {
  FederationCerts,
  meshGateway,
  openSockets,
  primaryClient,
  startPrimary,
  startSecondaryGateway,
  waitFor,
} from './lib/federation.ts'
import { median } from './lib/fixtures.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const DCS = 1_000
const GATEWAYS_PER_DC = 4
const SECONDARIES = 100
const WAKES = 3
const LOCAL_SAMPLES = 30
const WIRE_SAMPLES = 10
const BLOCKING_WAIT_MS = 120_000
const PARK_TIMEOUT_MS = 60_000
const WAKE_TIMEOUT_MS = 60_000

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function settle(): void {
  for (let i = 0; i < 4; i++) gc()
}

function memory(): { heap: number; rss: number } {
  settle()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, rss: m.rss }
}

/** Datacenter `d`'s state: 4 gateways, distinct addresses, a passing check each. */
function dcState(d: number, generation = 0) {
  const meshGateways = Array.from({ length: GATEWAYS_PER_DC }, (_, g) =>
    meshGateway(
      `dc${d}-gw${g}`,
      `10.${(d >> 8) & 255}.${d & 255}.${g + 1}`,
      `198.${18 + (generation & 1)}.${(d >> 8) & 255}.${(d & 255) + g}`,
    ),
  )
  return { datacenter: `dc${d}`, meshGateways }
}

/** `fn`'s duration, ms. */
async function timed<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await fn()
  return { ms: performance.now() - t0, value }
}

interface Parked {
  parkMs: number
  wakeMs: number
  firstAnswerMs: number
}

/**
 * Every client issues a blocking List at the store's current index; once all are waiting in the
 * primary's store, one Apply wakes them. Times: until all are parked, until the first and the last
 * answer arrives (each checked: the new index, all 1,000 states).
 */
async function parkAndWake(
  store: FederationStateStore,
  clients: FederationStateClient[],
  round: number,
): Promise<Parked> {
  const minIndex = store.index
  const signal = AbortSignal.timeout(PARK_TIMEOUT_MS + WAKE_TIMEOUT_MS)
  const answeredAt = new Array<number>(clients.length).fill(Number.NaN)
  const t0 = performance.now()
  const answers = clients.map((c, k) =>
    c.list({ minIndex, waitMs: BLOCKING_WAIT_MS, signal }).then((r: ListResult) => {
      answeredAt[k] = performance.now()
      return r
    }),
  )
  // A failure while parking must not leave unhandled rejections behind.
  const all = Promise.all(answers)
  all.catch(() => {})
  await waitFor(
    () => store.stats().waiting >= clients.length,
    `${clients.length} blocking Lists parked`,
    PARK_TIMEOUT_MS,
  )
  const parkMs = performance.now() - t0
  if (answeredAt.some((t) => !Number.isNaN(t))) throw new Error('a blocking List returned early')
  const t1 = performance.now()
  store.upsert(dcState(500, round + 1))
  const results = await all
  const wakeMs = Math.max(...answeredAt) - t1
  const firstAnswerMs = Math.min(...answeredAt) - t1
  for (const r of results)
    if (r.index !== store.index || r.states.length !== DCS)
      throw new Error(`a woken List answered index ${r.index} with ${r.states.length} states`)
  return { parkMs, wakeMs, firstAnswerMs }
}

export async function run(): Promise<BenchReport> {
  const socketsBefore = openSockets()
  const certs = await FederationCerts.create()
  for (let d = 1; d <= SECONDARIES + 1; d++) await certs.forDc(`dc${d}`)
  const inputs = Array.from({ length: DCS }, (_, i) => dcState(i + 1))

  // Memory: the store alone, filled with 1,000 DCs, everything else already allocated.
  const before = memory()
  const store = new FederationStateStore()
  const fill = await timed(() => {
    for (const s of inputs) store.upsert(s)
  })
  const filled = memory()
  // The inputs stay alive across both readings, so only the store's own objects are counted.
  if (inputs.length !== DCS) throw new Error('inputs lost')
  const heapDelta = filled.heap - before.heap
  const rssDelta = filled.rss - before.rss

  // In process: each read right after a write, so the sorted view is rebuilt every time.
  const localList: number[] = []
  const localGateways: number[] = []
  for (let i = 0; i < LOCAL_SAMPLES; i++) {
    store.upsert(dcState(1 + (i % DCS), i + 1))
    localList.push((await timed(() => store.list())).ms)
    store.upsert(dcState(1 + (i % DCS), i))
    localGateways.push((await timed(() => store.listMeshGateways())).ms)
  }
  const encodedList = encode(store.list())
  const listBytes = encodedList.byteLength
  // What each secondary's client spends on one answer: msgpack decode and validation of every state.
  const clientCpu: number[] = []
  for (let i = 0; i < WIRE_SAMPLES; i++) {
    const r = await timed(() => {
      const o = decode(encodedList) as { states: unknown[] }
      return o.states.map((x) => parseFederationState(x))
    })
    if (r.value.length !== DCS) throw new Error('decode lost states')
    clientCpu.push(r.ms)
  }
  const gatewaysBytes = encode(store.listMeshGateways()).byteLength

  const primary = await startPrimary(certs, store)
  const gateways: MeshGateway[] = []
  const clients: FederationStateClient[] = []
  const wireList: number[] = []
  const wireListCached: number[] = []
  const wireGateways: number[] = []
  const parked: Parked[] = []
  let servedHeapDelta = 0
  let establishMs = 0
  try {
    const addSecondary = async (d: number) => {
      const gw = await startSecondaryGateway(`dc${d}`, primary.gatewayAddress)
      gateways.push(gw.gateway)
      clients.push(await primaryClient(certs, `dc${d}`, gw.address))
    }
    await addSecondary(2)
    // Over the wire from dc2: the service encodes each answer once per store generation, so a
    // write before each read makes every timed read encode; the cached figure repeats one.
    const dc2 = clients[0]!
    await dc2.list()
    for (let i = 0; i < WIRE_SAMPLES; i++) {
      store.upsert(dcState(1 + i, i + 1))
      const r = await timed(() => dc2.list())
      if (r.value.states.length !== DCS) throw new Error('List lost states')
      wireList.push(r.ms)
      wireListCached.push((await timed(() => dc2.list())).ms)
      store.upsert(dcState(1 + i, i))
      const g = await timed(() => dc2.listMeshGateways())
      if (Object.keys(g.value.gateways).length !== DCS) throw new Error('ListMeshGateways lost DCs')
      wireGateways.push(g.ms)
    }
    // The primary serving: the store, the server, gw1, both answers encoded and cached (and dc2's
    // gateway and client, which share this process).
    servedHeapDelta = memory().heap - before.heap
    for (let d = 3; d <= SECONDARIES + 1; d++) await addSecondary(d)

    // 100 secondaries: the first round dials every connection (TLS through two gateways).
    parked.push(await parkAndWake(store, clients, 0))
    establishMs = parked[0]!.parkMs
    for (let i = 1; i < WAKES; i++) parked.push(await parkAndWake(store, clients, i))
  } finally {
    for (const c of clients) await c.close()
    for (const g of gateways) await g.close()
    await primary.close()
  }
  await waitFor(() => openSockets() <= socketsBefore, 'every socket closed', 5_000).catch(() => {})
  const leftOpen = Math.max(0, openSockets() - socketsBefore)

  const warm = parked.slice(1)
  const metrics: BenchMetric[] = [
    { key: 'fillMs', label: `fill: ${DCS} upserts`, value: fill.ms, unit: 'ms', digits: 1 },
    {
      key: 'heapMiB',
      label: 'store heap delta',
      value: heapDelta / 2 ** 20,
      unit: 'MiB',
      digits: 2,
    },
    { key: 'rssMiB', label: 'store RSS delta', value: rssDelta / 2 ** 20, unit: 'MiB', digits: 1 },
    {
      key: 'heapPerDcKiB',
      label: 'store heap per DC (4 gateways)',
      value: heapDelta / DCS / 1024,
      unit: 'KiB',
      digits: 2,
    },
    {
      key: 'servedHeapMiB',
      label: 'heap delta serving: store, server, gw1, both answers cached (+ dc2 gateway, client)',
      value: servedHeapDelta / 2 ** 20,
      unit: 'MiB',
      digits: 2,
    },
    {
      key: 'listBytes',
      label: 'List answer size (msgpack)',
      value: listBytes / 2 ** 20,
      unit: 'MiB',
      digits: 2,
    },
    {
      key: 'gatewaysBytes',
      label: 'ListMeshGateways answer size (msgpack)',
      value: gatewaysBytes / 2 ** 20,
      unit: 'MiB',
      digits: 2,
    },
    {
      key: 'localListMs',
      label: 'store.list(), after a write',
      value: median(localList),
      unit: 'ms',
      digits: 3,
    },
    {
      key: 'localGatewaysMs',
      label: 'store.listMeshGateways(), after a write',
      value: median(localGateways),
      unit: 'ms',
      digits: 3,
    },
    {
      key: 'clientCpuMs',
      label: 'client CPU per List answer: decode + validate (in process)',
      value: median(clientCpu),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'wireListMs',
      label: 'List over TLS via 2 gateways, after a write',
      value: median(wireList),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'wireListCachedMs',
      label: 'List over TLS via 2 gateways, answer cached',
      value: median(wireListCached),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'wireGatewaysMs',
      label: 'ListMeshGateways over TLS via 2 gateways, after a write',
      value: median(wireGateways),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'establishMs',
      label: `${SECONDARIES} clients: dial (TLS via 2 gateways) and park a blocking List`,
      value: establishMs,
      unit: 'ms',
      digits: 0,
    },
    {
      key: 'reparkMs',
      label: `${SECONDARIES} clients: park again on open connections, median`,
      value: median(warm.map((p) => p.parkMs)),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'firstWakeMs',
      label: `one Apply wakes ${SECONDARIES}: first answer, median`,
      value: median(parked.map((p) => p.firstAnswerMs)),
      unit: 'ms',
      digits: 1,
    },
    {
      key: 'wakeMs',
      label: `one Apply wakes ${SECONDARIES}: last answer, median`,
      value: median(parked.map((p) => p.wakeMs)),
      unit: 'ms',
      digits: 0,
    },
    {
      key: 'wakeMaxMs',
      label: `one Apply wakes ${SECONDARIES}: last answer, worst of ${WAKES}`,
      value: Math.max(...parked.map((p) => p.wakeMs)),
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
    title: `the primary's store and service with ${DCS.toLocaleString('en-US')} DCs of ${GATEWAYS_PER_DC} gateways, ${SECONDARIES} blocking readers`,
    description: [
      `- Store: ${DCS.toLocaleString('en-US')} federation states (\`dc1\`..\`dc${DCS}\`) of ${GATEWAYS_PER_DC} mesh gateways each (node, service with LAN and WAN tagged addresses and \`consul-wan-federation\` meta, one passing check with output), upserted into an in-memory \`FederationStateStore\`. Memory: \`process.memoryUsage()\` after four forced GCs, before (inputs already built) and after filling; RSS includes what the allocator keeps.`,
      `- In process: \`store.list()\` and \`store.listMeshGateways()\`, each right after an upsert (the sorted view is rebuilt), median of ${LOCAL_SAMPLES}.`,
      `- Over the wire: the primary dc1 serves the store (\`FederationStateService\` on an \`AlpnServer\` behind \`MeshGateway\` gw1); a \`FederationStateClient\` in dc2 calls it through dc2's own \`MeshGateway\` and gw1, TLS 1.3 end to end on 127.0.0.1 (ECDSA P-256 certificates made in memory). Times include the service's encoding, the transfer and the client's decoding and validation of every state; "after a write": an upsert before each call, so the service encodes afresh; "cached": the same answer again. Median of ${WIRE_SAMPLES}.`,
      `- ${SECONDARIES} secondaries dc2..dc${SECONDARIES + 1}, each with its own \`MeshGateway\` (dc1 routed to gw1) and one \`FederationStateClient\` (its own TLS connection): each sends a blocking \`List\` at the current index (wait ${BLOCKING_WAIT_MS / 1000} s), timed until the primary's store counts ${SECONDARIES} waiting reads (\`stats().waiting\`); then one upsert in the primary, timed until the first and the last of the ${SECONDARIES} answers (each checked: the new index, ${DCS.toLocaleString('en-US')} states). ${WAKES} rounds per run; the first dials the connections.`,
      `- Everything (primary, ${SECONDARIES + 1} gateways, ${SECONDARIES} clients) runs in one Node process on 2 shared cores: a wake's time includes ${SECONDARIES} decodes and validations of a ${DCS.toLocaleString('en-US')}-state answer (the "client CPU per List answer" row, measured alone on the encoded List) and the transfer of ${SECONDARIES} answers through two gateway hops, all on the thread that also runs the server and the gateways; in production each secondary decodes its own answer on its own machine. Every socket is closed at the end (counted with \`process.getActiveResourcesInfo()\`).`,
    ].join('\n'),
    metrics,
    raw: { clientCpu, localList, localGateways, wireList, wireListCached, wireGateways, parked },
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  return [
    `${DCS.toLocaleString('en-US')} DCs of ${GATEWAYS_PER_DC} gateways take ${(m['heapMiB'] ?? Number.NaN).toFixed(1)} MiB of heap in the store (${(m['heapPerDcKiB'] ?? Number.NaN).toFixed(1)} KiB per DC); a List of all of them (${(m['listBytes'] ?? Number.NaN).toFixed(2)} MiB) takes ${(m['wireListMs'] ?? Number.NaN).toFixed(1)} ms over TLS through two gateways; one Apply answers ${SECONDARIES} parked blocking Lists in ${(m['wakeMs'] ?? Number.NaN).toFixed(0)} ms (last answer, median), of which about ${(SECONDARIES * (m['clientCpuMs'] ?? Number.NaN)).toFixed(0)} ms is ${SECONDARIES} clients decoding and validating their answers on this one thread (${(m['clientCpuMs'] ?? Number.NaN).toFixed(1)} ms each).`,
  ]
}
