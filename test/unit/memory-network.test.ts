import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  NoRouteError,
  NotListeningError,
  PacketTooLargeError,
  TimeoutError,
} from '../../src/errors.ts'
import {
  MEMORY_MAX_PACKET_SIZE,
  MemoryNetwork,
  type MemoryTransport,
} from '../../src/transport/memory-network.ts'
import { MemoryStream } from '../../src/transport/memory-stream.ts'
import type { Packet, Transport } from '../../src/transport/types.ts'
import { VirtualClock } from '../helpers/clock.ts'
import { TrackingClock } from '../helpers/leaks.ts'
import { readAll, until } from '../helpers/net.ts'

let clock: TrackingClock
const open: MemoryTransport[] = []

beforeEach(() => {
  clock = new TrackingClock()
})

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()))
  expect(clock.liveTimers).toBe(0)
})

async function pair(
  options: ConstructorParameters<typeof MemoryNetwork>[0] = {},
  names: [string?, string?] = [],
) {
  const net = new MemoryNetwork({ clock, ...options })
  const a = net.createTransport(names[0])
  const b = net.createTransport(names[1])
  open.push(a, b)
  await Promise.all([a.listen(), b.listen()])
  return { net, a, b }
}

/** Resolves once `s` has emitted 'close', even if that already happened. */
async function closed(s: Duplex): Promise<void> {
  if (!s.closed) await once(s, 'close')
}

function nextPacket(t: Transport): Promise<Packet> {
  return new Promise((resolve) => t.once('packet', resolve))
}

function nextStream(t: Transport): Promise<Duplex> {
  return new Promise((resolve) => t.once('stream', resolve))
}

describe('MemoryNetwork', () => {
  it('validates its options', () => {
    expect(() => new MemoryNetwork({ latencyMs: -1 })).toThrow(/latencyMs/)
    expect(() => new MemoryNetwork({ latencyMs: Number.NaN })).toThrow(InvalidArgumentError)
    expect(() => new MemoryNetwork({ lossRate: 1.5 })).toThrow(/lossRate/)
    expect(() => new MemoryNetwork({ random: 3 as never })).toThrow(/random/)
  })

  it('assigns 127.0.0.1:<n> from 1 up, registered only while listening', async () => {
    const net = new MemoryNetwork({ clock })
    const a = net.createTransport('a')
    const b = net.createTransport()
    open.push(a, b)
    expect(a.address).toBe('127.0.0.1:1')
    expect(b.address).toBe('127.0.0.1:2')
    expect(a.name).toBe('a')
    expect(b.name).toBeUndefined()
    expect(net.listening).toEqual([])
    await a.listen()
    expect(net.listening).toEqual(['127.0.0.1:1'])
    await a.close()
    expect(net.listening).toEqual([])
  })

  it('routes packets by name when given, else by address, with from and a copy of the bytes', async () => {
    const { a, b } = await pair({}, ['a.dc1', 'b.dc1'])
    const buf = Buffer.from('hello')
    const got = nextPacket(b)
    const sentAt = await a.writeToAddress(buf, { name: 'b.dc1', addr: 'ignored:1' })
    buf.fill(0)
    const p = await got
    expect(p.buf.toString()).toBe('hello')
    expect(p.from).toBe(a.address)
    expect(p.timestamp).toBeGreaterThanOrEqual(sentAt)

    const got2 = nextPacket(a)
    await b.writeToAddress(Buffer.from('back'), { addr: a.address })
    expect((await got2).buf.toString()).toBe('back')
    // An empty name means "route by address", as memberlist's MockNetwork does.
    const got3 = nextPacket(a)
    await b.writeToAddress(Buffer.from('x'), { name: '', addr: a.address })
    expect((await got3).buf.toString()).toBe('x')
    expect(a.stats().packets).toMatchObject({ sent: 1, received: 2 })
  })

  it('rejects unknown names and addresses with a local NoRouteError', async () => {
    const { a, b } = await pair({}, ['a', 'b'])
    const err = await a
      .writeToAddress(Buffer.from('x'), { name: 'nobody', addr: b.address })
      .catch((e) => e)
    expect(err).toBeInstanceOf(NoRouteError)
    expect(err.remote).toBe(false)
    await expect(
      a.writeToAddress(Buffer.from('x'), { addr: '127.0.0.1:999' }),
    ).rejects.toBeInstanceOf(NoRouteError)
    await expect(a.dialAddressTimeout({ name: 'nobody', addr: '' }, 1000)).rejects.toBeInstanceOf(
      NoRouteError,
    )
    await b.close()
    await expect(a.writeToAddress(Buffer.from('x'), { addr: b.address })).rejects.toBeInstanceOf(
      NoRouteError,
    )
    await expect(
      a.writeToAddress(Buffer.from('x'), { name: 'b', addr: '' }),
    ).rejects.toBeInstanceOf(NoRouteError)
    expect(a.stats().packets.sendErrors).toBe(4)
    expect(a.stats().streams.dialErrors).toBe(1)
  })

  it('refuses a second listener under the same name, and lets a name be reused after close', async () => {
    const net = new MemoryNetwork({ clock })
    const a = net.createTransport('dup')
    const b = net.createTransport('dup')
    open.push(a, b)
    await a.listen()
    await expect(b.listen()).rejects.toBeInstanceOf(InvalidArgumentError)
    await a.close()
    const c = net.createTransport('dup')
    open.push(c)
    await c.listen()
    const d = net.createTransport()
    open.push(d)
    await d.listen()
    const got = nextPacket(c)
    await d.writeToAddress(Buffer.from('to c'), { name: 'dup', addr: '' })
    expect((await got).buf.toString()).toBe('to c')
  })

  it('checks packet size: empty is invalid, above 4 MiB too large', async () => {
    const { a, b } = await pair()
    await expect(a.writeToAddress(Buffer.alloc(0), { addr: b.address })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(
      a.writeToAddress(Buffer.alloc(MEMORY_MAX_PACKET_SIZE + 1), { addr: b.address }),
    ).rejects.toBeInstanceOf(PacketTooLargeError)
    const got = nextPacket(b)
    await a.writeToAddress(Buffer.alloc(MEMORY_MAX_PACKET_SIZE), { addr: b.address })
    expect((await got).buf.length).toBe(MEMORY_MAX_PACKET_SIZE)
    expect(a.capabilities).toEqual({ lossyPackets: false, maxPacketSize: MEMORY_MAX_PACKET_SIZE })
  })

  it('delays packets by exactly latencyMs through the clock, and cancels them on close', async () => {
    const virtual = new VirtualClock()
    const { a, b } = await pair({ latencyMs: 40, clock: virtual })
    const got: Packet[] = []
    b.on('packet', (p) => got.push(p))
    const sentAt = await a.writeToAddress(Buffer.from('late'), { addr: b.address })
    virtual.advance(39)
    expect(got).toHaveLength(0)
    expect(virtual.pendingTimers).toBe(1)
    virtual.advance(1)
    expect(got).toHaveLength(1)
    expect(got[0]!.timestamp - sentAt).toBe(40)

    await a.writeToAddress(Buffer.from('never'), { addr: b.address })
    expect(virtual.pendingTimers).toBe(1)
    await b.close()
    expect(virtual.pendingTimers).toBe(0)
    virtual.advance(1_000)
    expect(got).toHaveLength(1)
  })

  it('drops packets at lossRate, counted in the sender sendDropped', async () => {
    let i = 0
    const { a, b } = await pair({ lossRate: 0.5, random: () => (i++ % 2 === 0 ? 0.1 : 0.9) })
    expect(a.capabilities.lossyPackets).toBe(true)
    const got: Packet[] = []
    b.on('packet', (p) => got.push(p))
    for (let n = 0; n < 10; n++) await a.writeToAddress(Buffer.from([n]), { addr: b.address })
    await until(() => got.length >= 5, 'five packets')
    expect(got.map((p) => p.buf[0])).toEqual([1, 3, 5, 7, 9])
    expect(a.stats().packets).toMatchObject({ sent: 5, sendDropped: 5 })
  })

  it('counts packets nobody listens for as dropped', async () => {
    const { a, b } = await pair()
    await a.writeToAddress(Buffer.from('x'), { addr: b.address })
    await until(() => b.stats().packets.received === 1, 'the packet to arrive')
    expect(b.stats().packets).toMatchObject({ received: 1, dropped: 1 })
  })

  it('delivers through packets() and streams() iterators, which end on close', async () => {
    const { a, b } = await pair()
    const packets = b.packets()
    const streams = b.streams()
    await a.writeToAddress(Buffer.from('p1'), { addr: b.address })
    const s = await a.dialAddressTimeout({ addr: b.address }, 1000)
    const p = await packets.next()
    expect(p.done).toBe(false)
    expect((p.value as Packet).buf.toString()).toBe('p1')
    const st = await streams.next()
    expect(st.value).toBeInstanceOf(MemoryStream)
    const closed = b.close()
    expect((await packets.next()).done).toBe(true)
    expect((await streams.next()).done).toBe(true)
    await closed
    // The accepted end was destroyed by close, and with it the dialer's end.
    expect(s.destroyed).toBe(true)
  })

  it('dials: the stream reaches the destination, bytes flow both ways, half-close works', async () => {
    const { a, b } = await pair({}, ['a', 'b'])
    b.on('stream', (s) => {
      // Echo upper-cased, then end once the dialer has ended.
      s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()))
      s.on('end', () => s.end('!'))
    })
    const s = (await a.dialAddressTimeout({ name: 'b', addr: '' }, 1000)) as MemoryStream
    expect(s.remoteAddress).toBe('127.0.0.1')
    expect(s.remotePort).toBe(2)
    expect(s.localPort).toBe(1)
    s.end('hello')
    expect((await readAll(s)).toString()).toBe('HELLO!')
    await closed(s)
    expect(a.stats().streams.dialed).toBe(1)
    expect(b.stats().streams.accepted).toBe(1)
  })

  it('destroying one end destroys the other', async () => {
    const { a, b } = await pair()
    const accepted = nextStream(b)
    const s = await a.dialAddressTimeout({ addr: b.address }, 1000)
    const other = await accepted
    other.on('error', () => {})
    s.destroy()
    await closed(other)
    expect(other.destroyed).toBe(true)
  })

  it('keeps unread data at the far end when the near end closes cleanly', async () => {
    const { a, b } = await pair()
    const accepted = nextStream(b)
    const s = await a.dialAddressTimeout({ addr: b.address }, 1000)
    const other = await accepted
    other.end('reply')
    s.end('request')
    expect((await readAll(s)).toString()).toBe('reply')
    await closed(s)
    expect((await readAll(other)).toString()).toBe('request')
  })

  it('applies back-pressure: a write completes once the other side reads', async () => {
    const [x, y] = MemoryStream.pair('127.0.0.1:1', '127.0.0.1:2')
    // The other side's readable buffer holds 16 KiB: a bigger write waits until it is read.
    const big = Buffer.alloc(64 * 1024, 1)
    let calledBack = 0
    x.write(big, () => calledBack++)
    await until(() => y.readableLength === big.length, 'the write to reach the other side')
    // Everything was handed over, yet the write has not completed: nobody has read it.
    await new Promise((r) => setImmediate(r))
    expect(calledBack).toBe(0)
    y.resume()
    await until(() => calledBack === 1, 'the write to complete once read')
    x.destroy()
    expect(y.destroyed).toBe(true)
  })

  it('streams with no listener are destroyed and counted', async () => {
    const { a, b } = await pair()
    const s = await a.dialAddressTimeout({ addr: b.address }, 1000)
    await closed(s)
    expect(b.stats().streams).toMatchObject({ accepted: 1, dropped: 1 })
  })

  it('applies exactly the latency to the connect, and times out when it outlasts timeoutMs', async () => {
    const virtual = new VirtualClock()
    const { a, b } = await pair({ latencyMs: 50, clock: virtual })
    b.on('stream', (s) => s.destroy())
    let connected: Duplex | undefined
    const dial = a.dialAddressTimeout({ addr: b.address }, 1000).then((s) => {
      connected = s
      return s
    })
    virtual.advance(49)
    await new Promise((r) => setImmediate(r))
    expect(connected).toBeUndefined()
    virtual.advance(1)
    ;(await dial).destroy()
    const timedOut = a.dialAddressTimeout({ addr: b.address }, 10).catch((e) => e)
    virtual.advance(10)
    const err = await timedOut
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.remote).toBe(true)
    expect(virtual.pendingTimers).toBe(0)
  })

  it('honours an AbortSignal: pre-aborted opens nothing; aborting mid-connect rejects AbortError', async () => {
    const virtual = new VirtualClock()
    const { a, b } = await pair({ latencyMs: 50, clock: virtual })
    let accepted = 0
    b.on('stream', (s) => {
      accepted++
      s.destroy()
    })
    await expect(
      a.dialAddressTimeout({ addr: b.address }, 1000, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(AbortError)
    const ac = new AbortController()
    const dial = a.dialAddressTimeout({ addr: b.address }, 1000, { signal: ac.signal })
    ac.abort()
    await expect(dial).rejects.toBeInstanceOf(AbortError)
    await expect(
      a.dialAddressTimeout({ addr: b.address }, 1000, { signal: AbortSignal.timeout(5) }),
    ).rejects.toBeInstanceOf(TimeoutError)
    // Past every latency: none of the aborted dials connects late.
    expect(virtual.pendingTimers).toBe(0)
    virtual.advance(1_000)
    expect(accepted).toBe(0)
  })

  it('takes many concurrent delayed dials without a MaxListeners warning', async () => {
    const { a, b } = await pair({ latencyMs: 5 })
    b.on('stream', (s) => s.destroy())
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const dials = await Promise.all(
        Array.from({ length: 50 }, () => a.dialAddressTimeout({ addr: b.address }, 1000)),
      )
      for (const s of dials) s.destroy()
      // A warning is emitted on a later tick: let it come out before listening stops.
      await new Promise((r) => setImmediate(r))
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
  })

  it('rejects an in-flight dial with ClosedError when the dialer closes', async () => {
    const { a, b } = await pair({ latencyMs: 50 })
    const dial = a.dialAddressTimeout({ addr: b.address }, 1000)
    await a.close()
    await expect(dial).rejects.toBeInstanceOf(ClosedError)
  })

  it('refuses a dial when the destination closed during the latency', async () => {
    const { a, b } = await pair({ latencyMs: 30 })
    const dial = a.dialAddressTimeout({ addr: b.address }, 1000)
    await b.close()
    await expect(dial).rejects.toBeInstanceOf(NoRouteError)
  })

  it('rejects invalid timeouts', async () => {
    const { a, b } = await pair()
    for (const bad of [0, -1, Number.NaN]) {
      await expect(a.dialAddressTimeout({ addr: b.address }, bad)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      )
    }
  })

  it('follows the lifecycle: NotListening before listen, Closed after close, close idempotent', async () => {
    const net = new MemoryNetwork({ clock })
    const a = net.createTransport()
    open.push(a)
    await expect(
      a.writeToAddress(Buffer.from('x'), { addr: '127.0.0.1:1' }),
    ).rejects.toBeInstanceOf(NotListeningError)
    await expect(a.dialAddressTimeout({ addr: '127.0.0.1:1' }, 100)).rejects.toBeInstanceOf(
      NotListeningError,
    )
    await a.listen()
    let closes = 0
    a.on('close', () => closes++)
    await Promise.all([a.close(), a.close()])
    await a.close()
    expect(closes).toBe(1)
    expect(a.status).toBe('closed')
    await expect(
      a.writeToAddress(Buffer.from('x'), { addr: '127.0.0.1:1' }),
    ).rejects.toBeInstanceOf(ClosedError)
    await expect(a.dialAddressTimeout({ addr: '127.0.0.1:1' }, 100)).rejects.toBeInstanceOf(
      ClosedError,
    )
    // After close, listen() is refused as every other operation is (issue 7).
    await expect(a.listen()).rejects.toBeInstanceOf(ClosedError)
  })

  it('finalAdvertiseAddr returns its own address unless overridden', () => {
    const net = new MemoryNetwork({ clock })
    const a = net.createTransport()
    expect(a.finalAdvertiseAddr()).toEqual({ ip: '127.0.0.1', port: 1 })
    expect(a.finalAdvertiseAddr('10.0.0.5', 0)).toEqual({ ip: '10.0.0.5', port: 1 })
    expect(a.finalAdvertiseAddr('', 7946)).toEqual({ ip: '127.0.0.1', port: 7946 })
    expect(() => a.finalAdvertiseAddr('not-an-ip')).toThrow(InvalidArgumentError)
    expect(() => a.finalAdvertiseAddr(undefined, 70000)).toThrow(InvalidArgumentError)
  })
})

describe('MemoryNetwork partitions', () => {
  it('loses packets to a partitioned node, counted, and delivers again after heal()', async () => {
    const network = new MemoryNetwork()
    const a = network.createTransport('a.dc1')
    const b = network.createTransport('b.dc1')
    await Promise.all([a.listen(), b.listen()])
    const got: string[] = []
    b.on('packet', (p) => got.push(p.buf.toString()))
    network.partition('b.dc1')
    await a.writeToAddress(Buffer.from('lost'), { name: 'b.dc1', addr: b.address })
    network.heal('b.dc1')
    await a.writeToAddress(Buffer.from('found'), { name: 'b.dc1', addr: b.address })
    await until(() => got.length > 0, 'the packet after heal()')
    expect(got).toEqual(['found'])
    expect(a.stats().packets.sendDropped).toBe(1)
    await Promise.all([a.close(), b.close()])
  })

  it('makes stream dials to a partitioned address hang until their timeout', async () => {
    const network = new MemoryNetwork()
    const a = network.createTransport('a.dc1')
    await a.listen()
    network.partition('127.0.0.1:999')
    const started = Date.now()
    await expect(a.dialAddressTimeout({ addr: '127.0.0.1:999' }, 100)).rejects.toMatchObject({
      code: 'WANFED_ERR_TIMEOUT',
      remote: true,
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(90)
    expect(() => network.partition('')).toThrow(/name or address/)
    await a.close()
  })
})
