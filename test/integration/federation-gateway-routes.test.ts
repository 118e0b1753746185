import { describe, expect, it } from 'vitest'
import { AlpnServer } from '../../src/alpn/server.ts'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { FederationRoutes } from '../../src/locator/federation/routes.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { FederationStateService } from '../../src/locator/federation/rpc-service.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway, state } from '../helpers/federation.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'

const { clock, cleanups } = leakGuard()

/** A server of `datacenter` serving a store of its own, so a call shows which DC answered. */
async function server(identity: string, datacenter: string) {
  const store = new FederationStateStore({ clock })
  store.upsert(state(`answered-by-${datacenter}`))
  const s = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture(identity) },
    closeGraceMs: 100,
    clock,
  })
  const service = new FederationStateService({
    store,
    datacenter,
    primaryDatacenter: 'dc1',
    clock,
  }).attach(s)
  const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(async () => {
    await service.close()
    await s.close()
    await store.close()
  })
  return `127.0.0.1:${port}`
}

async function meshGateway(
  datacenter: string,
  servers: Record<string, string>,
  locator?: FederationRoutes,
) {
  const gw = new MeshGateway({
    datacenter,
    servers,
    ...(locator ? { locator } : {}),
    clock,
    closeGraceMs: 100,
  })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return port
}

async function ask(via: number, datacenter: string): Promise<string> {
  const c = new FederationStateClient({
    datacenter,
    locator: new StaticGatewayLocator({ [datacenter]: [`127.0.0.1:${via}`] }),
    tls: { ca: caPem(), ...tlsFixture('betty') },
    handshakeTimeoutMs: 2_000,
    clock,
  })
  try {
    return (await c.list()).states.map((s) => s.datacenter).join()
  } finally {
    await c.close()
  }
}

describe('MeshGateway routed by federation states (FederationRoutes)', () => {
  it('a DC becomes reachable through the gateway as soon as its state is stored, and unreachable when its gateways are critical', async () => {
    const gw1 = await meshGateway('dc1', { bob: await server('bob', 'dc1') })
    const gw3 = await meshGateway('dc3', { bonnie: await server('bonnie', 'dc3') })
    const states = new FederationStateStore({ clock })
    cleanups.push(() => states.close())
    const routes = new FederationRoutes({ store: states, datacenter: 'dc2', clock })
    const gw2 = await meshGateway('dc2', {}, routes)

    await expect(ask(gw2, 'dc1')).rejects.toThrow()
    states.upsert(
      state(
        'dc1',
        gateway({ name: 'gw1', lan: '10.1.0.1', wan: '127.0.0.1', port: 1, wanPort: gw1 }),
      ),
    )
    expect(routes.gateways('dc1')).toEqual([`127.0.0.1:${gw1}`])
    expect(await ask(gw2, 'dc1')).toBe('answered-by-dc1')

    // A new DC: no gateway config edited anywhere.
    states.upsert(
      state('dc3', gateway({ name: 'gw3', lan: '127.0.0.1', port: gw3, wan: '127.0.0.1' })),
    )
    expect(await ask(gw2, 'dc3')).toBe('answered-by-dc3')

    states.upsert(
      state(
        'dc3',
        gateway({ name: 'gw3', lan: '127.0.0.1', port: gw3, wan: '127.0.0.1', status: 'critical' }),
      ),
    )
    expect(routes.gateways('dc3')).toEqual([])
    await expect(ask(gw2, 'dc3')).rejects.toThrow()
    expect(await ask(gw2, 'dc1')).toBe('answered-by-dc1')
  })
})
