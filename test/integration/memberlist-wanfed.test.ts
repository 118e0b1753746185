import { describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { Memberlist } from '../../src/memberlist/index.ts'
import { splitNodeName } from '../../src/transport/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { type WanfedNode, wanfedNode } from '../helpers/wanfed-node.ts'
import { fastConfig } from '../memberlist/cluster.ts'

/**
 * A WAN gossip pool across two datacenters, as Consul runs its WAN pool: each node's memberlist on
 * a WanfedTransport, cross-DC traffic through two MeshGateway hops (dc1's gateway, then dc2's) over
 * real TLS sockets on loopback, node names `<node>.<dc>`.
 */
const { clock, cleanups } = leakGuard()

async function gateway(
  datacenter: string,
  servers: Record<string, string>,
  locator: StaticGatewayLocator,
) {
  const gw = new MeshGateway({ datacenter, servers, locator, clock, closeGraceMs: 200 })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return { gw, address: `127.0.0.1:${port}` }
}

async function member(node: WanfedNode, extra: object = {}): Promise<Memberlist> {
  const local = splitNodeName(node.name).datacenter
  const ml = await Memberlist.create({
    ...fastConfig(),
    probeTimeoutMs: 300,
    tcpTimeoutMs: 3_000,
    name: node.name,
    transport: node.transport,
    clock,
    requireNodeNames: true,
    // Consul never falls back to stream pings across datacenters.
    disableTcpPingsForNode: (name: string) => splitNodeName(name).datacenter !== local,
    ...extra,
  })
  cleanups.push(() => ml.close())
  return ml
}

describe('memberlist across datacenters through mesh gateways', () => {
  it('two DCs join through two gateway hops, exchange messages, and detect a failure', async () => {
    const network = new MemoryNetwork({ clock })
    const bobLocator = new StaticGatewayLocator({})
    const bettyLocator = new StaticGatewayLocator({})
    const bob = await wanfedNode({
      network,
      node: 'bob',
      datacenter: 'dc1',
      identity: 'bob',
      locator: bobLocator,
      clock,
    })
    const betty = await wanfedNode({
      network,
      node: 'betty',
      datacenter: 'dc2',
      identity: 'betty',
      locator: bettyLocator,
      clock,
    })
    cleanups.push(
      () => bob.close(),
      () => betty.close(),
    )
    const gw1Locator = new StaticGatewayLocator({})
    const gw2Locator = new StaticGatewayLocator({})
    const gw1 = await gateway('dc1', { bob: bob.serverAddr }, gw1Locator)
    const gw2 = await gateway('dc2', { betty: betty.serverAddr }, gw2Locator)
    gw1Locator.setGateways('dc2', [gw2.address])
    gw2Locator.setGateways('dc1', [gw1.address])
    bobLocator.setGateways('dc2', [gw1.address])
    bettyLocator.setGateways('dc1', [gw2.address])

    const got: string[] = []
    const mBob = await member(bob, {
      delegate: { notifyMsg: (m: Buffer) => got.push(m.toString()) },
    })
    const mBetty = await member(betty)
    // The address is betty's view of bob's advertised one; the name is what routes.
    expect(await mBetty.join([`bob.dc1/${mBob.localNode.address}`])).toBe(1)
    await until(
      () => mBob.numMembers === 2 && mBetty.numMembers === 2,
      'both DCs see two members',
      10_000,
    )

    // Probes and acks cross both gateways: acks find bob by the ping's SourceNode.
    await until(
      () => mBob.stats().probes.acked >= 3 && mBetty.stats().probes.acked >= 3,
      'probes acked across DCs',
      10_000,
    )
    // Nothing went through the same-DC memory network: all of it took the gateway path.
    expect(bob.transport.stats().pool.dials).toBeGreaterThan(0)
    expect(betty.transport.stats().pool.dials).toBeGreaterThan(0)
    expect(bob.transport.stats().inner.packets.sent).toBe(0)

    await mBetty.sendReliable('bob.dc1', Buffer.from('stream across'))
    await mBetty.sendBestEffort('bob.dc1', Buffer.from('packet across'))
    await until(() => got.length === 2, 'messages across DCs')
    expect(got.sort()).toEqual(['packet across', 'stream across'])

    // betty stops: bob suspects it, then declares it dead.
    await mBetty.close()
    await until(
      () => mBob.allNodes().find((n) => n.name === 'betty.dc2')?.state === 'dead',
      'bob marks betty dead',
      20_000,
    )
  }, 60_000)
})
