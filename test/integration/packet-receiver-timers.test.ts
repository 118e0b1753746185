import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { encodeFrame, encodeFrameHeader } from '../../src/alpn/frame.ts'
import type { WanfedError } from '../../src/errors.ts'
import { receivePackets } from '../../src/transport/packet-receiver.ts'
import { VirtualClock } from '../helpers/clock.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const IDLE = 120_000
const BODY = 10_000

const { cleanups } = leakGuard()

/**
 * A loopback TCP pair whose accepting side runs receivePackets on a virtual clock. `received`
 * counts the bytes the receiver has been handed: its own 'data' listener runs first, so once the
 * count is reached the receiver has seen them.
 */
async function pair() {
  const clock = new VirtualClock(1_000)
  const packets: string[] = []
  const errors: WanfedError[] = []
  let received = 0
  let inbound: Socket | undefined
  const server = createServer((s) => {
    inbound = s
    receivePackets(s, {
      clock,
      maxFrameSize: 1024,
      idleTimeoutMs: IDLE,
      bodyTimeoutMs: BODY,
      onPacket: (buf) => packets.push(buf.toString()),
      onProtocolError: (err) => errors.push(err),
    })
    s.on('data', (chunk: Buffer) => {
      received += chunk.length
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const client = connect((server.address() as { port: number }).port, '127.0.0.1')
  client.on('error', () => {})
  await once(client, 'connect')
  await until(() => inbound !== undefined, 'the connection to be accepted')
  const started = clock.now()
  cleanups.push(async () => {
    client.destroy()
    inbound?.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  const sock = inbound as Socket
  let sent = 0
  return {
    clock,
    started,
    packets,
    errors,
    sock,
    /** Writes `bytes` and waits until the receiver has them. */
    async send(bytes: Buffer) {
      sent += bytes.length
      client.write(bytes)
      await until(() => received >= sent, 'the receiver to read the bytes')
    },
  }
}

describe('receivePackets: the idle timeout between frames', () => {
  it('closes an idle connection exactly idleTimeoutMs after it opened, quietly, and not before', async () => {
    const p = await pair()
    p.clock.advanceTo(p.started + IDLE - 1)
    expect(p.sock.destroyed).toBe(false)
    p.clock.advanceTo(p.started + IDLE)
    expect(p.sock.destroyed).toBe(true)
    expect(p.errors).toEqual([])
    expect(p.clock.pendingTimers).toBe(0)
  })

  it('restarts the idle clock when a frame completes', async () => {
    const p = await pair()
    p.clock.advanceTo(p.started + 50_000)
    await p.send(encodeFrame(Buffer.from('one')))
    expect(p.packets).toEqual(['one'])
    const last = p.clock.now()
    p.clock.advanceTo(p.started + IDLE)
    expect(p.sock.destroyed).toBe(false)
    p.clock.advanceTo(last + IDLE - 1)
    expect(p.sock.destroyed).toBe(false)
    p.clock.advanceTo(last + IDLE)
    expect(p.sock.destroyed).toBe(true)
    expect(p.errors).toEqual([])
  })
})

describe('receivePackets: the body timeout inside a frame', () => {
  it('fails a frame whose body stops exactly bodyTimeoutMs after its last byte, and not before', async () => {
    const p = await pair()
    p.clock.advanceTo(p.started + 1_000)
    await p.send(Buffer.concat([encodeFrameHeader(10), Buffer.from('abc')]))
    const begun = p.clock.now()
    p.clock.advanceTo(begun + BODY - 1)
    expect(p.sock.destroyed).toBe(false)
    expect(p.errors).toEqual([])
    p.clock.advanceTo(begun + BODY)
    expect(p.sock.destroyed).toBe(true)
    expect(p.errors.map((e) => e.code)).toEqual(['WANFED_ERR_FRAME_STALLED'])
    expect(p.errors[0]?.message).toContain('7 of 14 bytes')
    expect(p.packets).toEqual([])
    expect(p.clock.pendingTimers).toBe(0)
  })

  it('counts any byte of the body as progress: the deadline moves with each one', async () => {
    const p = await pair()
    await p.send(Buffer.concat([encodeFrameHeader(4), Buffer.from('a')]))
    p.clock.advance(BODY - 1)
    await p.send(Buffer.from('b'))
    const moved = p.clock.now()
    p.clock.advanceTo(moved + BODY - 1)
    expect(p.sock.destroyed).toBe(false)
    await p.send(Buffer.from('cd'))
    expect(p.packets).toEqual(['abcd'])
    // Between frames again: the idle timeout, not the body timeout, applies.
    const done = p.clock.now()
    p.clock.advanceTo(done + BODY)
    expect(p.sock.destroyed).toBe(false)
    p.clock.advanceTo(done + IDLE)
    expect(p.sock.destroyed).toBe(true)
    expect(p.errors).toEqual([])
  })
})
