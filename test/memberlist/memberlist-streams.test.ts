import { PassThrough } from 'node:stream'
import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { StreamReader } from '../../src/memberlist/stream-reader.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import {
  encodePushPull,
  encodeStreamMessage,
  encodeStreamStruct,
  parseStreamMessage,
} from '../../src/memberlist/wire/stream.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { startNodes } from './cluster.ts'

const { clock, cleanups } = leakGuard()

/** Everything the peer sent before it ended or closed the stream. */
function readAll(
  s: NodeJS.ReadableStream & { on(e: 'close', f: () => void): unknown },
): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('error', () => {})
    s.on('close', () => resolve(Buffer.concat(chunks)))
  })
}

describe('memberlist streams', () => {
  test.prop([fc.array(fc.nat({ max: 400 }), { maxLength: 8 }), fc.boolean()])(
    'StreamReader reads a message however the bytes are cut, and the next one after it',
    async (cuts, compress) => {
      const node = {
        name: 'a',
        addr: Buffer.from([1, 2, 3, 4]),
        port: 1,
        meta: Buffer.alloc(50, 1),
        incarnation: 1,
        state: 0,
        vsn: Buffer.from([1, 5, 2, 0, 0, 0]),
      }
      const one = encodeStreamMessage(
        encodePushPull(false, [node, node, node], Buffer.from('user')),
        { compress, label: '' },
      )
      const two = encodeStreamMessage(
        encodeStreamStruct(MessageType.ping, 'ping', { seqNo: 7, node: 'x' }),
        { compress, label: '' },
      )
      const all = Buffer.concat([Buffer.from([244, 1, 0x4c]), one, two])
      const s = new PassThrough()
      const reader = new StreamReader(s)
      const points = [...new Set(cuts.map((c) => c % all.length))].sort((x, y) => x - y)
      let prev = 0
      const feed = (async () => {
        for (const p of [...points, all.length]) {
          s.write(all.subarray(prev, p))
          prev = p
          await new Promise((r) => setImmediate(r))
        }
        s.end()
      })()
      const opts = { label: 'L', keys: [], verifyIncoming: false }
      expect(await reader.readLabel('L', false)).toBe('L')
      const m1 = await reader.readMessage(opts)
      const m2 = await reader.readMessage(opts)
      await feed
      expect(typeof m1 === 'object' && m1.type === 'pushPull' && m1.nodes.length).toBe(3)
      expect(typeof m2 === 'object' && m2.type === 'ping' && m2.body.seqNo).toBe(7)
      reader.detach()
    },
  )

  it('an answer on a stream survives a peer that reads it late (no reset after the write)', async () => {
    const net = new MemoryNetwork({ clock })
    const [a] = await startNodes(net, 1, cleanups, () => ({}), clock)
    if (a === undefined) throw new Error('node')
    const x = net.createTransport('x')
    await x.listen()
    cleanups.push(() => x.close())
    const s = await x.dialAddressTimeout({ name: 'n0.dc1', addr: a.localNode.address }, 1_000)
    s.write(
      encodeStreamMessage(
        encodeStreamStruct(MessageType.ping, 'ping', { seqNo: 9, node: 'n0.dc1' }),
        { compress: true, label: '' },
      ),
    )
    // Not reading yet: the ack waits in our buffer while a finishes with the stream.
    await new Promise((r) => setTimeout(r, 100))
    const reply = readAll(s)
    s.end()
    const parsed = parseStreamMessage(await reply, { label: '', keys: [], verifyIncoming: false })
    expect(
      parsed.status === 'ok' && parsed.message.type === 'ack' && parsed.message.body.seqNo,
    ).toBe(9)
  })

  it('a stream of garbage gets an error message back and is closed; a silent one is closed at tcpTimeout', async () => {
    const net = new MemoryNetwork({ clock })
    const [a] = await startNodes(net, 1, cleanups, () => ({ tcpTimeoutMs: 300 }), clock)
    if (a === undefined) throw new Error('node')
    const x = net.createTransport('x')
    await x.listen()
    cleanups.push(() => x.close())
    const to = { name: 'n0.dc1', addr: a.localNode.address }

    const garbage = await x.dialAddressTimeout(to, 1_000)
    garbage.end(Buffer.from([6, 0x81, 0xc1, 0, 0, 0]))
    const reply = await readAll(garbage)
    const parsed = parseStreamMessage(reply, { label: '', keys: [], verifyIncoming: false })
    expect(parsed.status === 'ok' && parsed.message.type).toBe('err')

    const silent = await x.dialAddressTimeout(to, 1_000)
    const started = clock.now()
    expect(await readAll(silent)).toEqual(Buffer.alloc(0))
    expect(clock.now() - started).toBeGreaterThanOrEqual(250)

    const oversized = await x.dialAddressTimeout(to, 1_000)
    oversized.on('error', () => {})
    // An encrypted-message header announcing more than memberlist's limit: refused on sight.
    oversized.write(Buffer.from([10, 0x7f, 0xff, 0xff, 0xff]))
    await readAll(oversized)
    await until(
      () => (a.stats().dropped['decrypt'] ?? 0) + (a.stats().dropped['oversized'] ?? 0) >= 1,
      'oversized counted',
    )
    expect(a.stats().dropped['malformed']).toBe(1)
  })
})
