/**
 * What the soak's process holds, sampled: RSS, V8 heap (after a full GC when the script runs with
 * `--expose-gc`, as `npm run soak` does, so a sample measures what is retained, not what is
 * waiting for the collector), Buffers outside the heap, and libuv handles by type (sockets,
 * servers, timers). The whole federation runs in this one process, so its growth is the
 * federation's.
 */

const MIB = 1024 * 1024

export interface ResourceSample {
  /** Seconds since the soak began. */
  atS: number
  /** What the federation was doing: `baseline`, `steady` (converged, before the next fault), `tick`. */
  phase: string
  rssMiB: number
  heapMiB: number
  externalMiB: number
  /** Handles and requests libuv keeps alive, by type (`TCPSocketWrap`, `Timeout`, ...). */
  handles: Record<string, number>
  handleTotal: number
  /** Whether the heap figure followed a forced full GC. */
  collected: boolean
}

/** The stated bounds: growth from the baseline to any steady sample. */
export const BOUNDS = {
  heapGrowthMiB: 32,
  rssGrowthMiB: 128,
  /** Steady samples may hold more pooled connections and timers than the baseline; not many more. */
  handleGrowthRatio: 0.25,
  /** Least-squares slope of the steady samples' heap, over runs with enough of them. */
  heapSlopeMiBPerMin: 1,
  minSamplesForSlope: 5,
} as const

export function handleCounts(): Record<string, number> {
  const byType: Record<string, number> = {}
  for (const t of process.getActiveResourcesInfo()) byType[t] = (byType[t] ?? 0) + 1
  return byType
}

function total(byType: Record<string, number>): number {
  return Object.values(byType).reduce((a, b) => a + b, 0)
}

export function sampleResources(phase: string, sinceMs: number, collect: boolean): ResourceSample {
  const gc = (globalThis as { gc?: () => void }).gc
  const collected = collect && gc !== undefined
  if (collected) gc()
  const m = process.memoryUsage()
  const handles = handleCounts()
  return {
    atS: round((performance.now() - sinceMs) / 1000),
    phase,
    rssMiB: round(m.rss / MIB),
    heapMiB: round(m.heapUsed / MIB),
    externalMiB: round(m.external / MIB),
    handles,
    handleTotal: total(handles),
    collected,
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

/** MiB per minute: the least-squares slope of heap over time. */
export function heapSlope(samples: readonly ResourceSample[]): number {
  const n = samples.length
  const mx = samples.reduce((a, s) => a + s.atS / 60, 0) / n
  const my = samples.reduce((a, s) => a + s.heapMiB, 0) / n
  let num = 0
  let den = 0
  for (const s of samples) {
    num += (s.atS / 60 - mx) * (s.heapMiB - my)
    den += (s.atS / 60 - mx) ** 2
  }
  return den === 0 ? 0 : round(num / den)
}

/** Every bound a steady sample broke, in words; empty when all held. */
export function boundViolations(
  baseline: ResourceSample,
  steady: readonly ResourceSample[],
): string[] {
  const out: string[] = []
  for (const s of steady) {
    const at = `at ${s.atS} s`
    if (s.heapMiB - baseline.heapMiB > BOUNDS.heapGrowthMiB)
      out.push(`${at}: heap ${s.heapMiB} MiB, ${BOUNDS.heapGrowthMiB} MiB over ${baseline.heapMiB}`)
    if (s.rssMiB - baseline.rssMiB > BOUNDS.rssGrowthMiB)
      out.push(`${at}: RSS ${s.rssMiB} MiB, ${BOUNDS.rssGrowthMiB} MiB over ${baseline.rssMiB}`)
    const limit = Math.ceil(baseline.handleTotal * (1 + BOUNDS.handleGrowthRatio))
    if (s.handleTotal > limit)
      out.push(`${at}: ${s.handleTotal} handles, over ${limit} (baseline ${baseline.handleTotal})`)
  }
  if (steady.length >= BOUNDS.minSamplesForSlope) {
    const slope = heapSlope([baseline, ...steady])
    if (slope > BOUNDS.heapSlopeMiBPerMin)
      out.push(
        `heap grows ${slope} MiB/min over the steady samples (bound ${BOUNDS.heapSlopeMiBPerMin})`,
      )
  }
  return out
}
