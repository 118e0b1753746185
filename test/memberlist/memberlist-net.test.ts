import { describe, expect, it } from 'vitest'
import { Keyring, Memberlist } from '../../src/memberlist/index.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { addrOf, fastConfig, stateOf } from './cluster.ts'

const { clock, cleanups } = leakGuard()

async function netNode(
  name: string,
  extra: Parameters<typeof Memberlist.create>[0] | object = {},
): Promise<Memberlist> {
  const transport = new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: 0, clock })
  const ml = await Memberlist.create({ ...fastConfig(), name, transport, clock, ...extra })
  cleanups.push(() => ml.close())
  return ml
}

describe('Memberlist over NetTransport on loopback (UDP packets, TCP streams)', () => {
  it('three encrypted nodes converge, exchange reliable and best-effort messages, and detect a failure', async () => {
    const keyring = () => Keyring.fromBase64(Buffer.alloc(16, 7).toString('base64'))
    const got: string[] = []
    const nodes = await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        netNode(n, {
          keyring: keyring(),
          delegate: { notifyMsg: (m: Buffer) => got.push(`${n}:${m.toString()}`) },
        }),
      ),
    )
    const [a, b, c] = nodes as [Memberlist, Memberlist, Memberlist]
    expect(a.localNode.addr).toBe('127.0.0.1')
    await b.join([addrOf(a)])
    await c.join([a.localNode.address])
    await until(() => nodes.every((n) => n.numMembers === 3), 'three members everywhere', 10_000)
    await a.sendReliable('b', Buffer.from('over tcp'))
    await a.sendBestEffort('c', Buffer.from('over udp'))
    await until(() => got.length === 2, 'user messages')
    expect(got.sort()).toEqual(['b:over tcp', 'c:over udp'])
    // c stops without leaving: the others suspect it, then declare it dead.
    await c.close()
    await until(() => stateOf(a, 'c') === 'dead' && stateOf(b, 'c') === 'dead', 'c dead', 15_000)
    expect(a.stats().probes.failed).toBeGreaterThan(0)
  })

  it('a graceful leave over UDP reaches the other node as left', async () => {
    const a = await netNode('a')
    const b = await netNode('b')
    await b.join([addrOf(a)])
    await until(() => a.numMembers === 2, 'joined')
    await b.leave(2_000)
    await until(() => stateOf(a, 'b') === 'left', 'b left')
  })
})
