import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import { Backoff } from '../../src/internal/backoff.ts'

const JUST_BELOW_ONE = 1 - 2 ** -52

describe('Backoff', () => {
  it('has the defaults it documents: 1 s doubling to 60 s, ±20 %', () => {
    const b = new Backoff()
    expect([b.initialMs, b.maxMs, b.multiplier, b.jitter]).toEqual([1_000, 60_000, 2, 0.2])
  })

  it('without jitter, waits initialMs * multiplier^(n-1), capped at maxMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 5_000, multiplier: 3, jitter: 0 })
    const seq = [1, 2, 3, 4, 5, 6, 100].map((n) => b.delay(n))
    expect(seq).toEqual([100, 300, 900, 2_700, 5_000, 5_000, 5_000])
    // Before the first failure (or a nonsense count) it waits as after the first.
    expect(b.delay(0)).toBe(100)
    expect(b.delay(-3)).toBe(100)
    // A count so large the power overflows still gives the cap, not Infinity or NaN.
    expect(b.delay(1e6)).toBe(5_000)
  })

  it('spreads the wait by ±jitter: random 0 gives the low end, random near 1 the high end', () => {
    const low = new Backoff({ initialMs: 1_000, jitter: 0.25 }, () => 0)
    const mid = new Backoff({ initialMs: 1_000, jitter: 0.25 }, () => 0.5)
    const high = new Backoff({ initialMs: 1_000, jitter: 0.25 }, () => JUST_BELOW_ONE)
    expect([low.delay(1), low.delay(2)]).toEqual([750, 1_500])
    expect([mid.delay(1), mid.delay(2)]).toEqual([1_000, 2_000])
    expect(high.delay(1)).toBeCloseTo(1_250, 9)
    expect(high.delay(1)).toBeLessThanOrEqual(1_250)
  })

  it('never waits longer than maxMs, even with jitter above the cap', () => {
    const b = new Backoff({ initialMs: 1_000, maxMs: 1_100, jitter: 0.5 }, () => JUST_BELOW_ONE)
    expect(b.delay(1)).toBe(1_100)
    expect(b.delay(9)).toBe(1_100)
    const atCap = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.5 }, () => 0)
    expect(atCap.delay(5)).toBe(500)
  })

  test.prop(
    [
      fc.double({ min: 1, max: 10_000, noNaN: true }),
      fc.double({ min: 1, max: 1_000, noNaN: true }),
      fc.double({ min: 1, max: 4, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 80 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    ],
    { numRuns: 2_000 },
  )('every wait lies within base·(1 ± jitter) and within 0..maxMs', (initialMs, f, m, j, n, r) => {
    const maxMs = initialMs * f
    const b = new Backoff({ initialMs, maxMs, multiplier: m, jitter: j }, () => r)
    const base = Math.min(maxMs, initialMs * m ** (n - 1))
    const d = b.delay(n)
    const eps = 1e-9 * base
    expect(d).toBeGreaterThanOrEqual(base * (1 - j) - eps)
    expect(d).toBeLessThanOrEqual(Math.min(maxMs, base * (1 + j)) + eps)
    expect(d).toBeLessThanOrEqual(maxMs)
  })

  it('refuses options that make no sense', () => {
    for (const bad of [
      { initialMs: 0 },
      { initialMs: -1 },
      { initialMs: Number.NaN },
      { initialMs: 2_000, maxMs: 1_000 },
      { multiplier: 0.5 },
      { multiplier: Number.NaN },
      { jitter: -0.1 },
      { jitter: 1.1 },
    ]) {
      expect(() => new Backoff(bad), JSON.stringify(bad)).toThrow(InvalidArgumentError)
    }
  })
})
