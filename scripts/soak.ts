/**
 * `npm run soak`: ten minutes (by default) of three-DC gossip through wanfed's gateways with a
 * failure every minute; see `scripts/soak/` and `docs/reliability.md`. Not part of `npm test`; a
 * one-minute run of it is (`test/reliability/soak.test.ts`).
 *
 * Exit status: 0 when every rule held, 1 when one broke (each is printed), 2 for a bad option,
 * 130 when interrupted (Ctrl-C: everything is closed first).
 */

import { setMaxListeners } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { timestamped } from '../examples/federation/view.ts'
import { parseSoakArgs, SOAK_USAGE } from './soak/options.ts'
import { runSoak, type SoakReport } from './soak/run.ts'

function summary(r: SoakReport): string[] {
  const { exchanges: x, messages: m } = r.traffic
  const codes = (f: Record<string, number>) =>
    Object.entries(f)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ') || 'none'
  const by = new Map<string, number[]>()
  for (const f of r.faults) by.set(f.kind, [...(by.get(f.kind) ?? []), f.convergedMs])
  return [
    `soak: ${r.soakS} s of faults, ${r.faults.length} faults, converged from start in ${r.convergedFromStartMs} ms`,
    ...[...by].map(
      ([kind, ms]) =>
        `  ${kind} ×${ms.length}: converged again after ${ms.map((t) => `${(t / 1000).toFixed(1)} s`).join(', ')}`,
    ),
    `  exchanges (push/pull streams): ${x.started} started, ${x.completed} completed, failed: ${codes(x.failed)} (outside faults: ${codes(x.failedOutsideFault)}), hung ${x.hung}`,
    `  messages (reliable user messages): ${m.started} sent, ${m.completed} resolved, ${m.delivered} delivered ` +
      `(${(m.bytesDelivered / 1024 / 1024).toFixed(1)} MiB), failed: ${codes(m.failed)} (outside faults: ${codes(m.failedOutsideFault)}), hung ${m.hung}, ` +
      `undelivered in a fault ${m.undeliveredInFault}, lost ${m.lost}, corrupt ${m.corrupt}, duplicate ${m.duplicate}, misdelivered ${m.misdelivered}`,
    `  memory: baseline heap ${r.baseline?.heapMiB} MiB, RSS ${r.baseline?.rssMiB} MiB; steady heap ` +
      `${r.steady.map((s) => s.heapMiB).join(' ')} MiB; RSS ${r.steady.map((s) => s.rssMiB).join(' ')} MiB; ` +
      `peak RSS ${r.peakRssMiB} MiB; heap slope ${r.heapSlopeMiBPerMin} MiB/min`,
    `  handles: baseline ${r.baseline?.handleTotal}, steady ${r.steady.map((s) => s.handleTotal).join(' ')}; ` +
      `after close ${Object.values(r.handlesAfterClose).reduce((a, b) => a + b, 0)} (before start ${Object.values(r.handlesBefore).reduce((a, b) => a + b, 0)})`,
    r.violations.length === 0 ? 'soak passed' : `soak FAILED:\n  ${r.violations.join('\n  ')}`,
  ]
}

const log = timestamped(console.log)
let parsed: ReturnType<typeof parseSoakArgs>
try {
  parsed = parseSoakArgs(process.argv.slice(2))
} catch (err) {
  console.error(`error: ${(err as Error).message} (see --help)`)
  process.exit(2)
}
if (parsed.help) {
  console.log(SOAK_USAGE)
} else {
  const options = parsed.options
  const interrupt = new AbortController()
  setMaxListeners(0, interrupt.signal)
  process.once('SIGINT', () => interrupt.abort())
  if ((globalThis as { gc?: unknown }).gc === undefined)
    log('note: run with --expose-gc (npm run soak does) so heap samples follow a full GC')
  log(
    `soak: ${options.dcs} DCs × ${options.nodes} nodes, a fault every ${options.everyS} s for ${options.minutes} min`,
  )
  const report = await runSoak(options, log, interrupt.signal)
  for (const line of summary(report)) log(line)
  if (options.json !== undefined)
    await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`)
  process.exitCode = interrupt.signal.aborted ? 130 : report.violations.length === 0 ? 0 : 1
}
