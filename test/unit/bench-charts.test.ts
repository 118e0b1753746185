/**
 * scripts/bench-charts.ts: from the figures in BENCHMARKS.md it renders well-formed SVG with one
 * bar per ratio for every benchmark file, the committed charts and summary are what it renders
 * now, and a missing result (no section, or a section with no ratio) fails naming the benchmark.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  CHARTS_DIR,
  parseBenchmarks,
  ratiosOf,
  renderChart,
  renderSummary,
  sectionsFor,
} from '../../scripts/bench-charts.ts'

const root = new URL('../../', import.meta.url)
const markdown = readFileSync(new URL('BENCHMARKS.md', root), 'utf8')
const names = readdirSync(new URL('bench/', root))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort()

/** Parses XML enough to refuse what a browser would: unbalanced or malformed tags, bare `&` or `<`. */
function parseXml(text: string): {
  root: string
  elements: { name: string; attrs: Record<string, string> }[]
} {
  const stack: string[] = []
  const elements: { name: string; attrs: Record<string, string> }[] = []
  let root: string | undefined
  for (const token of text.match(/<[^>]*>|[^<]+/g) ?? []) {
    if (!token.startsWith('<')) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(token)) throw new Error(`bare & in ${token}`)
      if (stack.length === 0 && token.trim() !== '')
        throw new Error(`text outside the root: ${token}`)
      continue
    }
    const close = /^<\/([A-Za-z][\w:-]*)\s*>$/.exec(token)
    if (close) {
      if (stack.pop() !== close[1]) throw new Error(`unbalanced ${token}`)
      continue
    }
    const open = /^<([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(token)
    if (open === null) throw new Error(`malformed tag ${token}`)
    if (root === undefined) root = open[1]
    else if (stack.length === 0) throw new Error(`a second root ${token}`)
    const attrs = Object.fromEntries(
      [...(open[2] as string).matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    )
    elements.push({ name: open[1] as string, attrs })
    if (open[3] !== '/') stack.push(open[1] as string)
  }
  if (stack.length > 0 || root === undefined) throw new Error(`unclosed ${stack.join(', ')}`)
  return { root, elements }
}

describe('bench charts', () => {
  const sections = sectionsFor(names, markdown)

  it('renders valid SVG with one bar per ratio for every benchmark, as committed', () => {
    expect(sections.map((s) => s.name)).toEqual(names)
    for (const section of sections) {
      const ratios = ratiosOf(section)
      const svg = renderChart(section, ratios)
      const { root: top, elements } = parseXml(svg)
      expect(top).toBe('svg')
      const bars = elements.filter((e) => e.name === 'rect' && e.attrs['class'] === 'bar')
      expect(bars, section.name).toHaveLength(ratios.length)
      for (const [i, bar] of bars.entries()) {
        expect(Number(bar.attrs['width']), `${section.name} bar ${i}`).toBeGreaterThan(0)
      }
      // Longer bars for larger ratios: the drawing follows the numbers.
      const widths = bars.map((b) => Number(b.attrs['width']))
      const order = (xs: number[]) =>
        xs.map((_, i) => i).sort((a, b) => (xs[a] as number) - (xs[b] as number))
      expect(order(widths)).toEqual(order(ratios.map((r) => Math.max(r.value, 0))))
      const committed = readFileSync(new URL(`${CHARTS_DIR}/${section.name}.svg`, root), 'utf8')
      expect(committed, `${section.name}.svg is stale: npm run bench:charts`).toBe(svg)
    }
    expect(markdown, 'the summary is stale: npm run bench:charts').toContain(
      renderSummary(sections),
    )
  })

  it('reads the median of each figure, and the ratio rows', () => {
    const codec = parseBenchmarks(markdown).get('codec')
    const ratio = codec?.figures.find((f) => f.label === 'ratio write / copy')
    expect(ratio?.unit).toBe('x')
    expect(ratiosOf(codec!).map((r) => r.value)).toContain(ratio?.median)
  })

  it('fails, naming it, when a benchmark has no results or no ratio', () => {
    const withoutCodec = markdown.replace(
      /<!-- bench:codec:start -->[\s\S]*?<!-- bench:codec:end -->/,
      '',
    )
    expect(() => sectionsFor(names, withoutCodec)).toThrow(/no results for codec/)
    const gateway = parseBenchmarks(markdown).get('gateway')!
    const noRatio = { ...gateway, figures: gateway.figures.filter((f) => f.unit !== 'x') }
    expect(() => ratiosOf(noRatio)).toThrow(/gateway: no ratio against a baseline/)
    const scale = parseBenchmarks(markdown).get('federation-scale')!
    const noBaseline = {
      ...scale,
      figures: scale.figures.filter((f) => !f.label.startsWith('client CPU')),
    }
    expect(() => ratiosOf(noBaseline)).toThrow(/federation-scale: no figure/)
  })
})
