import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MemberlistStats } from '../../src/memberlist/index.ts'
import { listNamespaces, netnsGate } from '../helpers/netns.ts'
import { type Federation, type FedNode, startFederation } from '../helpers/netns-federation.ts'

// wanfed/memberlist's WAN pool across three isolated datacenters, every byte through the gateways
// and the delay relays between them: joined and watched over 50 ms, then 150 ms round trips, then
// one member killed, then started again on the same address: it refutes its death and rejoins.

const { support, reason } = netnsGate()

const NAMES = ['bob.dc1', 'betty.dc2', 'bonnie.dc3']

interface GossipView {
  members: string[]
  stats: MemberlistStats
  events: { type: string; node: string; at: number; incarnation: number }[]
  rtts: { node: string; rttMs: number }[]
}

describe('memberlist gossip across isolated datacenters over an emulated WAN', () => {
  let fed: Federation | undefined
  /** The incarnation at which each member declared betty dead. */
  const deadIncarnation: Record<string, number> = {}

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation(
      'gsp',
      [
        { name: 'dc1', nodes: ['bob'] },
        { name: 'dc2', nodes: ['betty'] },
        { name: 'dc3', nodes: ['bonnie'] },
      ],
      // Gossip keeps its pooled connections, as with the library's default (120 s) idle timeout:
      // a redial through both gateways and the relay costs round trips a probe must not pay.
      { relay: { delayMs: 25, jitterMs: 5 }, poolIdleTimeoutMs: 120_000 },
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
  const view = (name: string) => node(name).child.request<GossipView>('gossipView')

  /** Watches the pool for `ms`: every member keeps acking probes, nobody is suspected. */
  async function watch(names: string[], ms: number) {
    const before = await Promise.all(names.map(view))
    await new Promise((r) => setTimeout(r, ms))
    const after = await Promise.all(names.map(view))
    return names.map((name, i) => {
      const a = after[i] as GossipView
      const b = before[i] as GossipView
      const rtts = [...b.rtts, ...a.rtts].map((r) => r.rttMs).sort((x, y) => x - y)
      return {
        name,
        members: a.members.length,
        acked: a.stats.probes.acked - b.stats.probes.acked,
        failed: a.stats.probes.failed - b.stats.probes.failed,
        suspects: [...b.events, ...a.events].filter((e) => e.type === 'suspect').length,
        dead: [...b.events, ...a.events].filter((e) => e.type === 'dead').length,
        probeRttMedianMs: Math.round((rtts[Math.floor(rtts.length / 2)] ?? Number.NaN) * 10) / 10,
      }
    })
  }

  it('three DCs join and converge over a 50 ms round trip, probes acked, nobody suspected', async (ctx) => {
    ctx.skip(!support.ok, reason)
    for (const name of NAMES) await node(name).child.request('gossip', { timeoutMs: 1_000 })
    const bob = node('bob.dc1')
    const start = performance.now()
    for (const name of ['betty.dc2', 'bonnie.dc3']) {
      const joined = await node(name).child.request<number>('gossipJoin', {
        peers: [`bob.dc1/${bob.addr}`],
      })
      expect(joined).toBe(1)
    }
    const joinMs = performance.now() - start
    const deadline = Date.now() + 15_000
    while ((await Promise.all(NAMES.map(view))).some((v) => v.members.length !== 3)) {
      if (Date.now() > deadline) throw new Error('the pool did not converge to 3 members')
      await new Promise((r) => setTimeout(r, 50))
    }
    const convergeMs = performance.now() - start
    const health = await watch(NAMES, 3_000)
    console.log(
      `[netns] gossip at 50 ms RTT: joins ${joinMs.toFixed(0)} ms, all see 3 members after ` +
        `${convergeMs.toFixed(0)} ms; over 3 s: ${JSON.stringify(health)}`,
    )
    for (const h of health) {
      expect(h.members).toBe(3)
      expect(h.acked).toBeGreaterThanOrEqual(3)
      expect(h.failed).toBe(0)
      expect(h.suspects).toBe(0)
      expect(h.dead).toBe(0)
      // A probe crosses two gateways and the relay both ways.
      expect(h.probeRttMedianMs).toBeGreaterThanOrEqual(40)
    }
  })

  it('the pool stays healthy over a 150 ms round trip: acks keep coming, nobody is declared dead', async (ctx) => {
    ctx.skip(!support.ok, reason)
    await fed?.wan?.request('relayDelay', { delayMs: 75, jitterMs: 10 })
    // Probes already in flight at the switch may see either delay: start the watch after them.
    await new Promise((r) => setTimeout(r, 500))
    const health = await watch(NAMES, 4_000)
    console.log(`[netns] gossip at 150 ms RTT over 4 s: ${JSON.stringify(health)}`)
    for (const h of health) {
      expect(h.members).toBe(3)
      expect(h.acked).toBeGreaterThanOrEqual(3)
      // A probe that misses its 1 s timeout on a loaded machine may raise a suspicion, which the
      // member refutes; nobody may be declared dead, and most probes must be acked.
      expect(h.dead).toBe(0)
      expect(h.failed).toBeLessThanOrEqual(1)
      expect(h.probeRttMedianMs).toBeGreaterThanOrEqual(130)
    }
  })

  it('a member killed in dc2 is suspected and declared dead by dc1 and dc3 through the gateways', async (ctx) => {
    ctx.skip(!support.ok, reason)
    const killAt = Date.now()
    await node('betty.dc2').child.kill()
    const seen: Record<string, { suspect?: number; dead?: number }> = {}
    const deadline = Date.now() + 15_000
    const others = ['bob.dc1', 'bonnie.dc3']
    while (others.some((n) => seen[n]?.dead === undefined)) {
      if (Date.now() > deadline) throw new Error(`betty not declared dead: ${JSON.stringify(seen)}`)
      for (const name of others) {
        for (const e of (await view(name)).events) {
          if (e.node !== 'betty.dc2') continue
          const s = seen[name] ?? {}
          seen[name] = s
          if (e.type === 'suspect') s.suspect ??= e.at - killAt
          if (e.type === 'dead') {
            s.dead ??= e.at - killAt
            deadIncarnation[name] = e.incarnation
          }
        }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    console.log(`[netns] betty.dc2 killed at 150 ms RTT: ms from the kill ${JSON.stringify(seen)}`)
    for (const name of others) {
      const v = await view(name)
      expect(v.members).toEqual(others)
      // Probe interval 0.5 s, probe timeout 1 s, suspicion 1 to 2 s at this size.
      expect(seen[name]?.dead).toBeLessThan(10_000)
    }
  })

  it('the killed member restarts on the same address: it rejoins, refuting its death with a higher incarnation', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    const others = ['bob.dc1', 'bonnie.dc3']
    for (const name of others) expect((await view(name)).members).toEqual(others)
    const start = Date.now()
    const betty = await fed.restartNode('betty.dc2')
    await betty.child.request('gossip', { timeoutMs: 1_000 })
    const joined = await betty.child.request<number>(
      'gossipJoin',
      { peers: [`bob.dc1/${node('bob.dc1').addr}`] },
      20_000,
    )
    expect(joined).toBe(1)
    const alive: Record<string, { ms: number; incarnation: number }> = {}
    const deadline = Date.now() + 20_000
    while (others.some((n) => alive[n] === undefined)) {
      if (Date.now() > deadline) throw new Error(`betty not seen alive: ${JSON.stringify(alive)}`)
      for (const name of others) {
        for (const e of (await view(name)).events) {
          if (e.node === 'betty.dc2' && e.type === 'alive') {
            alive[name] ??= { ms: e.at - start, incarnation: e.incarnation }
          }
        }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    // Every member sees all three again, and betty's own view agrees.
    const converge = Date.now() + 15_000
    while ((await Promise.all(NAMES.map(view))).some((v) => v.members.length !== 3)) {
      if (Date.now() > converge) throw new Error('the pool did not converge to 3 members again')
      await new Promise((r) => setTimeout(r, 50))
    }
    const own = await view('betty.dc2')
    console.log(
      `[netns] betty.dc2 restarted on the same address: seen alive ${JSON.stringify(alive)} ` +
        `(declared dead at ${JSON.stringify(deadIncarnation)}); ` +
        `all see 3 members ${Date.now() - start} ms after the restart began`,
    )
    expect(own.members).toEqual([...NAMES].sort())
    for (const name of others) {
      // The restarted node begins again at incarnation 0, learns it was declared dead and refutes
      // with an incarnation above the one it died with: what the others now hold.
      expect(deadIncarnation[name]).toBeGreaterThanOrEqual(0)
      expect(alive[name]?.incarnation).toBeGreaterThan(deadIncarnation[name] as number)
      expect(alive[name]?.ms).toBeLessThan(20_000)
    }
  }, 60_000)
})
