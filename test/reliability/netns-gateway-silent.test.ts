import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import { listNamespaces, netnsGate, setLink } from '../helpers/netns.ts'
import { type Federation, type FedNode, startFederation } from '../helpers/netns-federation.ts'
import type { FlowReport, Received } from '../helpers/netns-runner.ts'

// Gateways that go silent rather than die. dc2's first gateway black-holed: its WAN leg taken
// down at the WAN bridge, so nothing sent to it is answered, refused or reset. dc3's first gateway
// hung: SIGSTOPped, so its kernel still accepts connections and nothing ever answers. Gateways
// here give a remote gateway 1.5 s to connect and 1.5 s to answer; nodes' handshakes wait 4 s:
// shorter on the gateway, so it can fail over while the node still waits.

const { support, reason } = netnsGate()

describe('a black-holed or hung gateway', () => {
  let fed: Federation | undefined

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation(
      'hole',
      [
        { name: 'dc1', nodes: ['bob'] },
        { name: 'dc2', nodes: ['betty'], gateways: 2 },
        { name: 'dc3', nodes: ['bonnie'], gateways: 2 },
      ],
      { firstHealthy: true },
    )
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

  /**
   * Steady packets from bob to `target`, then `silence()` on the gateway they go through; measures
   * the first new stream dial (time to avoid), the one after, and what became of the packets.
   */
  async function silenced(target: string, flow: string, silence: () => void) {
    if (fed === undefined) throw new Error('no federation')
    const bob = node('bob.dc1')
    const to = node(target)
    const gw1 = fed.gateways['gw1a']?.child
    if (gw1 === undefined) throw new Error('no gw1a')
    await bob.child.request('flowStart', { flow, to: to.to, intervalMs: 10 })
    const deadline = Date.now() + 10_000
    while ((await received(to, flow)).length < 50) {
      if (Date.now() > deadline) throw new Error('no steady traffic')
      await new Promise((r) => setTimeout(r, 25))
    }
    const before = await gw1.request<MeshGatewayStats>('stats')

    const at = Date.now()
    silence()
    // The first new dial: dc1's gateway tries the silent gateway (healthy so far), gives up on it
    // after its connect or answer timeout (1.5 s), retries the same ClientHello on the other
    // gateway, and bob's dial completes: the time to avoid.
    let t = performance.now()
    await bob.child.request('streamRtt', { to: to.to, count: 1 })
    const firstDialMs = performance.now() - t
    // From then on the silent one is in backoff: the next dial goes straight to the other.
    t = performance.now()
    await bob.child.request('streamRtt', { to: to.to, count: 1 })
    const nextDialMs = performance.now() - t
    const after = await gw1.request<MeshGatewayStats>('stats')
    const report = await bob.child.request<FlowReport>('flowStop', { flow })

    // The packet connection already spliced through the silent gateway: nothing tells anyone.
    // Bob's side drains into dc1's gateway, so every packet counts as sent.
    const log = await received(to, flow)
    const sentAfter = log.filter((r) => r.sentAt >= at)
    const figures = {
      firstDialMs: Math.round(firstDialMs),
      nextDialMs: Math.round(nextDialMs),
      gatewayConnectFailures:
        after.routes['remote-dc'].connectFailures - before.routes['remote-dc'].connectFailures,
      packetsAttemptedAfter: (report.attempted ?? 0) - (log.length - sentAfter.length),
      packetsDeliveredAfter: sentAfter.length,
      packetsCountedDropped: report.dropped,
      sendErrors: report.errors,
    }
    expect(firstDialMs).toBeGreaterThanOrEqual(1_400)
    expect(firstDialMs).toBeLessThan(4_000)
    expect(nextDialMs).toBeLessThan(1_000)
    expect(figures.gatewayConnectFailures).toBe(1)
    return figures
  }

  it("new dials avoid dc2's black-holed gateway after one connect timeout at dc1's gateway", async (ctx) => {
    ctx.skip(!support.ok, reason)
    const wan = fed?.topo.wan.ns as string
    const f = await silenced('betty.dc2', 'hole', () => setLink(wan, 'gw2a', false))
    console.log(`[netns] black-holed gw2a: ${JSON.stringify(f)}`)
  })

  it("new dials avoid dc3's hung gateway (SIGSTOP) after one answer timeout at dc1's gateway", async (ctx) => {
    ctx.skip(!support.ok, reason)
    const gw3 = fed?.gateways['gw3a']?.child
    if (gw3 === undefined) throw new Error('no gw3a')
    try {
      const f = await silenced('bonnie.dc3', 'hung', () => gw3.signal('SIGSTOP'))
      console.log(`[netns] hung gw3a: ${JSON.stringify(f)}`)
    } finally {
      gw3.signal('SIGCONT')
    }
  })
})

function received(n: FedNode, flow: string): Promise<Received[]> {
  return n.child.request<Received[]>('received', { flow })
}
