import { describe, expect, it } from 'vitest'
import type { Memberlist } from '../../src/memberlist/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { addrOf, startNodes, stateOf } from './cluster.ts'

/** Larger and harsher in-memory clusters: scale, partitions, flapping, packet loss. */
const { clock, cleanups } = leakGuard()

const allAlive = (nodes: Memberlist[]): boolean =>
  nodes.every((n) => n.numMembers === nodes.length && n.members().every((m) => m.state === 'alive'))

async function converge(nodes: Memberlist[], ms = 30_000): Promise<void> {
  const [seed, ...rest] = nodes as [Memberlist, ...Memberlist[]]
  for (const n of rest) await n.join([addrOf(seed)])
  await until(() => allAlive(nodes), `${nodes.length} nodes converged`, ms)
}

describe('memberlist clusters over MemoryNetwork', () => {
  it('50 nodes converge on the full membership', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      50,
      cleanups,
      () => ({ probeIntervalMs: 200, gossipIntervalMs: 50 }),
      clock,
    )
    await converge(nodes, 40_000)
    expect(nodes.map((n) => n.numMembers)).toEqual(new Array(50).fill(50))
  }, 60_000)

  it('a partitioned node is declared dead, and after the heal the pool is whole again', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      6,
      cleanups,
      () => ({ gossipToTheDeadTimeMs: 10_000 }),
      clock,
    )
    await converge(nodes)
    const cut = nodes[5] as Memberlist
    net.partition('n5.dc1')
    await until(
      () => nodes.slice(0, 5).every((n) => stateOf(n, 'n5.dc1') === 'dead'),
      'n5 dead',
      20_000,
    )
    net.heal('n5.dc1')
    await until(() => allAlive(nodes), 'healed pool all alive', 30_000)
    expect(cut.localNode.incarnation).toBeGreaterThan(1)
  }, 60_000)

  it('a flapping node ends up alive everywhere with a higher incarnation', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      5,
      cleanups,
      () => ({ gossipToTheDeadTimeMs: 10_000 }),
      clock,
    )
    await converge(nodes)
    const before = nodes[4]?.localNode.incarnation ?? 0
    for (let i = 0; i < 4; i++) {
      net.partition('n4.dc1')
      await until(
        () => nodes.slice(0, 4).some((n) => stateOf(n, 'n4.dc1') !== 'alive'),
        'n4 suspected',
        20_000,
      )
      net.heal('n4.dc1')
      await new Promise((r) => setTimeout(r, 150))
    }
    await until(() => allAlive(nodes), 'all alive after flapping', 30_000)
    expect(nodes[4]?.localNode.incarnation).toBeGreaterThan(before)
  }, 90_000)

  for (const lossRate of [0.1, 0.3]) {
    it(`with ${lossRate * 100} % packet loss the pool converges and keeps no false dead`, async () => {
      const net = new MemoryNetwork({ clock, lossRate })
      const nodes = await startNodes(net, 8, cleanups, () => ({}), clock)
      await converge(nodes)
      const deaths: string[] = []
      for (const n of nodes) n.on('dead', (m) => deaths.push(`${n.localNode.name} saw ${m.name}`))
      await new Promise((r) => setTimeout(r, 3_000))
      // Indirect probes and the stream fallback (streams are not lossy) keep healthy nodes alive;
      // any suspicion raised by lost packets is refuted.
      await until(() => allAlive(nodes), 'all alive under loss', 20_000)
      if (lossRate <= 0.1) expect(deaths).toEqual([])
      expect(nodes.reduce((s, n) => s + n.stats().probes.sent, 0)).toBeGreaterThan(50)
    }, 60_000)
  }
})
