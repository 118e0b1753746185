import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import { listNamespaces, netnsGate, setLink } from '../helpers/netns.ts'
import {
  expectHandlesBack,
  type Federation,
  type FedNode,
  type HandleBaseline,
  handleBaseline,
  startFederation,
} from '../helpers/netns-federation.ts'
import type { FlowReport, Received } from '../helpers/netns-runner.ts'

// Gateways that go silent rather than die. dc2's first gateway black-holed: its WAN leg taken
// down at the WAN bridge, so nothing sent to it is answered, refused or reset. dc3's first gateway
// hung: SIGSTOPped, so its kernel still accepts connections and nothing ever answers. Gateways
// here give a remote gateway 1.5 s to connect and 1.5 s to answer; nodes' handshakes wait 4 s:
// shorter on the gateway, so it can fail over while the node still waits. The packet connection
// already spliced through the silent gateway is ended by dc1's gateway once its writes to it make
// no progress for 2 s (writeStallTimeoutMs), and bob's pool redials through the other gateway.
// Packets carry 400 bytes of padding (about 500 bytes, as gossip compounds are), 100 a second.

const { support, reason } = netnsGate()

const WRITE_STALL_MS = 2_000

describe('a black-holed or hung gateway', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}

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
    await bob.child.request('flowStart', { flow, to: to.to, intervalMs: 10, padBytes: 400 })
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

    // The packet connection already spliced through the silent gateway: bob's side drains into
    // dc1's gateway, whose kernel buffers towards the silent one until they fill; then its writes
    // stop, it ends the splice after writeStallTimeoutMs, and bob's pool redials (through the
    // other gateway: the silent one is in backoff). Wait for the flow to resume steadily.
    const resumeDeadline = Date.now() + 45_000
    while ((await received(to, flow)).filter((r) => r.sentAt >= at).length < 50) {
      if (Date.now() > resumeDeadline) throw new Error('packets never resumed after the silence')
      await new Promise((r) => setTimeout(r, 100))
    }
    const report = await bob.child.request<FlowReport>('flowStop', { flow })
    const stalled = await gw1.request<MeshGatewayStats>('stats')
    const log = await received(to, flow)
    const got = new Set(log.map((r) => r.seq))
    const firstAfter = Math.min(...log.filter((r) => r.sentAt >= at).map((r) => r.seq))
    // Sent after the silence began (numbered from the first such packet that arrived or not).
    const firstSeqAfter = Math.min(
      firstAfter,
      ...log.filter((r) => r.sentAt < at).map((r) => r.seq + 1),
    )
    const lost: number[] = []
    for (let seq = firstSeqAfter; seq < (report.attempted ?? 0); seq++) {
      if (!got.has(seq)) lost.push(seq)
    }
    const lastLost = lost.length === 0 ? -1 : Math.max(...lost)
    const resumedAt = Math.min(...log.filter((r) => r.seq > lastLost).map((r) => r.at))
    const figures = {
      firstDialMs: Math.round(firstDialMs),
      nextDialMs: Math.round(nextDialMs),
      gatewayConnectFailures:
        after.routes['remote-dc'].connectFailures - before.routes['remote-dc'].connectFailures,
      writeStalls: stalled.writeStalls - before.writeStalls,
      /** From the silence to the first packet delivered after the last one lost. */
      movedOnMs: resumedAt - at,
      packetsLostAfter: lost.length,
      packetsCountedDropped: report.dropped,
      sendErrors: report.errors,
    }
    expect(firstDialMs).toBeGreaterThanOrEqual(1_400)
    expect(firstDialMs).toBeLessThan(4_000)
    expect(nextDialMs).toBeLessThan(1_000)
    expect(figures.gatewayConnectFailures).toBe(1)
    // The established connection was cut by dc1's gateway's write-stall timer, once.
    expect(figures.writeStalls).toBe(1)
    expect(figures.movedOnMs).toBeGreaterThan(WRITE_STALL_MS)
    expect(figures.movedOnMs).toBeLessThan(45_000)
    return figures
  }

  it("new dials avoid dc2's black-holed gateway after one connect timeout at dc1's gateway", async (ctx) => {
    ctx.skip(!support.ok, reason)
    const wan = fed?.topo.wan.ns as string
    try {
      const f = await silenced('betty.dc2', 'hole', () => setLink(wan, 'gw2a', false))
      console.log(`[netns] black-holed gw2a: ${JSON.stringify(f)}`)
    } finally {
      // The link back: what dc1's gateway still had queued for gw2a (and its FIN) gets through,
      // so gw2a and betty can release their end of the cut connection.
      setLink(wan, 'gw2a', true)
    }
  }, 60_000)

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
  }, 60_000)

  it('every process is back to its starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    // The silenced gateways too, once back: dc1's gateway's kernel still retransmits what it had
    // queued for them, with the FIN, so their splices end (by TCP's backoff, within some seconds).
    await expectHandlesBack(fed, baseline, Object.keys(baseline), 30_000)
  }, 60_000)
})

function received(n: FedNode, flow: string): Promise<Received[]> {
  return n.child.request<Received[]>('received', { flow })
}
