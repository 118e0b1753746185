import { describe, expect, it } from 'vitest'
import { SocketError } from '../../src/errors.ts'
import { GatewayHealthTracker } from '../../src/locator/gateway-health.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { VirtualClock } from '../helpers/clock.ts'

const fail = new SocketError('refused')

describe('GatewayHealthTracker (shared by the static and federation locators)', () => {
  it('picks among healthy candidates, else the one whose window ends first', async () => {
    const clock = new VirtualClock()
    const t = new GatewayHealthTracker(clock, () => 0, { initialMs: 100, jitter: 0 })
    expect(t.pick('dc2', [])).toBeUndefined()
    expect(t.pick('dc2', ['a', 'b'])).toBe('a')
    t.reportFailure('dc2', 'a', fail)
    expect(t.pick('dc2', ['a', 'b'])).toBe('b')
    expect(t.pick('dc3', ['a', 'b'])).toBe('a')
    t.reportFailure('dc2', 'b', fail)
    t.reportFailure('dc2', 'b', fail)
    expect(t.pick('dc2', ['b', 'a'])).toBe('a')
    await clock.advanceAsync(100)
    expect(t.pick('dc2', ['b', 'a'])).toBe('a')
    expect(t.health('dc2', ['a', 'b'])).toEqual([
      { gateway: 'a', consecutiveFailures: 1, avoidUntil: 100 },
      { gateway: 'b', consecutiveFailures: 2, avoidUntil: 200 },
    ])
    t.retain('dc2', ['b'])
    expect(t.health('dc2', ['a'])[0]?.consecutiveFailures).toBe(0)
    t.reportSuccess('dc2', 'b')
    expect(t.health('dc2', ['b'])[0]?.consecutiveFailures).toBe(0)
  })

  it('StaticGatewayLocator keeps health for addresses that stay and ignores unknown gateways', () => {
    const clock = new VirtualClock()
    const l = new StaticGatewayLocator({ dc2: ['a:1', 'b:1'] }, { clock, random: () => 0 })
    l.reportFailure('dc2', 'a:1', fail)
    l.reportFailure('dc2', 'zz:1', fail)
    expect(l.pickGateway('dc2')).toBe('b:1')
    l.setGateways('dc2', ['a:1', 'c:1'])
    expect(l.health('dc2').map((h) => h.consecutiveFailures)).toEqual([1, 0])
    l.setGateways('dc2', ['c:1'])
    l.setGateways('dc2', ['a:1', 'c:1'])
    expect(l.health('dc2').map((h) => h.consecutiveFailures)).toEqual([0, 0])
    l.setGateways('dc2', [])
    expect(l.pickGateway('dc2')).toBeUndefined()
    expect(l.datacenters()).toEqual([])
  })
})
