import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import type { GatewayHealth } from '../../src/locator/index.ts'
import type { WanfedTransportStats } from '../../src/transport/index.ts'
import { listNamespaces, netnsGate } from '../helpers/netns.ts'
import {
  expectHandlesBack,
  type Federation,
  type FedNode,
  type HandleBaseline,
  handleBaseline,
  startFederation,
} from '../helpers/netns-federation.ts'
import type { FlowReport, Received, StreamReport } from '../helpers/netns-runner.ts'

// A remote node killed (SIGKILL) during steady cross-DC packet traffic and started again a second
// later on the same address with the same certificate, as a restarted server comes back.

const { support, reason } = netnsGate()

const DOWN_MS = 1_000

describe('a remote node restarting on the same address', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation('rst', [
      { name: 'dc1', nodes: ['bob'] },
      { name: 'dc2', nodes: ['betty'] },
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

  it('pooled packet connections are redialled, every send settles, and the node does not blame its gateway', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const gw1Before = await fed.gateways['gw1a']?.child.request<MeshGatewayStats>('stats')
    await bob.child.request('flowStart', { flow: 'rst', to: betty.to, intervalMs: 10 })
    const stream = await bob.child.request<number>('streamOpen', { to: betty.to, intervalMs: 20 })
    await pollUntil(async () => (await received(betty)).length >= 50, 'steady traffic')
    const before = await received(betty)

    const killAt = Date.now()
    await betty.child.kill()
    await new Promise((r) => setTimeout(r, DOWN_MS))
    const again = await fed.restartNode('betty.dc2')
    const upAt = Date.now()
    await pollUntil(
      async () => (await received(again)).some((r) => r.sentAt >= upAt),
      'packets at the restarted node',
      10_000,
    )
    const firstAfter = Math.min(
      ...(await received(again)).filter((r) => r.sentAt >= upAt).map((r) => r.at),
    )
    // Traffic runs on for a moment through the new connection.
    await new Promise((r) => setTimeout(r, 300))
    const report = await bob.child.request<FlowReport>('flowStop', { flow: 'rst' })
    const streamReport = await bob.child.request<StreamReport>('streamReport', { stream })
    const health = await bob.child.request<Record<string, GatewayHealth[]>>('health')
    const stats = await bob.child.request<WanfedTransportStats>('stats')
    const gw1After = await fed.gateways['gw1a']?.child.request<MeshGatewayStats>('stats')
    const after = await received(again)

    const attempted = report.attempted ?? 0
    const figures = {
      downMs: upAt - killAt,
      resumeMs: firstAfter - upAt,
      attempted,
      deliveredBefore: before.length,
      deliveredToRestarted: after.length,
      sendErrors: report.errorCodes,
      dropped: report.dropped,
      poolDials: stats.pool.dials,
      poolDialFailures: stats.pool.dialFailures,
      errorSamples: report.errorSamples,
      // dc1's gateway sees dc2's gateway close without answering (betty is down behind it) and
      // counts, and reports to its locator, a failed connect each time: a figure, not a rule.
      gatewayConnectFailures:
        (gw1After?.routes['remote-dc'].connectFailures ?? 0) -
        (gw1Before?.routes['remote-dc'].connectFailures ?? 0),
      stream: {
        state: streamReport.state,
        error: streamReport.error?.code ?? streamReport.error?.name,
        msAfterKill: streamReport.endedAt === undefined ? undefined : streamReport.endedAt - killAt,
      },
    }
    console.log(`[netns] betty.dc2 restarted: ${JSON.stringify(figures)}`)

    // Nothing hangs: every send settled, resolved (written or dropped and counted) or rejected.
    expect(report.resolved + report.errors).toBe(attempted)
    // The restarted node gets packets soon after it listens: the dead pooled connection was
    // noticed and a new one dialled once the pool's per-node dial backoff (1 s, then 2 s, ...)
    // let it.
    expect(figures.resumeMs).toBeLessThan(5_000)
    expect(stats.pool.dials).toBeGreaterThanOrEqual(2)
    // The stream to the old process ended with it.
    expect(streamReport.state).not.toBe('open')
    expect(figures.stream.msAfterKill).toBeLessThan(2_000)
    // A dead far node says nothing about bob's gateway: its locator does not avoid it. Every
    // failed send was a typed error.
    expect(health['dc2']?.length).toBe(1)
    for (const h of health['dc2'] ?? []) expect(h.consecutiveFailures).toBe(0)
    for (const code of Object.keys(report.errorCodes)) expect(code).toMatch(/^WANFED_ERR_/)
  })

  it('the processes that stayed up are back to their starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    await expectHandlesBack(fed, baseline, ['bob.dc1', 'gw1a', 'gw2a'])
  })
})

function received(n: FedNode): Promise<Received[]> {
  return n.child.request<Received[]>('received', { flow: 'rst' })
}

async function pollUntil(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
