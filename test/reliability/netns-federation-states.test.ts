import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import { gateway } from '../helpers/federation.ts'
import { listNamespaces, netnsGate } from '../helpers/netns.ts'
import { type Federation, type FedNode, startFederation } from '../helpers/netns-federation.ts'

// Federation states across the isolated datacenters: bob runs the primary's control plane in dc1,
// betty a secondary's in dc2, each knowing only its own gateway. Replication (dc2 reads dc1's
// states) and anti-entropy (dc2 writes its own record into the primary) can only cross through
// the gateway processes.

const { support, reason } = netnsGate()

interface View {
  states: { datacenter: string; gateways: number }[]
  localGateways: string[]
  primaryGateways: string[]
  throughLocal: boolean
  pick: string | null
}

describe('federation-state replication across isolated datacenters', () => {
  let fed: Federation | undefined

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation('fsr', [
      { name: 'dc1', nodes: ['bob'] },
      { name: 'dc2', nodes: ['betty'] },
    ])
  }, 60_000)

  afterAll(async () => {
    if (fed === undefined) return
    const prefix = fed.topo.prefix
    await fed.stop()
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([])
  }, 30_000)

  const node = (name: string): FedNode => {
    const n = fed?.nodes[name]
    if (n === undefined) throw new Error(`no node ${name}`)
    return n
  }

  it("the secondary replicates the primary's states and the primary learns the secondary's, through the gateways only", async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const legs = (id: string) => {
      const g = fed?.gateways[id]
      if (g === undefined) throw new Error(`no gateway ${id}`)
      return g
    }
    const gw1 = legs('gw1a')
    const gw2 = legs('gw2a')
    const record = (id: string, lan: string, wan: string) =>
      gateway({ name: id, lan, wan, port: 8443 })
    const gw1Before = await gw1.child.request<MeshGatewayStats>('stats')
    const gw2Before = await gw2.child.request<MeshGatewayStats>('stats')

    const start = Date.now()
    await bob.child.request('federation', {
      config: {
        primaryDatacenter: 'dc1',
        gateways: [record('gw1a', gw1.legs.lanIp, gw1.legs.wanIp)],
      },
    })
    await betty.child.request('federation', {
      config: {
        primaryDatacenter: 'dc1',
        gateways: [record('gw2a', gw2.legs.lanIp, gw2.legs.wanIp)],
        // betty reaches nothing outside dc2 but its gateway, which routes server.dc1.consul on.
        primaryGateways: [`${gw2.legs.lanIp}:8443`],
      },
    })

    const view = (n: FedNode) => n.child.request<View>('federationView', { text: 'dc1' })
    const dcs = (v: View) => v.states.map((s) => s.datacenter).sort()
    let secondary = await view(betty)
    let primary = await view(bob)
    const deadline = Date.now() + 15_000
    while (dcs(secondary).join() !== 'dc1,dc2' || dcs(primary).join() !== 'dc1,dc2') {
      if (Date.now() > deadline) {
        throw new Error(`not converged: ${JSON.stringify({ primary, secondary })}`)
      }
      await new Promise((r) => setTimeout(r, 50))
      secondary = await view(betty)
      primary = await view(bob)
    }
    const convergedMs = Date.now() - start
    console.log(
      `[netns] federation states converged in ${convergedMs} ms: ${JSON.stringify({ primary, secondary })}`,
    )

    // The secondary dials the primary through its own gateway (LAN address), as Consul does once
    // it knows its local gateways; the WAN addresses it replicated are not reachable from dc2.
    expect(secondary.localGateways).toEqual([`${gw2.legs.lanIp}:8443`])
    expect(secondary.throughLocal).toBe(true)
    expect(secondary.pick).toBe(`${gw2.legs.lanIp}:8443`)
    for (const s of secondary.states) expect(s.gateways).toBe(1)
    // Both gateways carried the federation-state RPCs: dc2's out to dc1, dc1's in to its server.
    const gw1After = await gw1.child.request<MeshGatewayStats>('stats')
    const gw2After = await gw2.child.request<MeshGatewayStats>('stats')
    expect(
      gw2After.routes['remote-dc'].connections - gw2Before.routes['remote-dc'].connections,
    ).toBeGreaterThan(0)
    expect(
      gw1After.routes['local-any'].connections - gw1Before.routes['local-any'].connections,
    ).toBeGreaterThan(0)
    expect(convergedMs).toBeLessThan(15_000)
  })
})
