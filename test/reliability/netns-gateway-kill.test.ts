import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import type { WanfedTransportStats } from '../../src/transport/index.ts'
import { listNamespaces, netnsGate } from '../helpers/netns.ts'
import {
  expectHandlesBack,
  type Federation,
  type FedGateway,
  type FedNode,
  type HandleBaseline,
  handleBaseline,
  startFederation,
} from '../helpers/netns-federation.ts'
import type { FlowReport, Received, StreamReport } from '../helpers/netns-runner.ts'

// A gateway process SIGKILLed during steady cross-DC packet traffic (100 packets/s) with long
// streams open through it. Two gateways in each DC: dc1's gateways pick dc2's first healthy one,
// so the test knows which carries the traffic. First dc2's gateway is killed (dc1's gateway
// fails over), then the dc1 gateway bob's traffic goes through (bob's WanfedTransport fails over).

const { support, reason } = netnsGate()

const INTERVAL_MS = 10
const STREAMS = 3

interface KillFigures {
  killed: string
  attempted: number
  received: number
  lost: number
  sendErrors: Record<string, number>
  /** From the process's death to the arrival of the first packet sent after it. */
  recoverMs: number
  /** bob's pooled packet connections open (through the victim) when it was killed. */
  poolConnsBroken: number
  /** The longest gap between two arrivals. */
  longestGapMs: number
  nodeDialFailures: number
  gatewayConnectFailures: number
  streams: { state: string; error?: string; msAfterKill: number | undefined }[]
  newStreamDialMs: number
}

describe('a gateway killed (SIGKILL) during steady cross-DC traffic', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}
  const figures: KillFigures[] = []

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation(
      'kill',
      [
        { name: 'dc1', nodes: ['bob'], gateways: 2 },
        { name: 'dc2', nodes: ['betty'], gateways: 2 },
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
    if (figures.length > 0) console.log(`[netns] gateway kill figures: ${JSON.stringify(figures)}`)
  }, 30_000)

  const node = (name: string): FedNode => {
    const n = fed?.nodes[name]
    if (n === undefined) throw new Error(`no node ${name}`)
    return n
  }
  const gateway = (id: string): FedGateway => {
    const g = fed?.gateways[id]
    if (g === undefined) throw new Error(`no gateway ${id}`)
    return g
  }
  const gwStats = (id: string) => gateway(id).child.request<MeshGatewayStats>('stats')

  /**
   * Runs the flow and the streams, lets `pickVictim` choose the gateway carrying them, kills it,
   * and measures until the flow has run 2 s past the kill.
   */
  async function killDuring(
    flow: string,
    pickVictim: () => Promise<string>,
    countFailures: (victim: string) => Promise<number>,
  ): Promise<KillFigures> {
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const nodeBefore = await bob.child.request<WanfedTransportStats>('stats')
    const gwFailuresBefore = await countFailures('')
    await bob.child.request('flowStart', { flow, to: betty.to, intervalMs: INTERVAL_MS })
    const streams: number[] = []
    for (let i = 0; i < STREAMS; i++) {
      streams.push(await bob.child.request<number>('streamOpen', { to: betty.to, intervalMs: 20 }))
    }
    await pollUntil(async () => (await received(betty, flow)).length >= 50, 'steady traffic')
    const victim = await pickVictim()
    const openBefore = (await bob.child.request<WanfedTransportStats>('stats')).pool.open

    const killAt = Date.now()
    await gateway(victim).child.kill()
    // Packets sent between the signal and the death still went through it: recovery counts from
    // the moment the process is known dead.
    const deadAt = Date.now()
    await pollUntil(
      async () => (await received(betty, flow)).some((r) => r.sentAt >= deadAt),
      'the first packet sent after the kill to arrive',
      15_000,
    )
    // New traffic right after recovery, inside the dead gateway's backoff window: a fresh stream
    // dial goes through the surviving gateways.
    const t = performance.now()
    const { rtts } = await bob.child.request<{ rtts: number[] }>('streamRtt', {
      to: betty.to,
      count: 1,
    })
    const newStreamDialMs = performance.now() - t
    expect(rtts).toHaveLength(1)
    await pollUntil(
      async () => (await received(betty, flow)).some((r) => r.sentAt > killAt + 2_000),
      'traffic 2 s after the kill',
      15_000,
    )
    const report = await bob.child.request<FlowReport>('flowStop', { flow })
    await pollUntil(
      async () => {
        for (const id of streams) {
          const r = await bob.child.request<StreamReport>('streamReport', { stream: id })
          if (r.state === 'open') return false
        }
        return true
      },
      'the streams through the killed gateway to end',
      10_000,
    ).catch(() => {})
    const streamReports = await Promise.all(
      streams.map((id) => bob.child.request<StreamReport>('streamReport', { stream: id })),
    )

    const log = await received(betty, flow)
    const seqs = new Set(log.map((r) => r.seq))
    const arrivals = log.map((r) => r.at).sort((a, b) => a - b)
    let longestGapMs = 0
    for (let i = 1; i < arrivals.length; i++) {
      longestGapMs = Math.max(longestGapMs, (arrivals[i] as number) - (arrivals[i - 1] as number))
    }
    const firstAfter = Math.min(...log.filter((r) => r.sentAt >= deadAt).map((r) => r.at))
    const nodeAfter = await bob.child.request<WanfedTransportStats>('stats')
    const attempted = report.attempted ?? 0
    return {
      killed: victim,
      attempted,
      received: seqs.size,
      lost: attempted - seqs.size,
      sendErrors: report.errorCodes,
      recoverMs: firstAfter - deadAt,
      poolConnsBroken: openBefore,
      longestGapMs,
      nodeDialFailures:
        nodeAfter.pool.dialFailures -
        nodeBefore.pool.dialFailures +
        (nodeAfter.streams.dialErrors - nodeBefore.streams.dialErrors),
      gatewayConnectFailures: (await countFailures(victim)) - gwFailuresBefore,
      streams: streamReports.map((r) => ({
        state: r.state,
        ...(r.error === undefined
          ? {}
          : { error: `${r.error.name}${r.error.code ? ` ${r.error.code}` : ''}` }),
        msAfterKill: r.endedAt === undefined ? undefined : r.endedAt - killAt,
      })),
      newStreamDialMs: Math.round(newStreamDialMs),
    }
  }

  function checkStreamsAndRecovery(f: KillFigures): void {
    // Every stream through the dead gateway failed with a typed error (none hangs, none reads as
    // a clean end: the dead gateway's FIN carries no TLS close_notify), within a few seconds.
    for (const s of f.streams) {
      expect(s.state).toBe('errored')
      expect(s.error).toBe('SocketError WANFED_ERR_SOCKET')
      expect(s.msAfterKill).toBeLessThan(5_000)
    }
    // Packets resumed quickly and few were lost: 100/s, so 100 packets is a second of traffic.
    expect(f.recoverMs).toBeLessThan(2_000)
    expect(f.lost).toBeLessThan(100)
    expect(f.received).toBeGreaterThan(f.attempted - 100)
  }

  it("dc2's gateway dies: dc1's gateway fails over to dc2's other gateway after one failed connect", async (ctx) => {
    ctx.skip(!support.ok, reason)
    const f = await killDuring(
      'remote',
      async () => {
        const [a, b] = await Promise.all([gwStats('gw2a'), gwStats('gw2b')])
        // firstHealthy: everything goes through gw2a.
        expect(a.targets['betty.server.dc2.consul']?.active ?? 0).toBeGreaterThanOrEqual(
          1 + STREAMS,
        )
        expect(b.accepted).toBe(0)
        return 'gw2a'
      },
      async () => {
        let n = 0
        for (const id of ['gw1a', 'gw1b']) {
          n += (await gwStats(id)).routes['remote-dc'].connectFailures
        }
        return n
      },
    )
    figures.push(f)
    console.log(`[netns] killed gw2a: ${JSON.stringify(f)}`)
    checkStreamsAndRecovery(f)
    // dc1's gateway tried the dead one once per connection that was open through it (their
    // redials race), each refused at once and retried with the same ClientHello on gw2b, and
    // avoided gw2a from then on; bob never saw a failed dial.
    expect(f.gatewayConnectFailures).toBeGreaterThanOrEqual(1)
    expect(f.gatewayConnectFailures).toBeLessThanOrEqual(Math.max(1, f.poolConnsBroken))
    expect(f.nodeDialFailures).toBe(0)
    expect(
      (await gwStats('gw2b')).targets['betty.server.dc2.consul']?.connections ?? 0,
    ).toBeGreaterThanOrEqual(2)
  })

  it("dc1's gateway dies: bob's WanfedTransport fails over to dc1's other gateway with no failed dial", async (ctx) => {
    ctx.skip(!support.ok, reason)
    const f = await killDuring(
      'local',
      async () => {
        const [a, b] = await Promise.all([gwStats('gw1a'), gwStats('gw1b')])
        // firstHealthy: bob sends everything through gw1a.
        expect(a.routes['remote-dc'].active).toBeGreaterThanOrEqual(1 + STREAMS)
        expect(b.routes['remote-dc'].active).toBe(0)
        return 'gw1a'
      },
      async () => 0,
    )
    figures.push(f)
    console.log(`[netns] killed gw1a: ${JSON.stringify(f)}`)
    checkStreamsAndRecovery(f)
    // bob's next dial went to the dead gateway (it still looked healthy), was refused at once and
    // retried on gw1b, and the locator avoided gw1a from then on: no failed dial.
    expect(f.nodeDialFailures).toBe(0)
    expect(f.sendErrors).toEqual({})
    expect((await gwStats('gw1b')).routes['remote-dc'].active).toBeGreaterThanOrEqual(1)

    // The dead gateway is tried again each time its backoff window (1 s, then 2 s, 4 s, ...)
    // runs out; the dial that re-probes it is refused and retried on gw1b, so the caller pays
    // nothing. Stream dials every 200 ms for 3.5 s show it.
    const bob = node('bob.dc1')
    let dials = 0
    let failed = 0
    const until = Date.now() + 3_500
    while (Date.now() < until) {
      dials++
      await bob.child.request('streamRtt', { to: node('betty.dc2').to, count: 1 }).catch(() => {
        failed++
      })
      await new Promise((r) => setTimeout(r, 200))
    }
    console.log(`[netns] after killing gw1a: ${failed} of ${dials} stream dials failed over 3.5 s`)
    figures.push({ ...f, killed: 'gw1a (re-probes)', nodeDialFailures: failed, streams: [] })
    expect(failed).toBe(0)
  })

  it('every surviving process is back to its starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    // Streams are closed, the flow stopped; the pooled packet connections go idle and are reaped.
    await expectHandlesBack(fed, baseline, ['bob.dc1', 'betty.dc2', 'gw1b', 'gw2b'])
  })
})

function received(n: FedNode, flow: string): Promise<Received[]> {
  return n.child.request<Received[]>('received', { flow })
}

async function pollUntil(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
