import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import type { BackoffOptions } from '../../src/internal/backoff.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { VirtualClock } from '../helpers/clock.ts'

const A = '10.0.0.1:8443'
const B = '10.0.0.2:8443'
const fail = new Error('dial failed')

/** A locator over dc2 = [b, a] whose pick takes the last healthy gateway (random just below 1). */
function locator(backoff?: BackoffOptions) {
  const clock = new VirtualClock(5_000)
  const random = () => 0.999_999
  const loc = new StaticGatewayLocator(
    { dc2: [B, A] },
    { clock, random, ...(backoff ? { backoff } : {}) },
  )
  return { clock, loc }
}

describe('StaticGatewayLocator: the backoff window of a failed gateway', () => {
  it('avoids a failed gateway until exactly the end of its window, and picks it again at the end', () => {
    const { clock, loc } = locator({ initialMs: 1_000, jitter: 0 })
    expect(loc.pickGateway('dc2')).toBe(A)
    loc.reportFailure('dc2', A, fail)
    expect(loc.health('dc2')).toEqual([
      { gateway: B, consecutiveFailures: 0, avoidUntil: 0 },
      { gateway: A, consecutiveFailures: 1, avoidUntil: 6_000 },
    ])
    expect(loc.pickGateway('dc2')).toBe(B)
    clock.advanceTo(5_999.999)
    expect(loc.pickGateway('dc2')).toBe(B)
    clock.advanceTo(6_000)
    expect(loc.pickGateway('dc2')).toBe(A)
  })

  it('doubles the window with each consecutive failure, up to maxMs', () => {
    const { clock, loc } = locator({ initialMs: 1_000, maxMs: 20_000, jitter: 0 })
    const windows: number[] = []
    for (let i = 0; i < 7; i++) {
      const at = clock.now()
      loc.reportFailure('dc2', A, fail)
      const avoidUntil = loc.health('dc2')[1]?.avoidUntil as number
      windows.push(avoidUntil - at)
      clock.advanceTo(avoidUntil - 0.001)
      expect(loc.pickGateway('dc2')).toBe(B)
      clock.advanceTo(avoidUntil)
      expect(loc.pickGateway('dc2')).toBe(A)
    }
    expect(windows).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000])
    expect(loc.health('dc2')[1]?.consecutiveFailures).toBe(7)
  })

  it('with the defaults, a first failure is avoided for 1 s ± 20 %, and never longer than 60 s', () => {
    for (const [random, window] of [
      [0, 800],
      [0.5, 1_000],
      [0.999_999, 1_199.9996],
    ] as const) {
      const clock = new VirtualClock()
      const loc = new StaticGatewayLocator({ dc2: [A] }, { clock, random: () => random })
      loc.reportFailure('dc2', A, fail)
      expect(loc.health('dc2')[0]?.avoidUntil).toBeCloseTo(window, 6)
    }
    const { clock, loc } = locator()
    for (let i = 0; i < 40; i++) loc.reportFailure('dc2', A, fail)
    expect(loc.health('dc2')[1]?.avoidUntil).toBe(clock.now() + 60_000)
    clock.advance(59_999)
    expect(loc.pickGateway('dc2')).toBe(B)
    clock.advance(1)
    expect(loc.pickGateway('dc2')).toBe(A)
  })

  it('forgets the failures on a success: picked at once, and the next failure starts from initialMs', () => {
    const { clock, loc } = locator({ initialMs: 1_000, jitter: 0 })
    for (let i = 0; i < 5; i++) loc.reportFailure('dc2', A, fail)
    expect(loc.pickGateway('dc2')).toBe(B)
    loc.reportSuccess('dc2', A)
    expect(loc.health('dc2')[1]).toEqual({ gateway: A, consecutiveFailures: 0, avoidUntil: 0 })
    expect(loc.pickGateway('dc2')).toBe(A)
    loc.reportFailure('dc2', A, fail)
    expect(loc.health('dc2')[1]?.avoidUntil).toBe(clock.now() + 1_000)
  })

  it('when every gateway is in backoff, returns the one whose window ends first', () => {
    const { clock, loc } = locator({ initialMs: 1_000, jitter: 0 })
    loc.reportFailure('dc2', A, fail)
    loc.reportFailure('dc2', A, fail) // A: 2 s
    clock.advance(500)
    loc.reportFailure('dc2', B, fail) // B: until 1.5 s from the start
    expect(loc.pickGateway('dc2')).toBe(B)
    clock.advance(1_000)
    expect(loc.pickGateway('dc2')).toBe(B)
  })

  it('keeps the health of gateways that stay when the list is replaced, and ignores unknown reports', () => {
    const { loc } = locator({ initialMs: 1_000, jitter: 0 })
    loc.reportFailure('dc2', A, fail)
    loc.reportFailure('dc2', '10.9.9.9:1', fail)
    loc.reportFailure('dc9', A, fail)
    loc.setGateways('dc2', [A, A, '10.0.0.3:8443'])
    expect(loc.health('dc2').map((h) => [h.gateway, h.consecutiveFailures])).toEqual([
      [A, 1],
      ['10.0.0.3:8443', 0],
    ])
    loc.setGateways('dc2', [])
    expect(loc.datacenters()).toEqual([])
    expect(loc.pickGateway('dc2')).toBeUndefined()
  })

  it('refuses a malformed datacenter, list or address', () => {
    const loc = new StaticGatewayLocator({})
    expect(() => loc.setGateways('', [A])).toThrow(InvalidArgumentError)
    expect(() => loc.setGateways('dc2', A as never)).toThrow(InvalidArgumentError)
    expect(() => loc.setGateways('dc2', ['10.0.0.1'])).toThrow(/gateway address for dc2/)
    expect(() => new StaticGatewayLocator({}, { backoff: { initialMs: 0 } })).toThrow(
      InvalidArgumentError,
    )
  })
})
