/**
 * Runs the benchmarks in `bench/*.bench.ts`: all of them, or those named on the command line.
 *
 *   npm run bench                   # every benchmark
 *   npm run bench -- codec          # only bench/codec.bench.ts
 *   npm run bench -- codec --runs 5 --no-write
 *
 * Each benchmark runs `--runs` times (default 3) in this process; the median of each metric is
 * printed, written into the benchmark's section of BENCHMARKS.md (between
 * `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->`, appended if absent) and, with
 * every run's figures, to `bench/results/<name>-<sha>-<time>.json` (gitignored).
 * `--no-write` only prints. Machines with 2 cores are noisy: compare figures from one machine only.
 */

import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { writeCharts } from '../scripts/bench-charts.ts'
import { markdownTable } from './lib/markdown.ts'
import type { BenchMetric, BenchModule, BenchReport } from './types.ts'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const rootDir = path.dirname(benchDir)
const resultsDir = path.join(benchDir, 'results')
const markdownPath = path.join(rootDir, 'BENCHMARKS.md')
const SUFFIX = '.bench.ts'

interface Args {
  names: string[]
  runs: number
  write: boolean
}

function parseArgs(argv: string[]): Args {
  const args: Args = { names: [], runs: 3, write: true }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--no-write') args.write = false
    else if (arg === '--runs' || arg.startsWith('--runs=')) {
      const value = arg === '--runs' ? argv[++i] : arg.slice('--runs='.length)
      const runs = Number(value)
      if (!Number.isInteger(runs) || runs < 1)
        throw new Error(`--runs needs a positive integer, got ${value}`)
      args.runs = runs
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`)
    else args.names.push(arg.endsWith(SUFFIX) ? path.basename(arg, SUFFIX) : arg)
  }
  return args
}

/** The command as the user typed it, for BENCHMARKS.md. */
function commandLine(argv: string[]): string {
  const tail = argv.join(' ')
  if (process.env['npm_lifecycle_event'] === 'bench')
    return tail ? `npm run bench -- ${tail}` : 'npm run bench'
  return tail ? `npx tsx bench/run.ts ${tail}` : 'npx tsx bench/run.ts'
}

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: rootDir,
      encoding: 'utf8',
    }).trim()
  } catch {
    return 'nogit'
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function fmt(value: number, digits = 1): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  })
}

/** Where and how a benchmark ran; printed in its section and kept in the JSON results. */
interface BenchEnv {
  date: string
  load: string
  node: string
  platform: string
  cpu: string
  cores: string
  commit: string
  command: string
}

interface Combined {
  metric: BenchMetric
  values: number[]
  median: number
}

function combine(reports: BenchReport[]): Combined[] {
  const first = reports[0]!
  return first.metrics.map((metric) => {
    const values = reports.map((r) => {
      const m = r.metrics.find((x) => x.key === metric.key)
      if (m === undefined) throw new Error(`metric ${metric.key} missing from a run`)
      return m.value
    })
    return { metric, values, median: median(values) }
  })
}

function renderSection(
  name: string,
  report: BenchReport,
  combined: Combined[],
  notes: string[],
  env: BenchEnv,
): string {
  const runs = combined[0]?.values.length ?? 0
  const runHeads = Array.from({ length: runs }, (_, i) => `run ${i + 1}`)
  const lines = [
    `<!-- bench:${name}:start -->`,
    `### ${name}: ${report.title}`,
    '',
    report.description,
    '',
    ...markdownTable(
      ['metric', `median of ${runs}`, ...runHeads, 'unit'],
      ['left', 'right', ...runHeads.map(() => 'right' as const), 'left'],
      combined.map(({ metric, values, median: med }) => [
        metric.label,
        `**${fmt(med, metric.digits)}**`,
        ...values.map((v) => fmt(v, metric.digits)),
        metric.unit,
      ]),
    ),
    '',
    `Medians are taken per figure across the ${runs} runs (so a median ratio need not equal the ratio of the median speeds).`,
    '',
    ...notes.flatMap((n) => [n, '']),
    `- date: ${env.date}`,
    `- node: ${env.node} on ${env.platform}`,
    `- cpu: ${env.cpu} (${env.cores} logical cores; 1-min load average ${env.load} at start)`,
    `- commit: ${env.commit}`,
    `- command: \`${env.command}\``,
    `<!-- bench:${name}:end -->`,
  ]
  return lines.join('\n')
}

async function updateMarkdown(name: string, section: string): Promise<void> {
  let text: string
  try {
    text = await readFile(markdownPath, 'utf8')
  } catch {
    text = '# Benchmarks\n\nWritten by `npm run bench`; see `bench/run.ts`.\n'
  }
  const start = `<!-- bench:${name}:start -->`
  const end = `<!-- bench:${name}:end -->`
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i !== -1 && j > i) text = text.slice(0, i) + section + text.slice(j + end.length)
  else text = `${text.trimEnd()}\n\n${section}\n`
  await writeFile(markdownPath, text)
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const args = parseArgs(argv)
  const available = (await readdir(benchDir))
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort()
  const unknown = args.names.filter((n) => !available.includes(n))
  if (unknown.length > 0) {
    throw new Error(
      `unknown benchmark(s) ${unknown.join(', ')}; available: ${available.join(', ')}`,
    )
  }
  const selected = args.names.length > 0 ? args.names : available
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const commit = gitSha()

  for (const name of selected) {
    const mod = (await import(
      pathToFileURL(path.join(benchDir, name + SUFFIX)).href
    )) as Partial<BenchModule>
    if (typeof mod.run !== 'function')
      throw new Error(`bench/${name}${SUFFIX} does not export run()`)
    const startedAt = new Date().toISOString()
    // Other work on a 2-core machine skews the figures; recording the load makes that visible.
    const loadAtStart = (os.loadavg()[0] ?? 0).toFixed(2)
    const reports: BenchReport[] = []
    for (let i = 1; i <= args.runs; i++) {
      console.log(`${name}: run ${i} of ${args.runs}`)
      const report = await mod.run()
      reports.push(report)
      console.table(
        Object.fromEntries(
          report.metrics.map((m) => [m.label, { value: fmt(m.value, m.digits), unit: m.unit }]),
        ),
      )
    }
    const combined = combine(reports)
    const medians = Object.fromEntries(combined.map((c) => [c.metric.key, c.median]))
    const notes = mod.summarize?.(medians) ?? []
    console.log(`${name}: median of ${args.runs} run(s)`)
    console.table(
      Object.fromEntries(
        combined.map((c) => [
          c.metric.label,
          { median: fmt(c.median, c.metric.digits), unit: c.metric.unit },
        ]),
      ),
    )
    for (const note of notes) console.log(note)

    const env: BenchEnv = {
      date: startedAt,
      load: loadAtStart,
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu,
      cores: String(os.cpus().length),
      commit,
      command: commandLine(argv),
    }
    if (!args.write) continue
    await updateMarkdown(name, renderSection(name, reports[0]!, combined, notes, env))
    await mkdir(resultsDir, { recursive: true })
    const file = path.join(resultsDir, `${name}-${commit}-${env.date.replace(/[:.]/g, '-')}.json`)
    await writeFile(
      file,
      `${JSON.stringify({ name, env, medians, notes, runs: reports }, null, 2)}\n`,
    )
    console.log(`wrote ${path.relative(rootDir, markdownPath)} and ${path.relative(rootDir, file)}`)
  }
  // The charts and the summary at the top of BENCHMARKS.md follow the new figures.
  if (args.write) {
    for (const f of await writeCharts(rootDir)) console.log(`wrote ${path.relative(rootDir, f)}`)
  }
}

await main()
