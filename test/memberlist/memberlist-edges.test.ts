import { describe, expect, it } from 'vitest'
import type { Node } from '../../src/memberlist/index.ts'
import { encodeMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { addrOf, startNodes, stateOf } from './cluster.ts'

const { clock, cleanups } = leakGuard()

const vsn = Buffer.from([1, 5, 2, 0, 0, 0])

describe('memberlist edges', () => {
  it('Lifeguard: a node cut off raises its own health score, while the healthy nodes keep theirs at 0', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 5, cleanups, () => ({}), clock)
    const [a, ...rest] = nodes as [(typeof nodes)[0], ...typeof nodes]
    for (const n of rest) await n.join([addrOf(a)])
    await until(() => nodes.every((n) => n.numMembers === 5), 'converged')
    net.partition('n0.dc1')
    // a's probes go out but no ack or nack comes back: its own fault, as far as it can tell.
    await until(() => a.healthScore > 0, 'a unhealthy', 10_000)
    // The others miss a's acks too, but their indirect probes bring nacks back: not their fault.
    expect(rest.map((n) => n.healthScore)).toEqual([0, 0, 0, 0])
    net.heal('n0.dc1')
  })

  it('an alive claim for a known name from another address is a conflict; after a dead node’s reclaim time it is accepted', async () => {
    const net = new MemoryNetwork({ clock })
    const conflicts: [Node, Node][] = []
    const nodes = await startNodes(
      net,
      2,
      cleanups,
      (i) =>
        i === 0
          ? {
              conflict: { notifyConflict: (e: Node, o: Node) => conflicts.push([e, o]) },
              deadNodeReclaimTimeMs: 300,
            }
          : {},
      clock,
    )
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    await until(() => a.numMembers === 2, 'joined')
    const liar = net.createTransport('liar')
    await liar.listen()
    cleanups.push(() => liar.close())
    const claim = (incarnation: number) =>
      encodeMessage(MessageType.alive, 'alive', {
        incarnation,
        node: 'n1.dc1',
        addr: Buffer.from([10, 0, 0, 9]),
        port: 9999,
        meta: undefined,
        vsn,
      })
    await liar.writeToAddress(claim(50), { name: 'n0.dc1', addr: a.localNode.address })
    await until(() => conflicts.length === 1, 'conflict reported')
    expect(conflicts[0]?.[0].address).toBe(b.localNode.address)
    expect(conflicts[0]?.[1].address).toBe('10.0.0.9:9999')
    expect(a.members().find((n) => n.name === 'n1.dc1')?.address).toBe(b.localNode.address)
    // b dies: cut off (so a's packets vanish, as to a crashed host, rather than failing with a
    // local "no route") and stopped (so it cannot refute). After the reclaim time its name may move.
    net.partition('n1.dc1')
    await b.close()
    await until(() => stateOf(a, 'n1.dc1') === 'dead', 'b dead', 10_000)
    await new Promise((r) => setTimeout(r, 350))
    await liar.writeToAddress(claim(51), { name: 'n0.dc1', addr: a.localNode.address })
    await until(
      () => a.members().find((n) => n.name === 'n1.dc1')?.address === '10.0.0.9:9999',
      'name reclaimed',
    )
  })

  it('no packet exceeds udpBufferSize, however many broadcasts are queued', async () => {
    const net = new MemoryNetwork({ clock })
    const sizes: number[] = []
    const meta = Buffer.alloc(400, 0x61)
    const nodes = await startNodes(
      net,
      20,
      cleanups,
      () => ({ delegate: { nodeMeta: () => meta }, enableCompression: false }),
      clock,
    )
    const watched = net.createTransport('w.dc1')
    const orig = watched.writeToAddress.bind(watched)
    watched.writeToAddress = async (buf, to) => {
      sizes.push(buf.length)
      return orig(buf, to)
    }
    const [seed, ...rest] = nodes as [(typeof nodes)[0], ...typeof nodes]
    for (const n of rest) await n.join([addrOf(seed)])
    await until(() => nodes.every((n) => n.numMembers === 20), 'converged', 20_000)
    const { Memberlist } = await import('../../src/memberlist/index.ts')
    const w = await Memberlist.create({
      name: 'w.dc1',
      transport: watched,
      clock,
      delegate: { nodeMeta: () => meta },
      enableCompression: false,
      probeIntervalMs: 100,
      gossipIntervalMs: 20,
      pushPullIntervalMs: 0,
    })
    cleanups.push(() => w.close())
    await w.join([addrOf(seed)])
    await until(() => w.numMembers === 21 && sizes.length > 50, 'w gossiped', 20_000)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1400)
    // Several 460-byte alive messages did share packets: piggybacking worked within the limit.
    expect(Math.max(...sizes)).toBeGreaterThan(900)
  }, 60_000)
})

describe('cidrsAllowed', () => {
  it('ignores members outside the allowed networks, as CIDRsAllowed does', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      1,
      cleanups,
      () => ({ cidrsAllowed: ['127.0.0.0/8'] }),
      clock,
    )
    const a = nodes[0] as (typeof nodes)[0]
    const x = net.createTransport('x')
    await x.listen()
    cleanups.push(() => x.close())
    const alive = (name: string, addr: number[]) =>
      encodeMessage(MessageType.alive, 'alive', {
        incarnation: 1,
        node: name,
        addr: Buffer.from(addr),
        port: 7946,
        meta: undefined,
        vsn,
      })
    await x.writeToAddress(alive('outside', [10, 1, 1, 1]), { addr: a.localNode.address })
    await x.writeToAddress(alive('inside', [127, 0, 0, 9]), { addr: a.localNode.address })
    await until(() => a.allNodes().some((n) => n.name === 'inside'), 'inside accepted')
    expect(a.allNodes().some((n) => n.name === 'outside')).toBe(false)
    expect(a.stats().dropped['blocked']).toBe(1)
    const { validateConfig, DefaultLANConfig } = await import('../../src/memberlist/config.ts')
    expect(() => validateConfig({ ...DefaultLANConfig(), cidrsAllowed: ['10.0.0.0/33'] })).toThrow(
      /invalid cidr/,
    )
    expect(() => validateConfig({ ...DefaultLANConfig(), cidrsAllowed: ['nope'] })).toThrow(
      /invalid cidr/,
    )
  })
})

describe('ping', () => {
  it('measures a round trip to a member, and times out on a silent one', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 2, cleanups, () => ({}), clock)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    const rtt = await a.ping('n1.dc1', b.localNode.address)
    expect(rtt).toBeGreaterThanOrEqual(0)
    net.partition('n1.dc1')
    await expect(a.ping('n1.dc1', b.localNode.address)).rejects.toMatchObject({
      code: 'WANFED_ERR_TIMEOUT',
    })
    net.heal('n1.dc1')
  })
})
