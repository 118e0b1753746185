import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import type { WanfedTransportStats } from '../../src/transport/index.ts'
import { listNamespaces, netnsSupport, setLink } from '../helpers/netns.ts'
import { type Federation, type FedNode, startFederation } from '../helpers/netns-federation.ts'
import type { FlowReport, Received } from '../helpers/netns-runner.ts'

// dc2's first gateway black-holed: its WAN leg taken down at the WAN bridge, so nothing sent to
// it is answered, refused or reset. Gateways here connect with a 2 s timeout, nodes' handshakes
// wait 3 s: shorter on the gateway, so it can fail over while the node still waits.

const support = netnsSupport()
const reason = support.ok ? '' : `network namespaces unavailable: ${support.reason}`
if (!support.ok) console.warn(`[netns] ${reason}; these tests are skipped`)

describe('a black-holed gateway link', () => {
  let fed: Federation | undefined

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation(
      'hole',
      [
        { name: 'dc1', nodes: ['bob'] },
        { name: 'dc2', nodes: ['betty'], gateways: 2 },
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

  it("new dials avoid dc2's black-holed gateway after one connect timeout at dc1's gateway", async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const gw1 = fed.gateways['gw1a']?.child
    if (gw1 === undefined) throw new Error('no gw1a')
    await bob.child.request('flowStart', { flow: 'hole', to: betty.to, intervalMs: 10 })
    const deadline = Date.now() + 10_000
    while ((await received(betty)).length < 50) {
      if (Date.now() > deadline) throw new Error('no steady traffic')
      await new Promise((r) => setTimeout(r, 25))
    }
    const before = await gw1.request<MeshGatewayStats>('stats')

    const holeAt = Date.now()
    setLink(fed.topo.wan.ns, 'gw2a', false)
    // The first new dial: dc1's gateway tries gw2a (healthy so far), its connect times out after
    // 2 s, it retries the same ClientHello on gw2b, and bob's dial completes: time to avoid.
    let t = performance.now()
    await bob.child.request('streamRtt', { to: betty.to, count: 1 })
    const firstDialMs = performance.now() - t
    // From then on gw2a is in backoff: the next dial goes straight to gw2b.
    t = performance.now()
    await bob.child.request('streamRtt', { to: betty.to, count: 1 })
    const nextDialMs = performance.now() - t
    const after = await gw1.request<MeshGatewayStats>('stats')
    const report = await bob.child.request<FlowReport>('flowStop', { flow: 'hole' })
    const bobStats = await bob.child.request<WanfedTransportStats>('stats')

    // The packet connection that was already spliced through gw2a when the link went: nothing
    // tells anyone. Bob's side drains into dc1's gateway, so every packet counts as sent.
    const log = await received(betty)
    const sentAfter = log.filter((r) => r.sentAt >= holeAt)
    const figures = {
      firstDialMs: Math.round(firstDialMs),
      nextDialMs: Math.round(nextDialMs),
      gatewayConnectFailures:
        after.routes['remote-dc'].connectFailures - before.routes['remote-dc'].connectFailures,
      packetsAttemptedAfterHole: (report.attempted ?? 0) - (log.length - sentAfter.length),
      packetsDeliveredAfterHole: sentAfter.length,
      packetsCountedDropped: report.dropped + bobStats.pool.dropped,
      sendErrors: report.errors,
    }
    console.log(`[netns] black-holed gw2a: ${JSON.stringify(figures)}`)

    expect(firstDialMs).toBeGreaterThanOrEqual(1_900)
    expect(firstDialMs).toBeLessThan(3_000)
    expect(nextDialMs).toBeLessThan(1_000)
    expect(figures.gatewayConnectFailures).toBe(1)
  })
})

function received(n: FedNode): Promise<Received[]> {
  return n.child.request<Received[]>('received', { flow: 'hole' })
}
