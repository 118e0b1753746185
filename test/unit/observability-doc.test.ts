/**
 * Keeps docs/observability.md complete: every diagnostics channel wanfed publishes on, with every
 * field of its payload type (read from the channel's type in src/internal/diagnostics.ts with the
 * TypeScript compiler), and every field every class's `stats()` returns.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { ALPN_DIAGNOSTICS_CHANNELS } from '../../src/alpn/index.ts'
import { GATEWAY_DIAGNOSTICS_CHANNELS } from '../../src/gateway/index.ts'
import { channels } from '../../src/internal/diagnostics.ts'
import { statSources } from '../helpers/stat-sources.ts'

const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8')

/** The body under the `###` heading that contains `title`. */
function section(title: string): string {
  const parts = doc.split(/^### /m)
  const found = parts.filter((p) => (p.split('\n')[0] as string).includes(title))
  expect(found, `docs/observability.md has one "### ...${title}..." section`).toHaveLength(1)
  return found[0] as string
}

/** Payload fields of each channel, from the type parameter of `channels.<key>.publish`. */
function payloadFields(): Map<string, string[]> {
  const file = fileURLToPath(new URL('../../src/internal/diagnostics.ts', import.meta.url))
  const program = ts.createProgram([file], {
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    module: ts.ModuleKind.Node20,
    target: ts.ScriptTarget.ES2023,
    types: ['node'],
  })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(file) as ts.SourceFile
  const moduleSymbol = checker.getSymbolAtLocation(source) as ts.Symbol
  const exported = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === 'channels')
  if (exported === undefined) throw new Error('src/internal/diagnostics.ts exports no channels')
  const result = new Map<string, string[]>()
  for (const channel of checker.getTypeOfSymbol(exported).getProperties()) {
    const publish = checker.getTypeOfSymbol(channel).getProperty('publish') as ts.Symbol
    const [signature] = checker.getTypeOfSymbol(publish).getCallSignatures()
    const param = signature?.getParameters()[0] as ts.Symbol
    result.set(
      channel.name,
      checker
        .getTypeOfSymbol(param)
        .getProperties()
        .map((p) => p.name),
    )
  }
  return result
}

describe('docs/observability.md', () => {
  it('describes every diagnostics channel, by its exported name, with every payload field', () => {
    const published = Object.entries(channels).map(([key, c]) => [key, c.name] as const)
    const exported = { ...ALPN_DIAGNOSTICS_CHANNELS, ...GATEWAY_DIAGNOSTICS_CHANNELS }
    // Every channel is named in a public module, and every public name is a channel.
    expect(Object.fromEntries(published)).toEqual(exported)
    const fields = payloadFields()
    expect([...fields.keys()].sort()).toEqual(published.map(([key]) => key).sort())
    for (const [key, name] of published) {
      expect(name).toMatch(/^wanfed:/)
      const body = section(`\`${name}\``)
      const payload = fields.get(key) as string[]
      expect(payload.length, name).toBeGreaterThan(0)
      for (const field of payload)
        expect(body, `${name} field ${field}`).toContain(`| \`${field}\``)
    }
  })

  /** Fields whose values are maps (key placeholder) or opaque (documented as a whole). */
  const maps: Record<string, string> = {
    byAlpn: '<protocol>',
    byTypeByte: '<byte>',
    rejected: '<reason>',
    routes: '<kind>',
    targets: '<key>',
    protocolErrors: '<code>',
  }
  const opaque = new Set(['inner'])

  /** Documented paths of a stats object, and the map keys that must be named too. */
  function paths(stats: object): { paths: string[]; keys: string[] } {
    const out: string[] = []
    const keys: string[] = []
    const walk = (value: unknown, path: string[], inMap: boolean) => {
      const last = path.at(-1) as string
      if (value === null || typeof value !== 'object' || Array.isArray(value) || opaque.has(last)) {
        out.push(path.join('.'))
        return
      }
      const placeholder = inMap ? undefined : maps[last]
      if (placeholder !== undefined) {
        const entries = Object.entries(value)
        if (entries.length === 0) out.push([...path, placeholder].join('.'))
        for (const [k, v] of entries) {
          keys.push(k)
          // Targets hold the route fields again; the doc describes them once, as an object.
          if (last === 'targets') out.push([...path, placeholder].join('.'))
          else walk(v, [...path, placeholder], true)
        }
        return
      }
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k], false)
    }
    for (const [k, v] of Object.entries(stats)) walk(v, [k], false)
    return { paths: [...new Set(out)], keys: [...new Set(keys)] }
  }

  function expectDocumented(stats: object, ...titles: string[]) {
    const bodies = titles.map((t) => section(`\`${t}\``)).join('\n')
    const { paths: documented, keys } = paths(stats)
    for (const p of documented) expect(bodies, `${titles[0]} stats().${p}`).toContain(`\`${p}\``)
    for (const k of keys) expect(bodies, `${titles[0]} stats() key ${k}`).toContain(`\`${k}\``)
  }

  it('describes every stats() field of every class', async () => {
    const { memory, net, wanfed, server, gateway, close } = statSources()
    try {
      expectDocumented(memory.stats(), 'BaseTransport')
      expectDocumented(net.stats(), 'NetTransport', 'BaseTransport')
      expectDocumented(wanfed.stats(), 'WanfedTransport', 'BaseTransport')
      expectDocumented(server.stats(), 'AlpnServer')
      expectDocumented(gateway.stats(), 'MeshGateway')
    } finally {
      await close()
    }
  })

  it('is linked from the README, where operators look', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
    expect(readme).toContain('(docs/observability.md)')
  })
})
