import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

describe('wanfed/memberlist public API', () => {
  it('exports the fixed names, re-exported by the root, and the package maps ./memberlist', async () => {
    const mod = (await import('../../src/memberlist/index.ts')) as Record<string, unknown>
    const root = (await import('../../src/index.ts')) as Record<string, unknown>
    for (const name of [
      'Memberlist',
      'DefaultLANConfig',
      'DefaultWANConfig',
      'DefaultLocalConfig',
      'Keyring',
    ]) {
      expect(mod[name], name).toBeDefined()
      expect(root[name], `root.${name}`).toBe(mod[name])
    }
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      exports: Record<string, { types: string; default: string }>
    }
    expect(pkg.exports['./memberlist']).toEqual({
      types: './dist/memberlist/index.d.ts',
      default: './dist/memberlist/index.js',
    })
  })
})
