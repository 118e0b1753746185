import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { expectNoLeakedHandles, handleCounts } from 'wanfed/testing'
import { examples } from './index.ts'

describe('examples', () => {
  for (const [name, example] of Object.entries(examples)) {
    if (example.testedBy !== undefined) {
      it(`${name} is run by ${example.testedBy}`, () => {
        expect(existsSync(new URL(example.testedBy as string, import.meta.url))).toBe(true)
      })
      continue
    }
    it(`${name} runs to completion and releases everything`, async () => {
      const baseline = handleCounts()
      const lines: string[] = []
      const { main } = await example.load()
      await main((line) => lines.push(line))
      expect(lines.at(-1)).toBe('closed cleanly')
      await expectNoLeakedHandles(baseline)
      // The federation demo converges and runs its failure act: tens of seconds on a loaded host.
    }, 120_000)
  }
})
