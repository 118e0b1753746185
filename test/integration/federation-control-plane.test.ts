import { describe, expect, it } from 'vitest'
import { AlpnServer } from '../../src/alpn/server.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { FederationControlPlane } from '../../src/locator/federation/control-plane.ts'
import type { FederationRoutes } from '../../src/locator/federation/routes.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway } from '../helpers/federation.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()
const tuning = {
  locatorRefreshRate: 1000,
  replicationRate: 1000,
  replicationMinBackoffMs: 20,
  replicationMaxBackoffMs: 100,
  antiEntropyRate: 1000,
}

async function alpnServer(identity: string) {
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture(identity) },
    closeGraceMs: 100,
    clock,
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  return { server, address: `127.0.0.1:${port}` }
}

/** A gateway whose remote routes come from a control plane's federation states (set later). */
async function meshGateway(datacenter: string, servers: Record<string, string>) {
  let routes: FederationRoutes | undefined
  const gw = new MeshGateway({
    datacenter,
    servers,
    locator: { pickGateway: (dc) => routes?.pickGateway(dc) },
    clock,
    closeGraceMs: 100,
  })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return {
    port,
    use(r: FederationRoutes) {
      routes = r
    },
  }
}

describe('FederationControlPlane', () => {
  it('a primary and a secondary that knows one primary gateway by name learn each other, and their gateways route on it', async () => {
    const bob = await alpnServer('bob')
    const betty = await alpnServer('betty')
    const gw1 = await meshGateway('dc1', { bob: bob.address })
    const gw2 = await meshGateway('dc2', { betty: betty.address })
    const own = (name: string, port: number) => [
      gateway({ name, lan: '127.0.0.1', port, wan: '127.0.0.1' }),
    ]

    const primary = await FederationControlPlane.start({
      datacenter: 'dc1',
      primaryDatacenter: 'dc1',
      tls: { ca: caPem(), ...tlsFixture('bob') },
      server: bob.server,
      gateways: own('gw1', gw1.port),
      knows: () => true,
      tuning,
      clock,
    })
    cleanups.push(() => primary.close())
    gw1.use(primary.routes)
    const secondary = await FederationControlPlane.start({
      datacenter: 'dc2',
      primaryDatacenter: 'dc1',
      tls: { ca: caPem(), ...tlsFixture('betty') },
      server: betty.server,
      gateways: own('gw2', gw2.port),
      primaryGateways: [`localhost:${gw1.port}`],
      primaryGatewaysIntervalMs: 50,
      tuning,
      clock,
    })
    cleanups.push(() => secondary.close())
    gw2.use(secondary.routes)

    await until(
      () =>
        secondary.locator.primaryGateways().length === 1 &&
        secondary.locator.localGateways().length === 1 &&
        primary.store.get('dc2').state !== undefined,
      'both DCs known on both sides',
      10_000,
    )
    expect(secondary.locator.primaryGateways()).toEqual([`127.0.0.1:${gw1.port}`])
    expect(secondary.locator.localGateways()).toEqual([`127.0.0.1:${gw2.port}`])
    expect(primary.locator.localGateways()).toEqual([`127.0.0.1:${gw1.port}`])
    expect(primary.routes.gateways('dc2')).toEqual([`127.0.0.1:${gw2.port}`])
    expect(secondary.locator.dialPrimaryThroughLocalGateway()).toBe(true)
    expect(secondary.locator.pickGateway('dc1')).toBe(`127.0.0.1:${gw2.port}`)

    // dc1 -> dc2 through gw1, routed by the federation states only: betty's service answers.
    const toDc2 = new FederationStateClient({
      datacenter: 'dc2',
      locator: new StaticGatewayLocator({ dc2: [`127.0.0.1:${gw1.port}`] }),
      tls: { ca: caPem(), ...tlsFixture('bob') },
      clock,
    })
    cleanups.push(() => toDc2.close())
    await until(() => secondary.store.list().states.length === 2, 'secondary holds both', 10_000)
    expect((await toDc2.list()).states.map((s) => s.datacenter)).toEqual(['dc1', 'dc2'])
    // An Apply that reaches the secondary is forwarded to the primary.
    await toDc2.apply({ op: 'upsert', state: { datacenter: 'dc7' } })
    expect(primary.store.get('dc7').state?.datacenter).toBe('dc7')
  })

  it('refuses primary_gateways in the primary, as Consul', async () => {
    await expect(
      FederationControlPlane.start({
        datacenter: 'dc1',
        primaryDatacenter: 'dc1',
        tls: { ca: caPem(), ...tlsFixture('bob') },
        primaryGateways: ['127.0.0.1:1'],
      }),
    ).rejects.toThrow(InvalidArgumentError)
  })
})
