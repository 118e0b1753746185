/**
 * MeshGateway taking its remote-DC routes from federation states, end to end over real TLS on
 * loopback: a secondary's gateway replicates the primary's states through the primary's gateway
 * (FederationStateClient + FederationStateReplicator, dialled with a FederationGatewayLocator
 * whose fallback is the primary gateway), and a datacenter whose state is then applied in the
 * primary's store becomes routable through the secondary's gateway with no config edit.
 */

import { once } from 'node:events'
import type { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_STREAM, dialViaGateway } from '../../src/alpn/index.ts'
import { FederationStateReplicator } from '../../src/locator/federation/replicator.ts'
import {
  FederationGatewayLocator,
  FederationStateClient,
  FederationStateStore,
} from '../../src/locator/index.ts'
import { gateway, state } from '../helpers/federation.ts'
import { federationGateways } from '../helpers/federation-gateways.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()
const { server, meshGateway } = federationGateways(cleanups, clock)

const tls = (name: string) => ({ ca: caPem(), ...tlsFixture(name) })

function store() {
  const s = new FederationStateStore({ clock })
  cleanups.push(() => s.close())
  return s
}

/** Dials `node` in `dc` through `via` as a dc2 client; resolves with the echo of a payload. */
async function echoVia(via: string, dc: string, node: string): Promise<string> {
  const socket: TLSSocket = await dialViaGateway({
    gateway: via,
    datacenter: dc,
    node,
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls: tls('client'),
    handshakeTimeoutMs: 3_000,
    clock,
  })
  try {
    socket.write('ping')
    const [data] = (await once(socket, 'data')) as [Buffer]
    return data.toString()
  } finally {
    socket.destroy()
  }
}

describe('MeshGateway routes from federation states', () => {
  it("a DC applied in the primary's store is routed by the secondary's gateway, no config edit, over real TLS", async () => {
    // dc1, the primary: bob serves the authoritative store; gw1 routes by it.
    const primaryStore = store()
    const bob = await server('bob', primaryStore)
    const gw1 = await meshGateway('dc1', { bob }, primaryStore)

    // dc2: gw2 knows only gw1's address; it routes by a copy replicated through gw1.
    const betty = await server('betty')
    const replicated = store()
    const gw2 = await meshGateway('dc2', { betty }, replicated)
    const locator = new FederationGatewayLocator({
      store: replicated,
      datacenter: 'dc2',
      primaryDatacenter: 'dc1',
      replicates: true,
      fallbackAddresses: [gw1.address],
      clock,
    }).start()
    const client = new FederationStateClient({
      datacenter: 'dc1',
      locator,
      tls: tls('betty'),
      clock,
    })
    const replicator = new FederationStateReplicator({
      store: replicated,
      source: client,
      locator,
      clock,
    }).start()
    cleanups.push(async () => {
      await replicator.close()
      await client.close()
      await locator.close()
    })

    // dc3 arrives later, with its own gateway.
    const bonnie = await server('bonnie')
    const gw3 = await meshGateway('dc3', { bonnie })

    primaryStore.upsert(state('dc1', gateway({ name: 'gw1', lan: '127.0.0.1', port: gw1.port })))
    primaryStore.upsert(state('dc2', gateway({ name: 'gw2', lan: '127.0.0.1', port: gw2.port })))
    await until(() => replicated.list().states.length === 2, 'dc1 and dc2 replicated', 10_000)
    // The primary is reachable through gw2 by the replicated states.
    expect(await echoVia(gw2.address, 'dc1', 'bob')).toBe('ping')
    // dc3 is not known yet: gw2 has no route for it.
    await expect(echoVia(gw2.address, 'dc3', 'bonnie')).rejects.toThrow()
    expect(
      gw2.gw.stats().rejected['unknown-route'] + gw2.gw.stats().rejected['upstream-failed'],
    ).toBe(1)

    // The new DC's state is applied in the primary's store only.
    primaryStore.upsert(
      state(
        'dc3',
        gateway({ name: 'gw3', lan: '10.255.0.3', wan: '127.0.0.1', port: 1, wanPort: gw3.port }),
      ),
    )
    await until(() => replicated.get('dc3').state !== undefined, 'dc3 replicated', 10_000)
    // gw2 routes to dc3's gateway at its WAN address, and gw3 to bonnie.
    expect(await echoVia(gw2.address, 'dc3', 'bonnie')).toBe('ping')
    expect(gw2.gw.stats().targets['server.dc3.consul']?.connections).toBe(1)
    expect(gw3.gw.stats().routes['local-server'].connections).toBe(1)
    // The primary's gateway routes to dc3 from its own store too.
    expect(await echoVia(gw1.address, 'dc3', 'bonnie')).toBe('ping')

    // A gateway whose check turns critical stops being routed to.
    primaryStore.upsert(
      state(
        'dc3',
        gateway({
          name: 'gw3',
          lan: '10.255.0.3',
          wan: '127.0.0.1',
          port: 1,
          wanPort: gw3.port,
          status: 'critical',
        }),
      ),
    )
    await until(
      () => replicated.get('dc3').state?.meshGateways[0]?.checks[0]?.status === 'critical',
      'the critical check replicated',
      10_000,
    )
    await expect(echoVia(gw2.address, 'dc3', 'bonnie')).rejects.toThrow()
  })
})
