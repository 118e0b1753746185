import { describe, expect, it } from 'vitest'
import { RetryLoopBackoff } from '../../src/locator/federation/retry-backoff.ts'

describe('RetryLoopBackoff', () => {
  it('waits 2 s, 4 s, ... up to the cap, and starts over after a success', () => {
    const b = new RetryLoopBackoff(10_000)
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      2_000, 4_000, 8_000, 10_000, 10_000,
    ])
    b.reset()
    expect(b.next()).toBe(2_000)
  })
})
