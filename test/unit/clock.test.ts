import { describe, expect, it } from 'vitest'
import { systemClock } from '../../src/internal/clock.ts'

describe('systemClock', () => {
  it('caps delays Node would otherwise fire at once', async () => {
    let fired = false
    const t = systemClock.setTimeout(
      () => {
        fired = true
      },
      10 * 2 ** 31,
    )
    await new Promise((r) => setTimeout(r, 20))
    systemClock.clearTimeout(t)
    expect(fired).toBe(false)
  })
})
