import { afterEach, describe, expect, it } from 'vitest'
import { AbortError, ClosedError, InvalidArgumentError, SocketError } from '../../src/errors.ts'
import { bestAddress, unionSorted } from '../../src/locator/federation/gateway-addresses.ts'
import {
  FederationGatewayLocator,
  type FederationGatewayLocatorOptions,
} from '../../src/locator/federation/gateway-locator.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { parseMeshGateway } from '../../src/locator/federation/validate.ts'
import { settle, VirtualClock } from '../helpers/clock.ts'
import { gateway, state } from '../helpers/federation.ts'

const fail = new SocketError('connect ECONNREFUSED')
const open: FederationGatewayLocator[] = []
let clock: VirtualClock

afterEach(async () => {
  for (const l of open.splice(0)) await l.close()
  expect(clock.pendingTimers).toBe(0)
})

function setup(
  datacenter: string,
  options: Partial<FederationGatewayLocatorOptions> = {},
  random = () => 0,
) {
  clock = new VirtualClock()
  const store = new FederationStateStore({ clock, random })
  const locator = new FederationGatewayLocator({
    store,
    datacenter,
    primaryDatacenter: 'dc1',
    clock,
    random,
    ...options,
  })
  open.push(locator)
  return { store, locator }
}

/** dc1 is the primary, dc2 and dc3 secondaries, each with two federation gateways. */
function seed(store: FederationStateStore) {
  store.upsert(
    state(
      'dc1',
      gateway({ name: 'p2', lan: '10.1.0.2', wan: '198.51.100.2' }),
      gateway({ name: 'p1', lan: '10.1.0.1', wan: '198.51.100.1' }),
    ),
  )
  store.upsert(
    state(
      'dc2',
      gateway({ name: 's1', lan: '10.2.0.1', wan: '203.0.113.1' }),
      gateway({ name: 's2', lan: '10.2.0.2', wan: '203.0.113.2' }),
    ),
  )
  store.upsert(state('dc3', gateway({ name: 't1', lan: '10.3.0.1', wan: '192.0.2.1' })))
}

const PRIMARY_WAN = ['198.51.100.1:8443', '198.51.100.2:8443']
const PRIMARY_LAN = ['10.1.0.1:8443', '10.1.0.2:8443']
const DC2_LAN = ['10.2.0.1:8443', '10.2.0.2:8443']

describe('FederationGatewayLocator: before the first read', () => {
  it('returns nothing for any datacenter, fallback or not, until the store was read once', async () => {
    const { store, locator } = setup('dc2', { fallbackAddresses: ['192.0.2.9:443'] })
    seed(store)
    expect(locator.pickGateway('dc1')).toBeUndefined()
    expect(locator.pickGateway('dc3')).toBeUndefined()
    expect(locator.decision().populated).toBe(false)
    locator.start()
    await settle()
    expect(locator.decision().populated).toBe(true)
    expect(locator.pickGateway('dc3')).toBe('10.2.0.1:8443')
  })

  it('an empty store still counts as read: the fallback serves a replicating secondary after 3 failures', async () => {
    const { locator } = setup('dc2', { fallbackAddresses: ['192.0.2.9:443'], replicates: true })
    locator.start()
    await settle()
    expect(locator.listGateways(true)).toEqual(['192.0.2.9:443'])
  })
})

describe('FederationGatewayLocator: which gateways count (Consul updateFromState)', () => {
  it('keeps only meta consul-wan-federation exactly "1" and no critical check', async () => {
    const { store, locator } = setup('dc2')
    const g = (name: string, extra: Parameters<typeof gateway>[0]) =>
      gateway({ name, lan: `10.2.0.${name.length}`, ...extra })
    const notOne = gateway({ name: 'x', lan: '10.2.9.1' })
    notOne.service.meta = { 'consul-wan-federation': 'true' }
    store.upsert(
      state(
        'dc2',
        g('a', { status: 'passing' }),
        g('bb', { status: 'warning' }),
        g('ccc', { status: 'maintenance' }),
        g('dddd', { status: ['passing', 'critical'] }),
        g('eeeee', { federation: false }),
        notOne,
      ),
    )
    locator.start()
    await settle()
    expect(locator.localGateways()).toEqual(['10.2.0.1:8443', '10.2.0.2:8443', '10.2.0.3:8443'])
  })

  it('WAN addresses for the primary, LAN for local; in the primary both from its own record', async () => {
    const sec = setup('dc2')
    seed(sec.store)
    sec.locator.start()
    await settle()
    expect(sec.locator.primaryGateways()).toEqual(PRIMARY_WAN)
    expect(sec.locator.localGateways()).toEqual(DC2_LAN)
    await sec.locator.close()

    const pri = setup('dc1')
    seed(pri.store)
    pri.locator.start()
    await settle()
    expect(pri.locator.primaryGateways()).toEqual(PRIMARY_WAN)
    expect(pri.locator.localGateways()).toEqual(PRIMARY_LAN)
  })

  it('renders host:port with IPv6 in brackets, sorted in string order', async () => {
    const { store, locator } = setup('dc2')
    store.upsert(
      state(
        'dc2',
        gateway({ name: 'a', lan: '10.0.0.9', port: 9 }),
        gateway({ name: 'b', lan: '2001:db8::1', port: 443 }),
        gateway({ name: 'c', lan: '10.0.0.10', port: 9 }),
      ),
    )
    locator.start()
    await settle()
    expect(locator.localGateways()).toEqual(['10.0.0.10:9', '10.0.0.9:9', '[2001:db8::1]:443'])
  })

  it('BestAddress: service wan (port override when non-zero), else service, else node wan, else node', () => {
    const gw = (over: Record<string, unknown>) => {
      const g = gateway({ lan: '10.0.0.1', port: 8443 }) as unknown as Record<
        string,
        Record<string, unknown>
      >
      g['node'] = { ...g['node'], ...(over['node'] as object) }
      g['service'] = { ...g['service'], ...(over['service'] as object) }
      return parseMeshGateway(g)
    }
    expect(
      bestAddress(
        gw({ service: { taggedAddresses: { wan: { address: '1.1.1.1', port: 9 } } } }),
        true,
      ),
    ).toBe('1.1.1.1:9')
    expect(
      bestAddress(
        gw({ service: { taggedAddresses: { wan: { address: '1.1.1.1', port: 0 } } } }),
        true,
      ),
    ).toBe('1.1.1.1:8443')
    expect(bestAddress(gw({ service: { taggedAddresses: {}, address: '10.0.0.5' } }), true)).toBe(
      '10.0.0.5:8443',
    )
    expect(
      bestAddress(
        gw({
          service: { taggedAddresses: {}, address: '' },
          node: { taggedAddresses: { wan: '2.2.2.2' } },
        }),
        true,
      ),
    ).toBe('2.2.2.2:8443')
    expect(bestAddress(gw({ service: { taggedAddresses: {}, address: '' } }), true)).toBe(
      '10.0.0.1:8443',
    )
    // An empty service wan address falls to the node, not to the service address (as Go).
    expect(
      bestAddress(
        gw({
          service: { taggedAddresses: { wan: { address: '', port: 7 } }, address: '10.0.0.5' },
          node: { taggedAddresses: { wan: '2.2.2.2' } },
        }),
        true,
      ),
    ).toBe('2.2.2.2:7')
    expect(bestAddress(gw({ service: { address: '' } }), false)).toBe('10.0.0.1:8443')
    expect(bestAddress(gw({ service: { address: '10.0.0.5' } }), false)).toBe('10.0.0.5:8443')
  })

  it('follows store changes, and an empty result clears a list', async () => {
    const { store, locator } = setup('dc2')
    seed(store)
    const updates: string[][] = []
    locator.on('update', (d) => updates.push(d.localGateways))
    locator.start()
    await settle()
    store.upsert(state('dc2', gateway({ name: 's3', lan: '10.2.0.3' })))
    await settle()
    expect(locator.localGateways()).toEqual(['10.2.0.3:8443'])
    store.delete('dc2')
    await settle()
    expect(locator.localGateways()).toEqual([])
    store.upsert(state('dc3'))
    await settle()
    expect(updates).toEqual([DC2_LAN, ['10.2.0.3:8443'], []])
  })
})

describe('FederationGatewayLocator: routes', () => {
  it('primary role: its own WAN gateways for itself, local gateways for every secondary, never "through local"', async () => {
    const { store, locator } = setup('dc1', { replicates: true })
    seed(store)
    locator.start()
    await settle()
    expect(PRIMARY_WAN).toContain(locator.pickGateway('dc1'))
    expect(PRIMARY_LAN).toContain(locator.pickGateway('dc2'))
    expect(PRIMARY_LAN).toContain(locator.pickGateway('dc3'))
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(false)
    for (let i = 0; i < 5; i++) locator.setLastReplicationError(fail)
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(false)
    expect(locator.listGateways(true)).toEqual(PRIMARY_WAN)
  })

  it('secondary follower: always local gateways to the primary, whatever replication reports', async () => {
    const { store, locator } = setup('dc2')
    seed(store)
    locator.start()
    await settle()
    expect(locator.listGateways(true)).toEqual(DC2_LAN)
    for (let i = 0; i < 5; i++) locator.setLastReplicationError(fail, false)
    expect(locator.decision()).toMatchObject({
      dialPrimaryThroughLocalGateway: true,
      useReplicationSignal: false,
      consecutiveReplicationFailures: 5,
    })
    expect(locator.listGateways(true)).toEqual(DC2_LAN)
    expect(DC2_LAN).toContain(locator.pickGateway('dc3'))
  })

  it('secondary replicating: local until 3 failures in a row, then the union of primary and fallback; a success goes back', async () => {
    const { store, locator } = setup('dc2', {
      replicates: true,
      fallbackAddresses: ['198.51.100.2:8443', '192.0.2.50:443'],
    })
    seed(store)
    const decisions: boolean[] = []
    locator.on('decision', (d) => decisions.push(d))
    locator.start()
    await settle()
    expect(locator.listGateways(true)).toEqual(DC2_LAN)
    locator.setLastReplicationError(fail)
    locator.setLastReplicationError(fail)
    expect(locator.listGateways(true)).toEqual(DC2_LAN)
    locator.setLastReplicationError(fail)
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(false)
    expect(locator.listGateways(true)).toEqual([
      '192.0.2.50:443',
      '198.51.100.1:8443',
      '198.51.100.2:8443',
    ])
    expect(locator.listGateways(false)).toEqual(DC2_LAN)
    locator.setLastReplicationError(undefined)
    expect(locator.listGateways(true)).toEqual(DC2_LAN)
    expect(decisions).toEqual([false, true])
  })

  it('a success from replication switches a follower to the signal (Consul does so)', async () => {
    const { store, locator } = setup('dc2')
    seed(store)
    locator.start()
    await settle()
    locator.setLastReplicationError(undefined, true)
    for (let i = 0; i < 3; i++) locator.setLastReplicationError(fail)
    expect(locator.listGateways(true)).toEqual(PRIMARY_WAN)
  })

  it('leadership changes: signal on, then off, each followed by a neutral success', async () => {
    const { store, locator } = setup('dc2')
    seed(store)
    locator.start()
    await settle()
    locator.setUseReplicationSignal(true)
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(true)
    for (let i = 0; i < 3; i++) locator.setLastReplicationError(fail)
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(false)
    locator.setUseReplicationSignal(false)
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(true)
  })

  it('"through local" with no local gateways falls to the union; two empty lists give nothing', async () => {
    const { store, locator } = setup('dc2')
    store.upsert(state('dc1', gateway({ name: 'p1', wan: '198.51.100.1' })))
    locator.start()
    await settle()
    expect(locator.dialPrimaryThroughLocalGateway()).toBe(true)
    expect(locator.listGateways(true)).toEqual(['198.51.100.1:8443'])
    store.delete('dc1')
    await settle()
    expect(locator.listGateways(true)).toEqual([])
    expect(locator.pickGateway('dc1')).toBeUndefined()
    locator.refreshPrimaryGatewayFallbackAddresses(['b.example:1', 'a.example:1', 'b.example:1'])
    expect(locator.listGateways(true)).toEqual(['a.example:1', 'b.example:1'])
  })

  it('fallback addresses: sorted, deduplicated, validated, a copy each time', () => {
    const { locator } = setup('dc2')
    locator.refreshPrimaryGatewayFallbackAddresses(['[::1]:8443', '127.0.0.1:8443'])
    const f = locator.fallbackAddresses()
    f.push('x')
    expect(locator.fallbackAddresses()).toEqual(['127.0.0.1:8443', '[::1]:8443'])
    expect(() => locator.refreshPrimaryGatewayFallbackAddresses(['::1:8443'])).toThrow(
      InvalidArgumentError,
    )
    expect(locator.fallbackAddresses()).toEqual(['127.0.0.1:8443', '[::1]:8443'])
    expect(unionSorted(['a', 'c'], ['b', 'c', 'd'])).toEqual(['a', 'b', 'c', 'd'])
    expect(unionSorted([], [])).toEqual([])
  })
})

describe('FederationGatewayLocator: failure-aware choice', () => {
  it('avoids a failed gateway while another remains, and tries it again after its window', async () => {
    const { store, locator } = setup('dc2', { backoff: { initialMs: 1000, jitter: 0 } })
    seed(store)
    locator.start()
    await settle()
    expect(locator.pickGateway('dc3')).toBe('10.2.0.1:8443')
    locator.reportFailure('dc3', '10.2.0.1:8443', fail)
    for (let i = 0; i < 5; i++) expect(locator.pickGateway('dc3')).toBe('10.2.0.2:8443')
    expect(locator.health('dc3')[0]?.consecutiveFailures).toBe(1)
    locator.reportFailure('dc3', '10.2.0.2:8443', fail)
    locator.reportFailure('dc3', '10.2.0.2:8443', fail)
    // Both in backoff: the one whose window ends first.
    expect(locator.pickGateway('dc3')).toBe('10.2.0.1:8443')
    await clock.advanceAsync(1000)
    expect(locator.pickGateway('dc3')).toBe('10.2.0.1:8443')
    locator.reportSuccess('dc3', '10.2.0.2:8443')
    expect(locator.health('dc3')[1]?.consecutiveFailures).toBe(0)
    // A gateway that is not a candidate is not recorded.
    locator.reportFailure('dc3', '10.9.9.9:1', fail)
    expect(locator.health('dc3').map((h) => h.gateway)).toEqual(DC2_LAN)
  })
})

describe('FederationGatewayLocator: refresh loop', () => {
  it('reads at most 5 times at once, then once per 5 s (Consul 0.2/s, burst 5)', async () => {
    const { store, locator } = setup('dc2')
    locator.start()
    await settle()
    expect(locator.stats().reads).toBe(1)
    for (let i = 1; i <= 6; i++) {
      store.upsert(state('dc2', gateway({ port: 1000 + i })))
      await settle()
    }
    expect(locator.stats().reads).toBe(5)
    expect(locator.localGateways()).toEqual(['10.0.0.1:1004'])
    await clock.advanceAsync(4999)
    expect(locator.stats().reads).toBe(5)
    await clock.advanceAsync(1)
    expect(locator.stats().reads).toBe(6)
    expect(locator.localGateways()).toEqual(['10.0.0.1:1006'])
  })

  it('primaryGatewaysReady settles when replicated states first name a primary gateway, not from fallback', async () => {
    const { store, locator } = setup('dc2', { fallbackAddresses: ['192.0.2.1:1'] })
    let ready = false
    void locator.primaryGatewaysReady.then(() => {
      ready = true
    })
    const waited = locator.waitForPrimaryGateways()
    locator.start()
    store.upsert(state('dc1', gateway({ federation: false })))
    await settle()
    expect(ready).toBe(false)
    store.upsert(state('dc1', gateway({ wan: '198.51.100.1' })))
    await settle()
    expect(ready).toBe(true)
    expect(await waited).toEqual(['198.51.100.1:8443'])
  })

  it('waitForPrimaryGateways rejects on abort and on close', async () => {
    const { locator } = setup('dc2')
    locator.start()
    const ac = new AbortController()
    const a = locator.waitForPrimaryGateways({ signal: ac.signal })
    ac.abort()
    await expect(a).rejects.toBeInstanceOf(AbortError)
    const c = locator.waitForPrimaryGateways()
    await locator.close()
    await expect(c).rejects.toBeInstanceOf(ClosedError)
    expect(() => locator.start()).toThrow(ClosedError)
  })

  it('stops when the store closes and keeps its lists', async () => {
    const { store, locator } = setup('dc2')
    seed(store)
    locator.start()
    await settle()
    await store.close()
    await settle()
    expect(locator.localGateways()).toEqual(DC2_LAN)
    expect(clock.pendingTimers).toBe(0)
  })

  it('validates its options', () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    const base = { store, datacenter: 'dc2', primaryDatacenter: 'dc1', clock }
    expect(() => new FederationGatewayLocator({ ...base, datacenter: '' })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FederationGatewayLocator({ ...base, primaryDatacenter: 7 as never })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FederationGatewayLocator({ ...base, store: {} as never })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FederationGatewayLocator({ ...base, refreshBurst: 0 })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new FederationGatewayLocator({ ...base, fallbackAddresses: ['nope'] })).toThrow(
      InvalidArgumentError,
    )
  })
})
