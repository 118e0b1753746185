/**
 * The admin endpoint's metric table stays complete and honest: every number a live `stats()`
 * reports becomes a metric, each metric's type agrees with the kind docs/observability.md gives
 * its field, every metric is listed in that page, and names follow Prometheus conventions.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { type ComponentKind, familiesOf, METRIC_SPECS } from '../../src/admin/metrics.ts'
import { FederationGatewayLocator, FederationStateStore } from '../../src/locator/index.ts'
import { statSources } from '../helpers/stat-sources.ts'

const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8')

/** Each numeric leaf's dotted path (map keys as they are). */
function numericLeaves(value: unknown, path: string[] = []): string[] {
  if (typeof value === 'number') return [path.join('.')]
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return []
  return Object.entries(value).flatMap(([k, v]) => numericLeaves(v, [...path, k]))
}

function covered(kind: ComponentKind, leaf: string): boolean {
  return METRIC_SPECS[kind].some((spec) => {
    const want = spec.path.split('.')
    const got = leaf.split('.')
    return want.length === got.length && want.every((seg, i) => seg === '*' || seg === got[i])
  })
}

/** `| \`path\` | kind |` rows of the page. */
function documentedKinds(): Map<string, string> {
  const rows = new Map<string, string>()
  for (const m of doc.matchAll(/^\| `([^`]+)`\s*\| (\w+)\s*\|/gm))
    rows.set(m[1] as string, m[2] as string)
  return rows
}

const placeholders: Record<string, string> = {
  byAlpn: '<protocol>',
  byTypeByte: '<byte>',
  rejected: '<reason>',
  routes: '<kind>',
  targets: '<key>',
  protocolErrors: '<code>',
}

describe('admin metrics', () => {
  it('covers every number each component reports', async () => {
    const { memory, net, wanfed, server, gateway, close } = statSources()
    const store = new FederationStateStore()
    const locator = new FederationGatewayLocator({
      store,
      datacenter: 'dc2',
      primaryDatacenter: 'dc1',
    })
    try {
      const live: [ComponentKind, unknown][] = [
        ['transport', memory.stats()],
        ['transport', net.stats()],
        ['transport', { ...wanfed.stats(), inner: undefined }],
        ['server', server.stats()],
        ['gateway', gateway.stats()],
        ['store', store.stats()],
        ['locator', { ...locator.stats(), ...locator.decision() }],
      ]
      for (const [kind, stats] of live) {
        for (const leaf of numericLeaves(stats))
          expect(covered(kind, leaf), `${kind} ${leaf}`).toBe(true)
        // And each spec that matches yields a sample.
        expect(familiesOf(kind, 'x', stats).some((f) => f.samples.length > 0)).toBe(true)
      }
    } finally {
      await Promise.all([close(), locator.close(), store.close()])
    }
  })

  it("agrees with docs/observability.md on each field's kind, and lists every metric there", () => {
    const kinds = documentedKinds()
    for (const [kind, specs] of Object.entries(METRIC_SPECS)) {
      for (const spec of specs) {
        const segs = spec.path.split('.')
        const docPath = segs
          .map((s, i) => (s === '*' ? placeholders[segs[i - 1] as string] : s))
          .join('.')
        const documented = kinds.get(docPath)
        if (documented !== undefined && documented !== 'object') {
          const expected = documented === 'counter' ? 'counter' : 'gauge'
          expect(spec.type, `${kind} ${spec.path} is a ${documented}`).toBe(expected)
        }
        expect(doc, `${spec.name} in docs/observability.md`).toContain(`\`${spec.name}\``)
      }
    }
  })

  it('follows the naming conventions: wanfed_ prefix, _total exactly on counters, a HELP text', () => {
    const names = new Set<string>()
    for (const specs of Object.values(METRIC_SPECS)) {
      for (const spec of specs) {
        expect(spec.name).toMatch(/^wanfed_[a-z0-9_]+$/)
        expect(spec.name.endsWith('_total'), spec.name).toBe(spec.type === 'counter')
        expect(spec.help).toMatch(/^[A-Z1'].*\.$/)
        expect(names.has(spec.name), spec.name).toBe(false)
        names.add(spec.name)
      }
    }
  })
})
