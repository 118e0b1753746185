/**
 * Draws one SVG chart per benchmark family from the figures `bench/run.ts` wrote into
 * BENCHMARKS.md, and rewrites the summary at the top of BENCHMARKS.md (between
 * `<!-- bench-charts:start -->` and `<!-- bench-charts:end -->`): every benchmark, its command, its
 * ratios against its baseline and its chart. Fails, naming it, when a `bench/*.bench.ts` has no
 * section or a section has no ratio: every benchmark must report against a baseline.
 *
 *   npm run bench:charts
 *
 * `bench/run.ts` runs it after writing new figures. Hand-written SVG: no dependency.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { markdownTable } from '../bench/lib/markdown.ts'

const rootDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
export const CHARTS_DIR = 'bench/charts'
const START = '<!-- bench-charts:start -->'
const END = '<!-- bench-charts:end -->'

export interface BenchFigure {
  label: string
  median: number
  unit: string
}

export interface BenchSection {
  name: string
  title: string
  command: string
  figures: BenchFigure[]
  /** Every other table of the section, as rows of cells (header row first). */
  tables: string[][][]
}

export interface Ratio {
  label: string
  value: number
}

/** A figure's cell as a number: `**1,502.3**` or `0.6 s` to 1502.3 and 0.6. */
function num(cell: string): number {
  const m = /-?[\d,]+(\.\d+)?/.exec(cell.replace(/\*/g, ''))
  return m === null ? Number.NaN : Number(m[0].replace(/,/g, ''))
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim())
}

/** The sections `bench/run.ts` writes, by benchmark name. */
export function parseBenchmarks(markdown: string): Map<string, BenchSection> {
  const out = new Map<string, BenchSection>()
  for (const m of markdown.matchAll(
    /<!-- bench:([\w-]+):start -->([\s\S]*?)<!-- bench:\1:end -->/g,
  )) {
    const name = m[1] as string
    const body = m[2] as string
    const title = /^### [\w-]+: (.*)$/m.exec(body)?.[1] ?? name
    const command = /^- command: `([^`]+)`$/m.exec(body)?.[1] ?? `npm run bench -- ${name}`
    const tables: string[][][] = []
    let current: string[][] | undefined
    for (const line of body.split('\n')) {
      if (!line.startsWith('|')) {
        current = undefined
        continue
      }
      if (/^\|[\s:|-]+\|$/.test(line)) continue // the rule under the header
      if (current === undefined) {
        current = []
        tables.push(current)
      }
      current.push(cells(line))
    }
    const main = tables.find((t) => t[0]?.[0] === 'metric')
    const figures = (main ?? []).slice(1).map((row) => ({
      label: row[0] as string,
      median: num(row[1] as string),
      unit: row.at(-1) as string,
    }))
    out.set(name, { name, title, command, figures, tables: tables.filter((t) => t !== main) })
  }
  return out
}

function figure(section: BenchSection, label: string): number {
  const f = section.figures.find((x) => x.label === label)
  if (f === undefined) throw new Error(`${section.name}: no figure ${JSON.stringify(label)}`)
  return f.median
}

/**
 * Families whose benchmark reports no ratio of its own: the ratio is derived from its figures,
 * against the baseline named in the label.
 */
const DERIVED: Record<string, (s: BenchSection) => Ratio[]> = {
  'federation-scale': (s) => [
    {
      label: 'List over TLS via 2 gateways / decode + validate in process',
      value:
        figure(s, 'List over TLS via 2 gateways, after a write') /
        figure(s, 'client CPU per List answer: decode + validate (in process)'),
    },
    {
      label: 'one Apply wakes 100, first answer / one List over TLS',
      value:
        figure(s, 'one Apply wakes 100: first answer, median') /
        figure(s, 'List over TLS via 2 gateways, answer cached'),
    },
  ],
  // Against memberlist's own model of DefaultWANConfig, which the benchmark prints beside.
  'memberlist-convergence': (s) => {
    const model = s.tables.find((t) => t[0]?.[0] === 'nodes')
    if (model === undefined) throw new Error(`${s.name}: no model table`)
    const head = model[0] as string[]
    const col = (prefix: string) => head.findIndex((h) => h.startsWith(prefix))
    const pairs = [
      ['full membership', col('measured full'), col('model gossip')],
      ['first suspicion', col('measured first'), col('model first')],
      ['dead everywhere', col('measured dead'), col('model earliest')],
    ] as const
    return model.slice(1).flatMap((row) =>
      pairs.map(([what, measured, predicted]) => ({
        label: `${row[0]} nodes: ${what}, measured / model`,
        value: num(row[measured] ?? '') / num(row[predicted] ?? ''),
      })),
    )
  },
}

/** What each family's ratio means, shown under its chart's title. */
const READING: Record<string, string> = {
  codec: 'decoder speed / copying every byte once: higher is better',
  transport: 'WanfedTransport throughput / its baseline: higher is better',
  'pool-memory': 'memory per connection / raw TLS: lower is better',
  gateway: 'MeshGateway throughput / baseline: higher is better',
  'federation-propagation': 'propagation time / one List round trip: lower is better',
  'federation-scale': 'time / baseline (derived from the figures): lower is better',
  'memberlist-codec': 'wanfed time / Go memberlist time: lower is better',
  'memberlist-convergence': "measured / memberlist's model: 1 is as predicted",
}

/** A family's ratios against its baseline: its `x` figures, or the derived ones. */
export function ratiosOf(section: BenchSection): Ratio[] {
  const derive = DERIVED[section.name]
  const ratios = derive
    ? derive(section)
    : section.figures
        .filter((f) => f.unit === 'x')
        .map((f) => ({ label: f.label, value: f.median }))
  if (ratios.length === 0) throw new Error(`${section.name}: no ratio against a baseline`)
  for (const r of ratios) {
    if (!Number.isFinite(r.value)) throw new Error(`${section.name}: ${r.label} is not a number`)
  }
  return ratios
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}

const fixed = (n: number) => Number(n.toFixed(1)).toString()

/** A horizontal bar per ratio, with the baseline (1.0) drawn across. */
export function renderChart(section: BenchSection, ratios: readonly Ratio[]): string {
  const labelW = 430
  const plotW = 330
  const rowH = 26
  const top = 62
  const width = labelW + plotW + 60
  const height = top + ratios.length * rowH + 34
  const max = Math.max(1.2, ...ratios.map((r) => r.value)) * 1.08
  const x = (v: number) => labelW + (v / max) * plotW
  const bars = ratios.map((r, i) => {
    const y = top + i * rowH
    const w = Math.max(1, x(r.value) - labelW)
    return [
      `  <text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${escapeXml(r.label)}</text>`,
      `  <rect class="bar" x="${labelW}" y="${y + 4}" width="${fixed(w)}" height="${rowH - 8}"><title>${escapeXml(`${r.label}: ${r.value.toFixed(2)}x`)}</title></rect>`,
      `  <text x="${fixed(labelW + w + 6)}" y="${y + 17}">${r.value.toFixed(2)}x</text>`,
    ].join('\n')
  })
  const base = fixed(x(1))
  const bottom = top + ratios.length * rowH
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `  <title>${escapeXml(`${section.name}: ${section.title}`)}</title>`,
    '  <style>.bar { fill: #4a78b5 } .base { stroke: #c0392b; stroke-dasharray: 4 3 } text { fill: #222 }</style>',
    `  <rect width="${width}" height="${height}" fill="#fff"/>`,
    `  <text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(section.name)}: ratio against its baseline</text>`,
    `  <text x="12" y="42" fill="#555">${escapeXml(READING[section.name] ?? 'ratio against the baseline')}</text>`,
    ...bars,
    `  <line class="base" x1="${base}" y1="${top - 4}" x2="${base}" y2="${bottom + 4}"/>`,
    `  <text x="${base}" y="${bottom + 22}" text-anchor="middle" fill="#c0392b">baseline 1.0</text>`,
    '</svg>',
    '',
  ].join('\n')
}

/** The summary BENCHMARKS.md starts with: every benchmark, its command, its ratios, its chart. */
export function renderSummary(sections: readonly BenchSection[]): string {
  const rows = sections.map((s) => [
    s.name,
    `\`${s.command}\``,
    ratiosOf(s)
      .map((r) => `${r.label}: **${r.value.toFixed(2)}x**`)
      .join('; '),
  ])
  return [
    START,
    '## Every benchmark against its baseline',
    '',
    'Drawn by `npm run bench:charts` (scripts/bench-charts.ts) from the medians in the sections',
    'below; `bench/run.ts` redraws them after each run. Where a benchmark reports no ratio itself,',
    'the ratio is derived from its figures, against the baseline its label names.',
    '',
    ...markdownTable(
      ['benchmark', 'command', 'ratio against baseline'],
      ['left', 'left', 'left'],
      rows,
    ),
    '',
    ...sections.flatMap((s) => [`![${s.name}](${CHARTS_DIR}/${s.name}.svg)`, '']),
    END,
  ].join('\n')
}

/** Every benchmark file's section, in file order; throws naming any without one. */
export function sectionsFor(names: readonly string[], markdown: string): BenchSection[] {
  const parsed = parseBenchmarks(markdown)
  const missing = names.filter((n) => !parsed.has(n))
  if (missing.length > 0) {
    throw new Error(
      `BENCHMARKS.md has no results for ${missing.join(', ')}: run npm run bench -- <name>`,
    )
  }
  return names.map((n) => parsed.get(n) as BenchSection)
}

/** Writes every chart and the summary; returns the files written. */
export async function writeCharts(root = rootDir): Promise<string[]> {
  const names = (await readdir(path.join(root, 'bench')))
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.slice(0, -'.bench.ts'.length))
    .sort()
  const mdPath = path.join(root, 'BENCHMARKS.md')
  const markdown = await readFile(mdPath, 'utf8')
  const sections = sectionsFor(names, markdown)
  const written: string[] = []
  await mkdir(path.join(root, CHARTS_DIR), { recursive: true })
  for (const s of sections) {
    const file = path.join(root, CHARTS_DIR, `${s.name}.svg`)
    await writeFile(file, renderChart(s, ratiosOf(s)))
    written.push(file)
  }
  const summary = renderSummary(sections)
  const i = markdown.indexOf(START)
  const j = markdown.indexOf(END)
  const next =
    i !== -1 && j > i
      ? markdown.slice(0, i) + summary + markdown.slice(j + END.length)
      : markdown.replace(/\n## /, `\n${summary}\n\n## `)
  await writeFile(mdPath, next)
  written.push(mdPath)
  return written
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of await writeCharts()) console.log(`wrote ${path.relative(rootDir, f)}`)
}
