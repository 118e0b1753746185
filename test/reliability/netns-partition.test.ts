import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocatorDecision } from '../../src/locator/index.ts'
import { gateway as gatewayRecord } from '../helpers/federation.ts'
import { listNamespaces, netnsGate, setLink } from '../helpers/netns.ts'
import {
  expectHandlesBack,
  type Federation,
  type FedNode,
  type HandleBaseline,
  handleBaseline,
  startFederation,
} from '../helpers/netns-federation.ts'

// The primary datacenter (dc1) partitioned from a secondary (dc2), then healed. bob runs the
// primary's control plane, betty the secondary's, replicating from the primary through dc2's
// gateway. dc2's LAN has a leg on the WAN (wanAccess), so betty can also dial the primary's
// gateway's WAN address directly, as Consul's primary_gateways lets a secondary. The partition
// takes dc1's gateway's WAN leg down: both routes black-holed. After 3 failed replications the
// secondary dials the primary's gateways directly (Consul's fallback); it keeps serving from its
// replicated states meanwhile; both sides change their gateways during the partition, and after
// the heal each learns the other's change.
//
// WANFED_PARTITION_MS sets the partition's length (default 15 s; 60000 for the full minute).
// Replication here waits 1 s per blocking fetch and 2 s for an answer (the library: 300 s, 30 s),
// so its failures come in seconds, as Consul's do through yamux's keepalive.

const { support, reason } = netnsGate()
const PARTITION_MS = Number(process.env['WANFED_PARTITION_MS'] ?? 15_000)

interface View {
  states: { datacenter: string; gateways: number }[]
  localGateways: string[]
  primaryGateways: string[]
  throughLocal: boolean
  pick: string | null
  decision: LocatorDecision
}

type Dials = Record<string, { connected: number; failed: number }>

describe('the primary partitioned from a secondary, then healed', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation('part', [
      { name: 'dc1', nodes: ['bob'] },
      { name: 'dc2', nodes: ['betty'], wanAccess: true },
    ])
    baseline = await handleBaseline(fed)
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
  const legs = (id: string) => {
    const g = fed?.gateways[id]
    if (g === undefined) throw new Error(`no gateway ${id}`)
    return g.legs
  }

  it(`the secondary serves from its replicated states, dials the primary's gateways directly after 3 failed replications, and converges after the heal (${PARTITION_MS} ms)`, async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const gw1 = legs('gw1a')
    const gw2 = legs('gw2a')
    const primaryWan = `${gw1.wanIp}:8443`
    const record = (name: string, lan: string, wan: string) =>
      gatewayRecord({ name, lan, wan, port: 8443 })
    const dc1Gateways = [record('gw1a', gw1.lanIp, gw1.wanIp)]
    const dc2Gateways = [record('gw2a', gw2.lanIp, gw2.wanIp)]
    await bob.child.request('federation', {
      config: { primaryDatacenter: 'dc1', gateways: dc1Gateways },
    })
    await betty.child.request('federation', {
      config: {
        primaryDatacenter: 'dc1',
        gateways: dc2Gateways,
        // The primary's gateway's WAN address, as Consul's primary_gateways usually is.
        primaryGateways: [primaryWan],
        replicationWaitMs: 1_000,
        requestTimeoutMs: 2_000,
      },
    })
    const view = (n: FedNode) => n.child.request<View>('federationView', { text: 'dc1' })
    const gatewaysOf = (v: View, dc: string) =>
      v.states.find((s) => s.datacenter === dc)?.gateways ?? 0
    const poll = async (what: string, ms: number, check: () => Promise<boolean>) => {
      const deadline = Date.now() + ms
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    // Converged, and replicating through the local gateway.
    await poll('the first convergence', 20_000, async () => {
      const [s, p] = [await view(betty), await view(bob)]
      return (
        gatewaysOf(s, 'dc1') === 1 &&
        gatewaysOf(s, 'dc2') === 1 &&
        gatewaysOf(p, 'dc2') === 1 &&
        s.throughLocal &&
        s.decision.consecutiveReplicationSuccesses >= 1
      )
    })
    expect((await view(betty)).pick).toBe(`${gw2.lanIp}:8443`)
    await betty.child.request('federationDials')

    // The partition: dc1's gateway's WAN leg down, every path between the two DCs black-holed.
    const wan = fed.topo.wan.ns
    const cutAt = Date.now()
    setLink(wan, 'gw1a', false)
    let healAt = 0
    try {
      // Each side changes its gateways while cut off: a second gateway record.
      await bob.child.request('federationSetGateways', {
        config: { gateways: [...dc1Gateways, record('gw1z', '10.1.0.9', '192.0.2.19')] },
      })
      await betty.child.request('federationSetGateways', {
        config: { gateways: [...dc2Gateways, record('gw2z', '10.2.0.9', '192.0.2.29')] },
      })
      let fellBackMs: number | undefined
      let samples = 0
      while (Date.now() - cutAt < PARTITION_MS) {
        const v = await view(betty)
        samples++
        // Still serving from what it replicated: both states, the primary's unchanged.
        expect(gatewaysOf(v, 'dc1')).toBe(1)
        expect(gatewaysOf(v, 'dc2')).toBeGreaterThanOrEqual(1)
        expect(v.pick).not.toBeNull()
        if (fellBackMs === undefined && !v.throughLocal) {
          fellBackMs = Date.now() - cutAt
          // Consul's rule: the third failure in a row switches to the primary's own gateways.
          expect(v.decision.consecutiveReplicationFailures).toBeGreaterThanOrEqual(3)
          expect(v.decision.primaryRoute).toEqual([primaryWan])
          expect(v.pick).toBe(primaryWan)
        }
        if (fellBackMs !== undefined) expect(v.throughLocal).toBe(false)
        await new Promise((r) => setTimeout(r, 200))
      }
      const during = await betty.child.request<Dials>('federationDials')
      const last = await view(betty)
      console.log(
        `[netns] partition of ${PARTITION_MS} ms: fell back to the primary's gateways after ` +
          `${fellBackMs} ms (${last.decision.consecutiveReplicationFailures} failures in a row by ` +
          `the heal); federation-state dials during it ${JSON.stringify(during)}; ${samples} ` +
          'views of the store, all with both states',
      )
      expect(fellBackMs).toBeDefined()
      // Through the local gateway (its upstream black-holed) the dials failed.
      expect(during[`${gw2.lanIp}:8443`]?.failed ?? 0).toBeGreaterThanOrEqual(1)
      expect(during[`${gw2.lanIp}:8443`]?.connected ?? 0).toBe(0)
      expect(during[primaryWan]?.connected ?? 0).toBe(0)
    } finally {
      setLink(wan, 'gw1a', true)
      healAt = Date.now()
    }

    // Healed: each side learns the change the other made while cut off.
    let lastViews: unknown
    await poll('convergence after the heal', 40_000, async () => {
      const [s, p] = [await view(betty), await view(bob)]
      lastViews = { secondary: s, primary: p }
      return gatewaysOf(s, 'dc1') === 2 && gatewaysOf(p, 'dc2') === 2
    }).catch(async (err: Error) => {
      const dials = await betty.child.request<Dials>('federationDials')
      throw new Error(`${err.message}: ${JSON.stringify({ lastViews, dials })}`)
    })
    const convergedMs = Date.now() - healAt
    const after = await betty.child.request<Dials>('federationDials')
    const healed = await view(betty)
    console.log(
      `[netns] after the heal: converged both ways in ${convergedMs} ms; federation-state dials ` +
        `${JSON.stringify(after)}; through the local gateway again: ${healed.throughLocal}`,
    )
    // The fallback was real: the first replication after the heal went to the primary's gateway
    // directly (betty's WAN leg), and its success switched the route back to the local gateway.
    expect(after[primaryWan]?.connected ?? 0).toBeGreaterThanOrEqual(1)
    await poll('the route back through the local gateway', 15_000, async () => {
      const v = await view(betty)
      return v.throughLocal && v.pick === `${gw2.lanIp}:8443`
    })
    expect(convergedMs).toBeLessThan(40_000)
  }, 180_000)

  it('every process is back to its starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    // The secondary's client keeps its connection to the primary by design: the control planes
    // are stopped first, then every process must be back where it started.
    for (const n of ['betty.dc2', 'bob.dc1']) await node(n).child.request('federationStop')
    await expectHandlesBack(fed, baseline, Object.keys(baseline), 30_000)
  }, 60_000)
})
