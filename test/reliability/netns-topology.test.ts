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
import type { ProbeResult } from '../helpers/netns-runner.ts'

// Three datacenters, each a namespace of its own, joined only by gateway processes with a leg on
// a WAN namespace (test/helpers/netns.ts draws it). Every node and gateway is its own process.

const { support, reason } = netnsGate()

describe('isolated datacenters (network namespaces)', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}
  let pids: number[] = []

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation('topo', [
      { name: 'dc1', nodes: ['bob', 'alice'] },
      { name: 'dc2', nodes: ['betty'] },
      { name: 'dc3', nodes: ['bonnie'] },
    ])
    pids = [...Object.values(fed.nodes), ...Object.values(fed.gateways)].map((x) => x.child.pid)
    baseline = await handleBaseline(fed)
  }, 60_000)

  afterAll(async () => {
    if (fed === undefined) return
    const prefix = fed.topo.prefix
    await fed.stop()
    // Nothing of ours is left: no namespace (their veths and bridges go with them), no process.
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([])
    expect(pids.filter(alive)).toEqual([])
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

  it('a direct dial from a dc1 node to a dc2 node, TCP or UDP, fails at once', async (ctx) => {
    ctx.skip(!support.ok, reason)
    const bob = node('bob.dc1')
    const betty = node('betty.dc2')
    const gw2 = gateway('gw2a').legs
    const before = await betty.child.request<WanfedTransportStats>('stats')

    const probes: Record<string, ProbeResult> = {}
    for (const [what, host, port] of [
      ['betty server', betty.ip, 8300],
      ['betty gossip', betty.ip, 8302],
      ['dc2 gateway WAN leg', gw2.wanIp, 8443],
      ['dc2 gateway LAN leg', gw2.lanIp, 8443],
    ] as const) {
      probes[what] = await bob.child.request<ProbeResult>('probeTcp', {
        host,
        port,
        timeoutMs: 3_000,
      })
    }
    const udp = await bob.child.request<ProbeResult>('probeUdp', { host: betty.ip, port: 8302 })
    console.log(
      '[netns] direct cross-DC attempts from bob.dc1:',
      JSON.stringify({ ...probes, udp }),
    )
    for (const p of [...Object.values(probes), udp]) {
      expect(p.ok).toBe(false)
      // No route at all: the kernel refuses, nothing waits for a timeout.
      expect(p.error?.code).toBe('ENETUNREACH')
      expect(p.ms).toBeLessThan(1_000)
    }
    // The same probe reaches what a dc1 node may reach, so the failures above are the topology's.
    const own = gateway('gw1a').legs.lanIp
    expect(
      (
        await bob.child.request<ProbeResult>('probeTcp', {
          host: own,
          port: 8443,
          timeoutMs: 3_000,
        })
      ).ok,
    ).toBe(true)
    expect(
      (
        await bob.child.request<ProbeResult>('probeTcp', {
          host: node('alice.dc1').ip,
          port: 8302,
          timeoutMs: 3_000,
        })
      ).ok,
    ).toBe(true)
    // The gateway host routes nothing either: from dc1's gateway, dc2's LAN is unreachable too,
    // while dc2's gateway on the WAN answers.
    const gw1 = gateway('gw1a').child
    const viaGw = await gw1.request<ProbeResult>('probeTcp', {
      host: betty.ip,
      port: 8300,
      timeoutMs: 3_000,
    })
    expect(viaGw.ok).toBe(false)
    expect(viaGw.error?.code).toBe('ENETUNREACH')
    expect(
      (
        await gw1.request<ProbeResult>('probeTcp', {
          host: gw2.wanIp,
          port: 8443,
          timeoutMs: 3_000,
        })
      )?.ok,
    ).toBe(true)

    // betty saw nothing of it.
    const after = await betty.child.request<WanfedTransportStats>('stats')
    expect(after.inner.packets.received).toBe(before.inner.packets.received)
    expect(after.inner.streams.accepted).toBe(before.inner.streams.accepted)
  })

  it('WanfedTransport packets and streams from dc1 reach dc2 and dc3 through the gateways, and back', async (ctx) => {
    ctx.skip(!support.ok, reason)
    const bob = node('bob.dc1')
    const gw1Before = await gwStats('gw1a')
    for (const [target, gw] of [
      ['betty.dc2', 'gw2a'],
      ['bonnie.dc3', 'gw3a'],
    ] as const) {
      const to = node(target)
      const before = await gwStats(gw)
      await bob.child.request('send', { to: to.to, text: `hello ${target}` })
      expect(await waitForMessage(to, `hello ${target}`)).toBe(true)

      // A stream: dialled through both gateways, echoed back on the same TLS session.
      const { dialMs, rtts } = await bob.child.request<{ dialMs: number; rtts: number[] }>(
        'streamRtt',
        { to: to.to, count: 3 },
      )
      expect(rtts).toHaveLength(3)
      // And the other way: the pong comes back through the far DC's gateway, then dc1's.
      const { rtts: pings, lost } = await bob.child.request<{ rtts: number[]; lost: number }>(
        'ping',
        { to: to.to, count: 3, timeoutMs: 5_000 },
      )
      expect(lost).toBe(0)
      console.log(
        `[netns] bob.dc1 -> ${target}: stream dial ${dialMs.toFixed(1)} ms, ` +
          `echo ${rtts.map((r) => r.toFixed(1)).join('/')} ms, packet ping ${pings.map((r) => r.toFixed(1)).join('/')} ms`,
      )
      // The far DC's gateway carried both the packet connection and the stream to its node.
      const after = await gwStats(gw)
      const key = `${target.split('.')[0]}.server.${target.split('.')[1]}.consul`
      expect(
        (after.targets[key]?.connections ?? 0) - (before.targets[key]?.connections ?? 0),
      ).toBeGreaterThanOrEqual(2)
    }
    // dc1's gateway carried them out: at least a packet connection and a stream per target DC.
    const gw1After = await gwStats('gw1a')
    expect(
      gw1After.routes['remote-dc'].connections - gw1Before.routes['remote-dc'].connections,
    ).toBeGreaterThanOrEqual(4)
    // The pongs came in through it to bob.
    expect(gw1After.targets['bob.server.dc1.consul']?.connections ?? 0).toBeGreaterThanOrEqual(2)
  })

  it('same-DC traffic stays direct: the gateways count none of it', async (ctx) => {
    ctx.skip(!support.ok, reason)
    const bob = node('bob.dc1')
    const alice = node('alice.dc1')
    const ids = Object.keys(fed?.gateways ?? {})
    const before = await Promise.all(ids.map(gwStats))
    const bobBefore = await bob.child.request<WanfedTransportStats>('stats')

    await bob.child.request('send', { to: alice.to, text: 'hello alice' })
    expect(await waitForMessage(alice, 'hello alice')).toBe(true)
    const { rtts } = await bob.child.request<{ rtts: number[] }>('streamRtt', {
      to: alice.to,
      count: 3,
    })
    expect(rtts).toHaveLength(3)

    const after = await Promise.all(ids.map(gwStats))
    for (const [i, id] of ids.entries()) {
      expect({ id, accepted: after[i]?.accepted }).toEqual({ id, accepted: before[i]?.accepted })
    }
    const bobAfter = await bob.child.request<WanfedTransportStats>('stats')
    // Carried by the wrapped NetTransport: the cross-DC pool dialled nothing.
    expect(bobAfter.pool.dials).toBe(bobBefore.pool.dials)
    expect(bobAfter.inner.streams.dialed).toBe(bobBefore.inner.streams.dialed + 1)
  })

  it('every node and gateway is back to its starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    // Streams are closed; the pooled packet connections go idle and are reaped.
    await expectHandlesBack(fed, baseline, Object.keys(baseline))
  })
})

/** Polls the node's received messages until `text` is among them (10 s at most). */
async function waitForMessage(n: FedNode, text: string): Promise<boolean> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if ((await n.child.request<string[]>('messages')).includes(text)) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return false
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
