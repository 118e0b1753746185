import { describe, expect, it } from 'vitest'
import { GossipDecryptError, GossipRefusedError, JoinError } from '../../src/errors.ts'
import { type Delegate, Keyring, type Node } from '../../src/memberlist/index.ts'
import { encodeMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { decodePacket } from '../../src/memberlist/wire/packet.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import type { Packet } from '../../src/transport/types.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { addrOf, startNodes, stateOf } from './cluster.ts'

const { clock, cleanups } = leakGuard()

describe('Memberlist over MemoryNetwork', () => {
  it('two nodes join: each sees the other alive, with join events', async () => {
    const net = new MemoryNetwork({ clock })
    const [a, b] = await startNodes(net, 2, cleanups, () => ({}), clock)
    if (a === undefined || b === undefined) throw new Error('nodes')
    const joined: string[] = []
    a.on('join', (n) => joined.push(n.name))
    expect(await b.join([addrOf(a)])).toBe(1)
    await until(() => a.numMembers === 2 && b.numMembers === 2, 'both see two members')
    expect(joined).toEqual(['n1.dc1'])
    expect(
      b
        .members()
        .map((n) => n.name)
        .sort(),
    ).toEqual(['n0.dc1', 'n1.dc1'])
    expect(stateOf(a, 'n1.dc1')).toBe('alive')
    expect(a.localNode.address).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('12 nodes that each join one seed converge on the full membership', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 12, cleanups, () => ({}), clock)
    const seed = nodes[0] as (typeof nodes)[0]
    await Promise.all(nodes.slice(1).map((n) => n.join([addrOf(seed)])))
    await until(() => nodes.every((n) => n.numMembers === 12), 'every node sees 12 members', 15_000)
    for (const n of nodes) expect(n.members().every((m) => m.state === 'alive')).toBe(true)
  })

  it('a node that stops answering is suspected, then declared dead by everyone', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 5, cleanups, () => ({}), clock)
    const [seed, ...rest] = nodes as [(typeof nodes)[0], ...typeof nodes]
    await Promise.all(rest.map((n) => n.join([addrOf(seed)])))
    await until(() => nodes.every((n) => n.numMembers === 5), 'converged', 10_000)
    const seen: string[] = []
    for (const n of nodes.slice(0, 4)) {
      n.on('suspect', (m) => m.name === 'n4.dc1' && seen.push(`suspect ${n.localNode.name}`))
      n.on('dead', (m) => m.name === 'n4.dc1' && seen.push(`dead ${n.localNode.name} ${m.state}`))
    }
    net.partition('n4.dc1')
    await until(
      () => nodes.slice(0, 4).every((n) => stateOf(n, 'n4.dc1') === 'dead'),
      'n4 dead everywhere',
      15_000,
    )
    expect(seen.some((s) => s.startsWith('suspect'))).toBe(true)
    expect(seen.filter((s) => s.startsWith('dead')).every((s) => s.endsWith('dead'))).toBe(true)
    expect(nodes[0]?.numMembers).toBe(4)
    net.heal('n4.dc1')
  })

  it('leave is gossiped as dead with From = the node itself: the others record left', async () => {
    const net = new MemoryNetwork({ clock })
    // b's transport is made here so the test can watch the raw packets reaching b.
    const bTransport = net.createTransport('n1.dc1')
    const deads: { node: string; from: string }[] = []
    bTransport.on('packet', (p) => {
      const out = decodePacket(p.buf, {
        label: '',
        skipInboundLabelCheck: false,
        keys: [],
        verifyIncoming: false,
        maxDecompressed: 1 << 20,
      })
      for (const m of out.messages)
        if (m.type === 'dead') deads.push({ node: m.body.node, from: m.body.from })
    })
    const nodes = await startNodes(
      net,
      3,
      cleanups,
      (i) => (i === 1 ? { transport: bTransport } : {}),
      clock,
    )
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    await c.join([addrOf(a)])
    await until(() => nodes.every((n) => n.numMembers === 3), 'converged')
    const left: Node[] = []
    a.on('leave', (n) => left.push(n))
    await c.leave(2_000)
    await until(
      () => stateOf(a, 'n2.dc1') === 'left' && stateOf(b, 'n2.dc1') === 'left',
      'c left everywhere',
    )
    expect(left.map((n) => [n.name, n.state])).toEqual([['n2.dc1', 'left']])
    expect(deads.length).toBeGreaterThan(0)
    expect(deads.every((d) => d.node === 'n2.dc1' && d.from === 'n2.dc1')).toBe(true)
    expect(a.numMembers).toBe(2)
    expect(c.stats().status).toBe('left')
  })

  it('refutes a suspicion about itself with a higher incarnation', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 2, cleanups, () => ({}), clock)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    await until(() => a.numMembers === 2 && b.numMembers === 2, 'converged')
    const before = a.localNode.incarnation
    // A third party accuses a of having failed, at a's current incarnation.
    const liar = net.createTransport('liar.dc1')
    await liar.listen()
    cleanups.push(() => liar.close())
    const accuse = encodeMessage(MessageType.suspect, 'suspect', {
      incarnation: before,
      node: 'n0.dc1',
      from: 'liar.dc1',
    })
    await liar.writeToAddress(accuse, { name: 'n0.dc1', addr: a.localNode.address })
    await until(() => a.localNode.incarnation > before, 'a refuted')
    // b learns the new incarnation by gossip and never keeps a suspected.
    await until(
      () => b.allNodes().find((n) => n.name === 'n0.dc1')?.incarnation === a.localNode.incarnation,
      'b sees the refutation',
    )
    expect(stateOf(b, 'n0.dc1')).toBe('alive')
    expect(a.healthScore).toBeGreaterThanOrEqual(0)
  })

  it('answers a ping by the source node name it carries, never to the packet source', async () => {
    const net = new MemoryNetwork({ clock })
    const [a] = await startNodes(net, 1, cleanups, () => ({}), clock)
    if (a === undefined) throw new Error('node')
    const gateway = net.createTransport('gateway')
    const far = net.createTransport('far.dc2')
    const atGateway: Packet[] = []
    const atFar: Packet[] = []
    gateway.on('packet', (p) => atGateway.push(p))
    far.on('packet', (p) => atFar.push(p))
    await Promise.all([gateway.listen(), far.listen()])
    cleanups.push(
      () => gateway.close(),
      () => far.close(),
    )
    // The ping comes from the gateway's address but names far.dc2 as its source.
    const ping = encodeMessage(MessageType.ping, 'ping', {
      seqNo: 42,
      node: 'n0.dc1',
      sourceAddr: Buffer.from([10, 9, 9, 9]),
      sourcePort: 8302,
      sourceNode: 'far.dc2',
    })
    await gateway.writeToAddress(ping, { name: 'n0.dc1', addr: a.localNode.address })
    await until(() => atFar.length > 0, 'the ack reaches far.dc2')
    const acks = decodePacket(atFar[0]?.buf as Buffer, {
      label: '',
      skipInboundLabelCheck: false,
      keys: [],
      verifyIncoming: false,
      maxDecompressed: 1 << 20,
    }).messages.filter((m) => m.type === 'ack')
    expect(acks).toEqual([{ type: 'ack', body: { seqNo: 42, payload: undefined } }])
    expect(atGateway).toEqual([])
    // A ping meant for another node is ignored and counted.
    await gateway.writeToAddress(
      encodeMessage(MessageType.ping, 'ping', { seqNo: 1, node: 'other' }),
      { addr: a.localNode.address },
    )
    await until(() => a.stats().dropped['wrong-node'] === 1, 'wrong node counted')
  })

  it('drops and counts bad packets without throwing', async () => {
    const net = new MemoryNetwork({ clock })
    const [a] = await startNodes(net, 1, cleanups, () => ({}), clock)
    if (a === undefined) throw new Error('node')
    const x = net.createTransport('x')
    await x.listen()
    cleanups.push(() => x.close())
    const to = { addr: a.localNode.address, name: 'n0.dc1' }
    await x.writeToAddress(Buffer.from([99, 1, 2]), to)
    await x.writeToAddress(Buffer.from([4, 0xc1]), to)
    await x.writeToAddress(Buffer.from([12, 0, 0, 0, 0, 1]), to)
    await x.writeToAddress(Buffer.from([7, 5, 0]), to)
    await until(
      () => Object.values(a.stats().dropped).reduce((s, v) => s + v, 0) >= 4,
      'all four counted',
    )
    expect(a.stats().dropped).toMatchObject({
      'unknown-type': 1,
      malformed: 1,
      crc: 1,
      truncated: 1,
    })
    expect(a.numMembers).toBe(1)
  })

  it('user messages, node meta, updates and push/pull state reach the delegates', async () => {
    const net = new MemoryNetwork({ clock })
    const got: string[] = []
    const merged: string[] = []
    let meta = 'v1'
    const delegate = (i: number): Delegate => ({
      nodeMeta: () => Buffer.from(`${meta}-${i}`),
      notifyMsg: (m) => got.push(`${i}:${m.toString()}`),
      localState: (join) => Buffer.from(`state-${i}-${join}`),
      mergeRemoteState: (buf, join) => merged.push(`${i}<${buf.toString()}/${join}`),
    })
    const nodes = await startNodes(net, 2, cleanups, (i) => ({ delegate: delegate(i) }), clock)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    // b merged a's answer before join resolved; a merges b's after answering.
    await until(() => merged.length === 2, 'both states merged')
    expect(merged.sort()).toEqual(['0<state-1-true/true', '1<state-0-true/true'])
    await until(() => a.numMembers === 2 && b.numMembers === 2, 'converged')
    expect(
      a
        .members()
        .find((n) => n.name === 'n1.dc1')
        ?.meta.toString(),
    ).toBe('v1-1')
    await a.sendReliable('n1.dc1', Buffer.from('reliable'))
    await a.sendBestEffort(b.localNode, Buffer.from('best-effort'))
    await until(() => got.length === 2, 'both user messages')
    expect(got.sort()).toEqual(['1:best-effort', '1:reliable'])
    const updates: string[] = []
    a.on('update', (n) => updates.push(n.meta.toString()))
    meta = 'v2'
    await b.updateNode(2_000)
    await until(() => updates.includes('v2-1'), 'the update reached a')
  })

  it('delegates can veto: merge refusal, alive refusal, incompatible versions', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      4,
      cleanups,
      (i) => ({
        ...(i === 1
          ? {
              merge: {
                notifyMerge: () => {
                  throw new Error('not this cluster')
                },
              },
            }
          : {}),
        ...(i === 2
          ? { delegateProtocolMin: 2, delegateProtocolMax: 5, delegateProtocolVersion: 4 }
          : {}),
        ...(i === 3
          ? {
              alive: {
                notifyAlive: (n: Node) => {
                  if (n.name === 'n0.dc1') throw new Error('no')
                },
              },
            }
          : {}),
      }),
      clock,
    )
    const [a, b, c, d] = nodes as [
      (typeof nodes)[0],
      (typeof nodes)[0],
      (typeof nodes)[0],
      (typeof nodes)[0],
    ]
    const err = await b.join([addrOf(a)]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(JoinError)
    expect(((err as JoinError).cause as AggregateError).errors[0]).toBeInstanceOf(
      GossipRefusedError,
    )
    expect(b.numMembers).toBe(1)
    // c speaks delegate version 4 only; a speaks 0 only.
    const vErr = await c.join([addrOf(a)]).catch((e: unknown) => e)
    expect(((vErr as JoinError).cause as AggregateError).errors[0]?.message).toMatch(
      /delegate protocol version/,
    )
    // d refuses a itself (a, answering, had already merged b's state, as memberlist does).
    await d.join([addrOf(a)])
    expect(d.members().map((n) => n.name)).not.toContain('n0.dc1')
    expect(d.stats().dropped['alive-vetoed']).toBeGreaterThanOrEqual(1)
  })

  it('encrypted pools: a matching keyring joins, rotation keeps it working, a wrong key is refused', async () => {
    const net = new MemoryNetwork({ clock })
    const k1 = Buffer.alloc(16, 1)
    const k2 = Buffer.alloc(32, 2)
    const rings = [new Keyring([], k1), new Keyring([], k1), new Keyring([], k2)]
    const nodes = await startNodes(net, 3, cleanups, (i) => ({ keyring: rings[i] }), clock)
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    await until(() => a.numMembers === 2 && b.numMembers === 2, 'encrypted pool converged')
    const err = await c.join([addrOf(a)]).catch((e: unknown) => e)
    // a cannot read the push/pull and answers with an error c cannot decrypt either.
    expect(((err as JoinError).cause as AggregateError).errors[0]).toBeInstanceOf(
      GossipDecryptError,
    )
    expect(a.stats().dropped['decrypt']).toBeGreaterThanOrEqual(1)
    // Rotate to k2 on a and b (install, use, remove); then c, which only has k2, can join.
    for (const r of rings.slice(0, 2)) r.addKey(k2)
    for (const r of rings.slice(0, 2)) r.useKey(k2)
    for (const r of rings.slice(0, 2)) r.removeKey(k1)
    await c.join([addrOf(a)])
    await until(() => nodes.every((n) => n.numMembers === 3), 'rotated pool converged')
  })

  it('labels isolate pools sharing a network', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(
      net,
      3,
      cleanups,
      (i) => ({ label: i === 2 ? 'other' : 'pool-a' }),
      clock,
    )
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    await until(() => a.numMembers === 2, 'labelled pool converged')
    await expect(c.join([addrOf(a)])).rejects.toBeInstanceOf(JoinError)
    expect(a.stats().dropped['label']).toBeGreaterThanOrEqual(1)
  })

  it('events() iterates member events and ends on close', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 2, cleanups, () => ({}), clock)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    const it = a.events()
    await b.join([addrOf(a)])
    const first = await it.next()
    expect(first.value).toMatchObject({ type: 'join', node: { name: 'n1.dc1', state: 'alive' } })
    await a.close()
    const rest: string[] = []
    for await (const e of it) rest.push(e.type)
    expect(rest).toContain('alive')
    await expect(a.join([addrOf(b)])).rejects.toThrow(/closed/)
  })
})
