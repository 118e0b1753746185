import { describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { FederationGatewayLocator } from '../../src/locator/federation/gateway-locator.ts'
import { PrimaryGatewayDiscovery } from '../../src/locator/federation/primary-gateway-discovery.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway, state } from '../helpers/federation.ts'
import { replicateFromPrimary, servePrimaryStates } from '../helpers/federation-gateways.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { closedPort, until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

async function primary() {
  const store = new FederationStateStore({ clock })
  const { address } = await servePrimaryStates(store, cleanups, clock)
  return { store, address }
}

async function meshGateway(
  datacenter: string,
  servers: Record<string, string>,
  locator: StaticGatewayLocator,
) {
  const gw = new MeshGateway({ datacenter, servers, locator, clock, closeGraceMs: 100 })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return { port, address: `127.0.0.1:${port}` }
}

/** A secondary node of dc2: its store, locator, the client to the primary and the replicator. */
function secondary(discovered: readonly string[] = []) {
  const store = new FederationStateStore({ clock })
  const locator = new FederationGatewayLocator({
    store,
    datacenter: 'dc2',
    primaryDatacenter: 'dc1',
    replicates: true,
    refreshRate: 1000,
    backoff: { initialMs: 5_000 },
    clock,
  }).start()
  if (discovered.length > 0) locator.refreshPrimaryGatewayFallbackAddresses(discovered)
  cleanups.push(async () => {
    await locator.close()
    await store.close()
  })
  // The client asks the federation locator itself which gateway leads to the primary.
  const { client, replicator } = replicateFromPrimary(cleanups, clock, {
    store,
    locator,
    route: locator,
  })
  return { store, locator, client, replicator }
}

describe('primary-gateway discovery', () => {
  it('a secondary that knows one primary gateway by the name localhost learns every gateway of three DCs', async () => {
    const p = await primary()
    const toDc1 = new StaticGatewayLocator({})
    const gw1 = await meshGateway('dc1', { bob: p.address }, new StaticGatewayLocator({}))
    toDc1.setGateways('dc1', [gw1.address])
    const gw2 = await meshGateway('dc2', {}, toDc1)
    const gw3 = await meshGateway('dc3', {}, toDc1)
    // What anti-entropy in each DC would have written to the primary: its gateways, real ports.
    p.store.upsert(
      state('dc1', gateway({ name: 'gw1', lan: '127.0.0.1', port: gw1.port, wan: '127.0.0.1' })),
    )
    p.store.upsert(
      state('dc2', gateway({ name: 'gw2', lan: '127.0.0.1', port: gw2.port, wan: '127.0.0.1' })),
    )
    p.store.upsert(
      state('dc3', gateway({ name: 'gw3', lan: '127.0.0.1', port: gw3.port, wan: '127.0.0.1' })),
    )

    const s = secondary()
    const discovery = new PrimaryGatewayDiscovery({
      addresses: [`localhost:${gw1.port}`],
      target: s.locator,
      intervalMs: 50,
      clock,
    })
    cleanups.push(() => discovery.close())
    const found = await discovery.start()
    expect(found).toContain(`127.0.0.1:${gw1.port}`)
    s.replicator.start()
    await s.locator.waitForPrimaryGateways()
    await until(() => s.store.list().states.length === 3, 'three DCs replicated', 10_000)
    expect(s.locator.primaryGateways()).toEqual([`127.0.0.1:${gw1.port}`])
    await until(() => s.locator.localGateways().length === 1, 'local gateways', 10_000)
    expect(s.locator.localGateways()).toEqual([`127.0.0.1:${gw2.port}`])
    expect(Object.keys(s.store.listMeshGateways().gateways)).toEqual(['dc1', 'dc2', 'dc3'])
    // From now on the primary is reached through the local gateway (two hops).
    expect(s.locator.listGateways(true)).toEqual([`127.0.0.1:${gw2.port}`])
    expect((await s.client.list()).states).toHaveLength(3)
  })

  it('retries every interval until a name resolves, and resolves names again on each try', async () => {
    const s = secondary()
    let calls = 0
    const discovery = new PrimaryGatewayDiscovery({
      addresses: ['gw.dc1.example:8443', 'gw2.dc1.example:8443'],
      target: s.locator,
      intervalMs: 30,
      resolve: async (host) => {
        calls++
        if (calls < 5)
          throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' })
        return host === 'gw.dc1.example' ? ['192.0.2.1', '2001:db8::1'] : ['192.0.2.2']
      },
      clock,
    })
    cleanups.push(() => discovery.close())
    const failed: Error[] = []
    discovery.on('failed', (e) => failed.push(e))
    expect(await discovery.start()).toEqual([
      '192.0.2.1:8443',
      '192.0.2.2:8443',
      '[2001:db8::1]:8443',
    ])
    expect(discovery.attempts).toBe(3)
    expect(failed).toHaveLength(2)
    expect(s.locator.fallbackAddresses()).toEqual([
      '192.0.2.1:8443',
      '192.0.2.2:8443',
      '[2001:db8::1]:8443',
    ])
  })
})

describe('failover between gateways', () => {
  it('two gateways for the primary, one dead: calls go on through the other after at most one failed dial', async () => {
    const p = await primary()
    const gw1 = await meshGateway('dc1', { bob: p.address }, new StaticGatewayLocator({}))
    const dead = `127.0.0.1:${await closedPort()}`
    const s = secondary([dead, gw1.address])
    await until(() => s.locator.decision().populated, 'locator read its store')
    let failures = 0
    let ok = 0
    for (let i = 0; i < 10; i++) {
      try {
        await s.client.list()
        ok++
        // A new connection for each call: every call picks a gateway again.
        await s.client.close()
        ;(s as { client: FederationStateClient }).client = new FederationStateClient({
          datacenter: 'dc1',
          locator: s.locator,
          tls: { ca: caPem(), ...tlsFixture('betty') },
          clock,
        })
        cleanups.push(() => s.client.close())
      } catch {
        failures++
      }
    }
    expect(failures).toBeLessThanOrEqual(1)
    expect(ok).toBeGreaterThanOrEqual(9)
    expect(
      s.locator.health('dc1').find((h) => h.gateway === dead)?.consecutiveFailures ?? 0,
    ).toBeLessThanOrEqual(1)
  })
})
