/** FederationRoutes: which gateway a MeshGateway picks for a remote DC from federation states. */
import { describe, expect, it } from 'vitest'
import {
  FederationRoutes,
  FederationStateStore,
  StaticGatewayLocator,
} from '../../src/locator/index.ts'
import { VirtualClock } from '../helpers/clock.ts'
import { gateway, state } from '../helpers/federation.ts'

describe('FederationRoutes', () => {
  it("routes to a DC's usable gateways at WAN addresses, read live from the store", () => {
    const store = new FederationStateStore()
    const routes = new FederationRoutes({ store, datacenter: 'dc2' })
    expect(routes.pickGateway('dc3')).toBeUndefined()
    store.upsert(
      state(
        'dc3',
        gateway({ name: 'a', lan: '10.0.3.1', wan: '198.51.100.1', wanPort: 443 }),
        gateway({ name: 'b', lan: '10.0.3.2', federation: false }),
        gateway({ name: 'c', lan: '10.0.3.3', status: ['passing', 'critical'] }),
        gateway({ name: 'd', lan: '10.0.3.4', status: 'warning' }),
      ),
    )
    expect(routes.gateways('dc3')).toEqual(['10.0.3.4:8443', '198.51.100.1:443'])
    expect(routes.gateways('DC3')).toEqual(['10.0.3.4:8443', '198.51.100.1:443'])
    store.upsert(state('dc2', gateway({ lan: '10.0.2.1' })))
    // Its own DC is never a remote route.
    expect(routes.gateways('dc2')).toEqual([])
    expect(routes.datacenters()).toEqual(['dc3'])
    store.delete('dc3')
    expect(routes.pickGateway('dc3')).toBeUndefined()
  })

  it('asks the fallback locators, in order, for a DC the states do not route', () => {
    const store = new FederationStateStore()
    const routes = new FederationRoutes({
      store,
      datacenter: 'dc2',
      fallback: [
        new StaticGatewayLocator({ dc1: ['127.0.0.1:1'] }),
        new StaticGatewayLocator({ dc1: ['127.0.0.1:2'], dc4: ['127.0.0.1:4'] }),
      ],
    })
    expect(routes.pickGateway('dc1')).toBe('127.0.0.1:1')
    expect(routes.pickGateway('dc4')).toBe('127.0.0.1:4')
    store.upsert(state('dc1', gateway({ lan: '10.0.1.1' })))
    expect(routes.pickGateway('dc1')).toBe('10.0.1.1:8443')
  })

  it('avoids a gateway that failed while another remains', () => {
    const store = new FederationStateStore()
    const clock = new VirtualClock()
    const routes = new FederationRoutes({ store, datacenter: 'dc2', clock, random: () => 0 })
    store.upsert(
      state(
        'dc3',
        gateway({ name: 'a', lan: '10.0.3.1' }),
        gateway({ name: 'b', lan: '10.0.3.2' }),
      ),
    )
    expect(routes.pickGateway('dc3')).toBe('10.0.3.1:8443')
    routes.reportFailure('dc3', '10.0.3.1:8443', new Error('refused'))
    expect(routes.pickGateway('dc3')).toBe('10.0.3.2:8443')
    expect(routes.health('dc3')[0]?.consecutiveFailures).toBe(1)
    routes.reportSuccess('dc3', '10.0.3.1:8443')
    expect(routes.pickGateway('dc3')).toBe('10.0.3.1:8443')
  })

  it('validates its options', () => {
    expect(() => new FederationRoutes({ store: {} as never, datacenter: 'dc1' })).toThrow(/store/)
    expect(
      () => new FederationRoutes({ store: new FederationStateStore(), datacenter: '' }),
    ).toThrow(/datacenter/)
    expect(
      () =>
        new FederationRoutes({
          store: new FederationStateStore(),
          datacenter: 'dc1',
          fallback: [{} as never],
        }),
    ).toThrow(/fallback/)
  })
})
