import { describe, expect, it } from 'vitest'
import { encodeMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { decodePacket, type PacketMessage } from '../../src/memberlist/wire/packet.ts'
import type { MemoryTransport } from '../../src/transport/memory-network.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { addrOf, startNodes } from './cluster.ts'

/** The probe paths one at a time: indirect pings with acks and nacks, and the stream fallback. */
const { clock, cleanups } = leakGuard()

function messages(t: MemoryTransport): PacketMessage[] {
  const out: PacketMessage[] = []
  t.on('packet', (p) => {
    const d = decodePacket(p.buf, {
      label: '',
      skipInboundLabelCheck: false,
      keys: [],
      verifyIncoming: false,
      maxDecompressed: 1 << 20,
    })
    out.push(...d.messages)
  })
  return out
}

describe('memberlist probes', () => {
  it('an indirect ping is relayed: the ack, or a nack on timeout, goes to the requester by name', async () => {
    const net = new MemoryNetwork({ clock })
    const nodes = await startNodes(net, 2, cleanups, () => ({}), clock)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await b.join([addrOf(a)])
    const req = net.createTransport('req.dc1')
    const got = messages(req)
    await req.listen()
    cleanups.push(() => req.close())
    const ask = (seqNo: number) =>
      encodeMessage(MessageType.indirectPing, 'indirectPing', {
        seqNo,
        target: Buffer.from([127, 0, 0, 1]),
        port: b.localNode.port,
        node: 'n1.dc1',
        nack: true,
        sourceAddr: Buffer.from([127, 0, 0, 1]),
        sourcePort: 1,
        sourceNode: 'req.dc1',
      })
    await req.writeToAddress(ask(500), { name: 'n0.dc1', addr: a.localNode.address })
    await until(() => got.some((m) => m.type === 'ack' && m.body.seqNo === 500), 'relayed ack')
    expect(got.some((m) => m.type === 'nack')).toBe(false)
    net.partition('n1.dc1')
    await req.writeToAddress(ask(501), { name: 'n0.dc1', addr: a.localNode.address })
    await until(
      () => got.some((m) => m.type === 'nack' && m.body.seqNo === 501),
      'nack for an unreachable target',
    )
    expect(got.some((m) => m.type === 'ack' && m.body.seqNo === 501)).toBe(false)
    net.heal('n1.dc1')
  })

  it('with every packet lost, the stream ping keeps peers alive; without it they are suspected', async () => {
    for (const disableTcpPings of [false, true]) {
      const net = new MemoryNetwork({ clock, lossRate: 1 })
      const nodes = await startNodes(
        net,
        3,
        cleanups,
        () => ({ disableTcpPings }),
        clock,
        disableTcpPings ? 'x' : 'n',
      )
      const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
      const suspected: string[] = []
      for (const n of nodes) n.on('suspect', (m) => suspected.push(m.name))
      // Joins are push/pulls over streams, which this network does not lose.
      await b.join([addrOf(a)])
      await c.join([addrOf(a)])
      if (disableTcpPings) {
        await until(() => suspected.length > 0, 'suspected without the fallback', 10_000)
      } else {
        await until(() => nodes.every((n) => n.numMembers === 3), 'converged by push/pull', 10_000)
        await until(() => nodes.every((n) => n.stats().probes.sent >= 5), 'probes sent', 10_000)
        expect(suspected).toEqual([])
        expect(nodes.every((n) => n.stats().probes.failed === 0)).toBe(true)
      }
      for (const n of nodes) await n.close()
    }
  }, 60_000)
})
