/**
 * The soak, start to end: the demo's federation (wanfed's MeshGateways, memberlist on every node,
 * federation states replicated from the primary), converged; steady traffic on top of gossip; a
 * warm-up, then the baseline sample; a fault every interval, each to convergence, and a steady
 * sample before the next; then the books: bounds, streams, and every handle back after close.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { converge } from '../../examples/federation/convergence.ts'
import { Federation } from '../../examples/federation/federation.ts'
import { memberlistTiming } from '../../examples/federation/timing.ts'
import { PlainView } from '../../examples/federation/view.ts'
import { type FaultRecord, FaultWindows, runFault } from './faults.ts'
import type { SoakOptions } from './options.ts'
import {
  BOUNDS,
  boundViolations,
  heapSlope,
  type ResourceSample,
  sampleResources,
} from './resources.ts'
import { SoakTraffic, type TrafficLedger } from './traffic.ts'

const WARM_UP_MS = 20_000
const TICK_SAMPLE_MS = 10_000
/** After the traffic stops: the last deliveries land. */
const DRAIN_MS = 3_000
/** After close: sockets finish closing, grace timers run out. */
const RELEASE_DEADLINE_MS = 10_000

export interface SoakReport {
  options: SoakOptions
  startedAt: string
  /** From the first fault's start to the traffic's stop. */
  soakS: number
  convergedFromStartMs: number
  faults: FaultRecord[]
  traffic: TrafficLedger
  /** Keys (`sender#seq`) of messages lost outside any fault, if any. */
  lostMessages: string[]
  bounds: typeof BOUNDS
  baseline: ResourceSample | undefined
  steady: ResourceSample[]
  ticks: ResourceSample[]
  heapSlopeMiBPerMin: number | undefined
  peakRssMiB: number
  handlesBefore: Record<string, number>
  handlesAfterClose: Record<string, number>
  /** Everything that broke a rule, in words; empty when the soak passed. */
  violations: string[]
}

export async function runSoak(
  options: SoakOptions,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<SoakReport> {
  const since = performance.now()
  const handlesBefore = sampleResources('before', since, true).handles
  const windows = new FaultWindows()
  let fed: Federation | undefined
  const traffic = new SoakTraffic(
    () => fed as Federation,
    (at, slack) => windows.covers(at, slack),
  )
  fed = new Federation(
    { dcs: options.dcs, nodes: options.nodes, gateway: 'ours', encrypt: false, follow: false },
    memberlistTiming(),
    (name) => traffic.delegateFor(name),
  )
  const report: SoakReport = {
    options,
    startedAt: new Date().toISOString(),
    soakS: 0,
    convergedFromStartMs: 0,
    faults: [],
    traffic: traffic.ledger(),
    lostMessages: [],
    bounds: BOUNDS,
    baseline: undefined,
    steady: [],
    ticks: [],
    heapSlopeMiBPerMin: undefined,
    peakRssMiB: 0,
    handlesBefore,
    handlesAfterClose: {},
    violations: [],
  }
  const ticker = setInterval(() => {
    const s = sampleResources('tick', since, false)
    report.ticks.push(s)
    log(`sample: RSS ${s.rssMiB} MiB, heap ${s.heapMiB} MiB, ${s.handleTotal} handles`)
  }, TICK_SAMPLE_MS)
  let trafficStarted = false
  try {
    await fed.start(signal, log)
    const conv = await converge(fed, new PlainView(log, 60_000), {
      since,
      deadlineMs: 90_000,
      signal,
    })
    report.convergedFromStartMs = Math.round(conv.allMembersMs)
    traffic.start()
    trafficStarted = true
    log(`traffic on; warming up for ${WARM_UP_MS / 1000} s`)
    await sleep(WARM_UP_MS, undefined, { signal })
    report.baseline = sampleResources('baseline', since, true)
    log(describe('baseline', report.baseline))

    const soakStart = performance.now()
    const end = soakStart + options.minutes * 60_000
    for (let round = 0; ; round++) {
      const at = soakStart + round * options.everyS * 1000
      if (at >= end) break
      if (at > performance.now()) await sleep(at - performance.now(), undefined, { signal })
      if (round > 0) {
        const s = sampleResources('steady', since, true)
        report.steady.push(s)
        log(describe('steady', s))
      }
      const window = windows.open(performance.now())
      const record = await runFault({ fed, signal, log, since }, round)
      window.close(performance.now())
      report.faults.push(record)
      log(
        `${record.kind} of ${record.target}: seen everywhere after ${record.effectMs} ms, ` +
          `healed at ${record.healedMs} ms, converged at ${record.convergedMs} ms`,
      )
    }
    if (end > performance.now()) await sleep(end - performance.now(), undefined, { signal })
    const last = sampleResources('steady', since, true)
    report.steady.push(last)
    log(describe('steady', last))
    report.soakS = Math.round((performance.now() - soakStart) / 1000)
  } catch (err) {
    report.violations.push(`the soak stopped: ${(err as Error).message}`)
  } finally {
    clearInterval(ticker)
    if (trafficStarted) {
      await traffic.stop()
      await sleep(DRAIN_MS)
    }
    report.traffic = traffic.ledger()
    report.lostMessages = traffic.lostKeys().slice(0, 20)
    try {
      await fed.close()
    } catch (err) {
      report.violations.push(`closing the federation failed: ${(err as Error).message}`)
    }
  }
  report.handlesAfterClose = await handlesReleased(handlesBefore, since)
  judge(report)
  return report
}

/** The handle counts after close, waited for (up to a deadline) to fall back to `before`'s. */
async function handlesReleased(
  before: Record<string, number>,
  since: number,
): Promise<Record<string, number>> {
  const deadline = performance.now() + RELEASE_DEADLINE_MS
  for (;;) {
    const now = sampleResources('after', since, true).handles
    if (excess(before, now).length === 0 || performance.now() > deadline) return now
    await sleep(200)
  }
}

function excess(before: Record<string, number>, after: Record<string, number>): string[] {
  return Object.entries(after)
    .filter(([type, n]) => n > (before[type] ?? 0))
    .map(([type, n]) => `${type} ${before[type] ?? 0} → ${n}`)
}

function judge(r: SoakReport): void {
  const v = r.violations
  const { exchanges: x, messages: m } = r.traffic
  if (r.baseline !== undefined) {
    v.push(...boundViolations(r.baseline, r.steady))
    if (r.steady.length > 0) r.heapSlopeMiBPerMin = heapSlope([r.baseline, ...r.steady])
  }
  r.peakRssMiB = Math.max(0, ...[...r.ticks, ...r.steady].map((s) => s.rssMiB))
  if (x.completed === 0 || m.delivered === 0) v.push('no traffic completed')
  for (const [what, c] of [
    ['exchanges', x],
    ['messages', m],
  ] as const) {
    if (c.hung > 0) v.push(`${c.hung} ${what} hung (unsettled after 30 s)`)
    if (c.untyped.length > 0)
      v.push(
        `${c.untyped.length} ${what} failed with untyped errors: ${c.untyped.slice(0, 3).join('; ')}`,
      )
  }
  if (m.lost > 0) v.push(`${m.lost} messages lost outside any fault: ${r.lostMessages.join(', ')}`)
  if (m.corrupt > 0) v.push(`${m.corrupt} messages delivered corrupt`)
  if (m.duplicate > 0) v.push(`${m.duplicate} messages delivered twice`)
  if (m.misdelivered > 0) v.push(`${m.misdelivered} messages delivered to the wrong node`)
  const left = excess(r.handlesBefore, r.handlesAfterClose)
  if (left.length > 0) v.push(`handles not released after close: ${left.join(', ')}`)
}

function describe(phase: string, s: ResourceSample): string {
  const types = Object.entries(s.handles)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ')
  return `${phase}: RSS ${s.rssMiB} MiB, heap ${s.heapMiB} MiB (after GC: ${s.collected}), external ${s.externalMiB} MiB, ${s.handleTotal} handles (${types})`
}
