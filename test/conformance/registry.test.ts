import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as transportModule from '../../src/transport/index.ts'

// Every transport class wanfed exports must run through the conformance suite: a new transport
// without a `*.conformance.test.ts` naming it turns this red.
const dir = new URL('./', import.meta.url)
const suites = readdirSync(dir)
  .filter((f) => f.endsWith('.conformance.test.ts'))
  .map((f) => readFileSync(new URL(f, dir), 'utf8'))
const harnessNames = suites.flatMap((src) =>
  [...src.matchAll(/name: `?'?([A-Za-z]+)/g)].map((m) => m[1]),
)

const transportClasses = Object.entries(transportModule).filter(
  ([name, value]) =>
    typeof value === 'function' &&
    name !== 'BaseTransport' &&
    (value as { prototype?: Record<symbol, unknown> }).prototype?.[
      transportModule.transportSymbol
    ] === true,
)

describe('conformance registry', () => {
  it('finds the exported transports', () => {
    expect(transportClasses.map(([name]) => name).sort()).toEqual([
      'MemoryTransport',
      'NetTransport',
      'WanfedTransport',
    ])
  })

  for (const [name] of transportClasses) {
    it(`${name} runs the conformance suite`, () => {
      expect(harnessNames).toContain(name)
    })
  }
})
