import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  AbortError,
  ClosedError,
  DestroyedError,
  InvalidArgumentError,
  NoRouteError,
  NotListeningError,
  PacketTooLargeError,
  SocketError,
  TimeoutError,
} from '../../src/errors.ts'
import {
  MAX_UDP_PAYLOAD,
  NetTransport,
  type NetTransportOptions,
} from '../../src/transport/net-transport.ts'
import type { Packet, Transport } from '../../src/transport/types.ts'
import { VirtualClock } from '../helpers/clock.ts'
import { expectNoLeakedHandles, handleCounts, leakGuard } from '../helpers/leaks.ts'
import { closedPort, readAll, until } from '../helpers/net.ts'

// Probed at collection time: skipIf reads it before any hook runs.
const hasIpv6 = await probeIpv6()

async function probeIpv6(): Promise<boolean> {
  const probe = createSocket('udp6')
  try {
    const ok = once(probe, 'listening').then(
      () => true,
      () => false,
    )
    probe.bind(0, '::1')
    return await ok
  } finally {
    probe.close()
  }
}

const { clock, cleanups } = leakGuard()

function transport(options: NetTransportOptions = {}): NetTransport {
  const t = new NetTransport({ clock, ...options })
  cleanups.push(() => t.close())
  return t
}

async function listening(options: NetTransportOptions = {}): Promise<NetTransport> {
  const t = transport(options)
  await t.listen()
  return t
}

function addrOf(t: NetTransport, host = '127.0.0.1'): string {
  return host.includes(':') ? `[${host}]:${t.getAutoBindPort()}` : `${host}:${t.getAutoBindPort()}`
}

function nextPacket(t: Transport): Promise<Packet> {
  return new Promise((resolve) => t.once('packet', resolve))
}

function nextStream(t: Transport): Promise<Duplex> {
  return new Promise((resolve) => t.once('stream', resolve))
}

function nextClose(t: Transport): Promise<void> {
  return new Promise((resolve) => t.once('close', () => resolve()))
}

async function closed(s: Duplex): Promise<void> {
  if (!s.closed) await once(s, 'close')
}

describe('NetTransport: construction and binding', () => {
  it('validates options in the constructor and does no I/O', () => {
    const before = handleCounts()
    expect(() => new NetTransport({ bindAddrs: [] })).toThrow(/bindAddrs/)
    expect(() => new NetTransport({ bindAddrs: ['localhost'] })).toThrow(InvalidArgumentError)
    expect(() => new NetTransport({ bindPort: 70000 })).toThrow(/bindPort/)
    expect(() => new NetTransport({ bindPort: 1.5 })).toThrow(/bindPort/)
    expect(() => new NetTransport({ udpRecvBufferSize: 0 })).toThrow(/udpRecvBufferSize/)
    expect(() => new NetTransport({ maxStreamsPending: -1 })).toThrow(/maxStreamsPending/)
    const t = new NetTransport()
    expect(t.status).toBe('idle')
    expect(t.stats().bound).toEqual([])
    expect(t.capabilities).toEqual({ lossyPackets: true, maxPacketSize: 65_507 })
    expect(() => t.getAutoBindPort()).toThrow(NotListeningError)
    expect(handleCounts()).toEqual(before)
  })

  it('binds TCP and UDP on the same kernel-chosen port', async () => {
    const t = await listening()
    const port = t.getAutoBindPort()
    expect(port).toBeGreaterThan(0)
    expect(t.status).toBe('listening')
    expect(t.stats().bound).toEqual([`127.0.0.1:${port}`])

    const got = nextPacket(t)
    const raw = createSocket('udp4')
    raw.send(Buffer.from('udp'), port, '127.0.0.1')
    expect((await got).buf.toString()).toBe('udp')
    raw.close()

    const stream = nextStream(t).then((s) => s as Socket)
    const c = connect(port, '127.0.0.1')
    await once(c, 'connect')
    expect((await stream).remotePort).toBe(c.localPort)
    c.destroy()
  })

  it('binds the same port on every bind address', async () => {
    const t = await listening({ bindAddrs: ['127.0.0.1', '127.0.0.2'] })
    const port = t.getAutoBindPort()
    expect(t.stats().bound).toEqual([`127.0.0.1:${port}`, `127.0.0.2:${port}`])
    const got = nextPacket(t)
    const raw = createSocket('udp4')
    raw.send(Buffer.from('second'), port, '127.0.0.2')
    expect((await got).buf.toString()).toBe('second')
    raw.close()
  })

  it('binds a fixed port', async () => {
    const port = await closedPort()
    const t = await listening({ bindPort: port })
    expect(t.getAutoBindPort()).toBe(port)
  })

  it('fails with an error naming address and port when TCP is taken, and leaves nothing open', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())))
    const port = (blocker.address() as { port: number }).port
    const t = transport({ bindPort: port })
    const err = await t.listen().catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.remote).toBe(false)
    expect(err.message).toContain(`127.0.0.1:${port}`)
    expect(err.cause.code).toBe('EADDRINUSE')
    expect(t.status).toBe('closed')
  })

  it('closes the TCP listener it opened when UDP is taken', async () => {
    // Another test file may hold the TCP side of the port we pick; then pick again (bounded).
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = handleCounts()
      const blocker = createSocket('udp4')
      blocker.bind(0, '127.0.0.1')
      await once(blocker, 'listening')
      const port = blocker.address().port
      const t = new NetTransport({ clock, bindPort: port })
      const err = await t.listen().catch((e) => e)
      await new Promise<void>((r) => blocker.close(() => r()))
      expect(err).toBeInstanceOf(SocketError)
      if (/TCP listener/.test(err.message)) continue
      expect(err.message).toContain(`UDP listener on 127.0.0.1:${port}`)
      expect(err.cause.code).toBe('EADDRINUSE')
      // The TCP listener opened first is closed again.
      await expectNoLeakedHandles(before)
      expect(t.status).toBe('closed')
      return
    }
    throw new Error('every port tried was taken for TCP as well')
  })

  it('rejects listen with a pre-aborted signal and opens nothing', async () => {
    const t = transport()
    await expect(t.listen({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError)
    expect(t.status).toBe('idle')
  })

  it('stops binding when the listen signal fires mid-way, closing what it opened', async () => {
    const t = transport({ bindAddrs: ['127.0.0.1', '127.0.0.2'] })
    const ac = new AbortController()
    const listen = t.listen({ signal: ac.signal })
    ac.abort()
    await expect(listen).rejects.toBeInstanceOf(AbortError)
    expect(t.status).toBe('closed')
    expect(t.stats().bound).toEqual([])
  })

  it.skipIf(!hasIpv6)('binds ::1 with udp6 and sends to bracketed IPv6 addresses', async () => {
    const a = await listening({ bindAddrs: ['::1'] })
    const b = await listening({ bindAddrs: ['127.0.0.1', '::1'] })
    expect(a.stats().bound).toEqual([`[::1]:${a.getAutoBindPort()}`])
    const got = nextPacket(b)
    await a.writeToAddress(Buffer.from('v6'), { addr: addrOf(b, '::1') })
    const p = await got
    expect(p.buf.toString()).toBe('v6')
    expect(p.from).toBe(`[::1]:${a.getAutoBindPort()}`)
    const back = nextPacket(a)
    await b.writeToAddress(Buffer.from('v6 back'), { addr: addrOf(a, '::1') })
    expect((await back).from).toBe(`[::1]:${b.getAutoBindPort()}`)
    // No IPv4 socket on a: an IPv4 destination has no route.
    await expect(a.writeToAddress(Buffer.from('x'), { addr: addrOf(b) })).rejects.toBeInstanceOf(
      NoRouteError,
    )
  })
})

describe('NetTransport: packets', () => {
  it('round-trips packets with the sender address as from and monotonic timestamps', async () => {
    const a = await listening()
    const b = await listening()
    const got: Packet[] = []
    b.on('packet', (p) => got.push(p))
    const t0 = clock.now()
    for (let i = 0; i < 5; i++)
      await a.writeToAddress(Buffer.from([i]), { addr: addrOf(b), name: 'ignored' })
    await until(() => got.length >= 5, 'got.length to reach 5')
    expect(got.map((p) => p.buf[0])).toEqual([0, 1, 2, 3, 4])
    for (const p of got) expect(p.from).toBe(addrOf(a))
    const stamps = got.map((p) => p.timestamp)
    expect(stamps[0]).toBeGreaterThanOrEqual(t0)
    for (let i = 1; i < stamps.length; i++)
      expect(stamps[i]).toBeGreaterThanOrEqual(stamps[i - 1] as number)
    expect(a.stats().packets.sent).toBe(5)
    expect(b.stats().packets).toMatchObject({ received: 5, dropped: 0 })
  })

  it('takes hundreds of concurrent sends and dials without a MaxListeners warning', async () => {
    const a = await listening()
    const b = await listening()
    b.on('stream', (s) => s.destroy())
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const sends = Array.from({ length: 200 }, (_, i) =>
        a.writeToAddress(Buffer.from([i]), { addr: addrOf(b) }),
      )
      const dials = Array.from({ length: 20 }, () =>
        a.dialAddressTimeout({ addr: addrOf(b) }, 5_000),
      )
      await Promise.all(sends)
      for (const s of await Promise.all(dials)) s.destroy()
      // Process warnings are emitted on a later tick.
      await new Promise((r) => setImmediate(r))
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
  })

  it('resolves writeToAddress with the clock time after the send', async () => {
    const a = await listening()
    const before = clock.now()
    const ts = await a.writeToAddress(Buffer.from('x'), { addr: addrOf(a) })
    expect(ts).toBeGreaterThanOrEqual(before)
    expect(ts).toBeLessThanOrEqual(clock.now())
  })

  it('carries 65,507 bytes and refuses 65,508 before sending anything', async () => {
    const a = await listening()
    const b = await listening()
    const got: Packet[] = []
    b.on('packet', (p) => got.push(p))
    await a.writeToAddress(Buffer.alloc(MAX_UDP_PAYLOAD, 7), { addr: addrOf(b) })
    await until(() => got.length >= 1, 'got.length to reach 1')
    expect(got[0]?.buf.length).toBe(65_507)
    const err = await a
      .writeToAddress(Buffer.alloc(MAX_UDP_PAYLOAD + 1), { addr: addrOf(b) })
      .catch((e) => e)
    expect(err).toBeInstanceOf(PacketTooLargeError)
    expect(err.remote).toBe(false)
    // A marker sent after it arrives alone: the refused packet never left.
    await a.writeToAddress(Buffer.from('m'), { addr: addrOf(b) })
    await until(() => got.length >= 2, 'the marker')
    expect(got.map((p) => p.buf.length)).toEqual([65_507, 1])
    expect(a.stats().packets).toMatchObject({ sent: 2, sendErrors: 0 })
  })

  it('refuses empty packets and malformed addresses', async () => {
    const a = await listening()
    await expect(a.writeToAddress(Buffer.alloc(0), { addr: addrOf(a) })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(a.writeToAddress(Buffer.from('x'), { addr: 'nope' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(a.writeToAddress(Buffer.from('x'), { addr: '::1:80' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })

  it('rejects an IPv6 destination when no IPv6 address is bound', async () => {
    const a = await listening()
    await expect(a.writeToAddress(Buffer.from('x'), { addr: '[::1]:9' })).rejects.toBeInstanceOf(
      NoRouteError,
    )
  })

  it('counts zero-length datagrams and packets nobody listens for as dropped', async () => {
    const a = await listening()
    const raw = createSocket('udp4')
    raw.send(Buffer.alloc(0), a.getAutoBindPort(), '127.0.0.1')
    raw.send(Buffer.from('unheard'), a.getAutoBindPort(), '127.0.0.1')
    await until(() => a.stats().packets.received >= 2, 'a.stats().packets.received to reach 2')
    raw.close()
    expect(a.stats().packets).toMatchObject({ received: 2, dropped: 2 })

    const seen: Packet[] = []
    a.on('packet', (p) => seen.push(p))
    const raw2 = createSocket('udp4')
    raw2.send(Buffer.alloc(0), a.getAutoBindPort(), '127.0.0.1')
    raw2.send(Buffer.from('heard'), a.getAutoBindPort(), '127.0.0.1')
    await until(() => seen.length >= 1, 'seen.length to reach 1')
    raw2.close()
    expect(seen.map((p) => p.buf.toString())).toEqual(['heard'])
    expect(a.stats().packets).toMatchObject({ received: 4, dropped: 3 })
  })

  it('delivers through packets(), which ends on close', async () => {
    const a = await listening()
    const b = await listening()
    const it = b.packets()
    await a.writeToAddress(Buffer.from('iter'), { addr: addrOf(b) })
    const first = await it.next()
    expect(first.done).toBe(false)
    expect((first.value as Packet).buf.toString()).toBe('iter')
    const ending = it.next()
    await b.close()
    expect((await ending).done).toBe(true)
  })
})

describe('NetTransport: streams', () => {
  it('echoes over a dialed stream with half-close, the accepting side answering after the FIN', async () => {
    const a = await listening()
    const b = await listening()
    b.on('stream', (s) => {
      void (async () => {
        const request = await readAll(s)
        // After the FIN (readAll saw the end): a half-open socket must still take writes.
        await new Promise((r) => setImmediate(r))
        s.end(request.toString().toUpperCase())
      })()
    })
    const s = await a.dialAddressTimeout({ addr: addrOf(b), name: 'ignored' }, 1_000)
    expect((s as Socket).remotePort).toBe(b.getAutoBindPort())
    s.end('half-closed')
    expect((await readAll(s)).toString()).toBe('HALF-CLOSED')
    expect(a.stats().streams.dialed).toBe(1)
    expect(b.stats().streams.accepted).toBe(1)
  })

  it('keeps the dialer writable after the accepting side ended first', async () => {
    const a = await listening()
    const b = await listening()
    const got = new Promise<string>((resolve) => {
      b.on('stream', (s) => {
        s.end('server first')
        void readAll(s).then((buf) => resolve(buf.toString()))
      })
    })
    const s = await a.dialAddressTimeout({ addr: addrOf(b) }, 1_000)
    // readAll returned: the server's FIN has arrived, and we can still write.
    expect((await readAll(s)).toString()).toBe('server first')
    s.end('client later')
    expect(await got).toBe('client later')
  })

  it('delivers through streams(), and close destroys accepted and dialed sockets', async () => {
    const a = await listening()
    const b = await listening()
    const it = b.streams()
    const dialed = await a.dialAddressTimeout({ addr: addrOf(b) }, 1_000)
    const accepted = (await it.next()).value as Socket
    expect(accepted.remotePort).toBe((dialed as Socket).localPort)
    await b.close()
    expect(accepted.destroyed).toBe(true)
    expect((await it.next()).done).toBe(true)
    await a.close()
    expect(dialed.destroyed).toBe(true)
  })

  it('destroys and counts streams nobody listens for', async () => {
    const a = await listening()
    const c = connect(a.getAutoBindPort(), '127.0.0.1')
    c.on('error', () => {})
    await once(c, 'connect')
    await closed(c)
    expect(a.stats().streams).toMatchObject({ accepted: 1, dropped: 1 })
  })

  it('closes connections beyond maxStreamsPending and counts them', async () => {
    const a = await listening({ maxStreamsPending: 1 })
    const held: Duplex[] = []
    a.on('stream', (s) => held.push(s))
    const c1 = connect(a.getAutoBindPort(), '127.0.0.1')
    await once(c1, 'connect')
    await until(() => held.length >= 1, 'held.length to reach 1')
    const c2 = connect(a.getAutoBindPort(), '127.0.0.1')
    c2.on('error', () => {})
    await closed(c2)
    expect(held).toHaveLength(1)
    expect(a.stats().streams.dropped).toBe(1)
    c1.destroy()
  })

  it('rejects a refused dial as a remote SocketError with ECONNREFUSED', async () => {
    const a = await listening()
    const port = await closedPort()
    const err = await a.dialAddressTimeout({ addr: `127.0.0.1:${port}` }, 1_000).catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.remote).toBe(true)
    expect(err.cause.code).toBe('ECONNREFUSED')
    expect(a.stats().streams.dialErrors).toBe(1)
  })

  it('rejects a dial to a host name that does not resolve as a local SocketError', async () => {
    const a = await listening()
    const err = await a
      .dialAddressTimeout({ addr: 'nonexistent.invalid:7946' }, 5_000)
      .catch((e) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err.remote).toBe(false)
    expect(err.message).toContain('cannot resolve nonexistent.invalid')
    expect(a.stats().streams.dialErrors).toBe(1)
  })

  it('times out through the injected clock with a remote TimeoutError and destroys the socket', async () => {
    const manual = new VirtualClock()
    const a = new NetTransport({ clock: manual })
    cleanups.push(() => a.close())
    await a.listen()
    const b = await listening()
    let accepted = 0
    b.on('stream', (s) => {
      accepted++
      s.destroy()
    })
    const dial = a.dialAddressTimeout({ addr: addrOf(b) }, 5_000)
    expect(manual.pendingTimers).toBe(1)
    manual.advance(5_000)
    const err = await dial.catch((e) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.remote).toBe(true)
    expect(manual.pendingTimers).toBe(0)
    // The socket is destroyed: the leak guard sees no handle left, and b at most one accept.
    expect(accepted).toBeLessThanOrEqual(1)
  })

  it('honours AbortSignal: pre-aborted opens no socket, abort mid-connect rejects AbortError', async () => {
    const a = await listening()
    const b = await listening()
    b.on('stream', (s) => s.destroy())
    const before = handleCounts().get('TCPSocketWrap') ?? 0
    const err = await a
      .dialAddressTimeout({ addr: addrOf(b) }, 1_000, { signal: AbortSignal.abort() })
      .catch((e) => e)
    expect(err).toBeInstanceOf(AbortError)
    expect(handleCounts().get('TCPSocketWrap') ?? 0).toBe(before)

    const ac = new AbortController()
    const dial = a.dialAddressTimeout({ addr: addrOf(b) }, 1_000, { signal: ac.signal })
    ac.abort(new Error('changed my mind'))
    const err2 = await dial.catch((e) => e)
    expect(err2).toBeInstanceOf(AbortError)
    expect(err2.cause.message).toBe('changed my mind')
    expect(a.stats().streams.dialErrors).toBe(2)
  })

  it('rejects an in-flight dial with the close or destroy reason', async () => {
    const a = await listening()
    const b = await listening()
    b.on('stream', (s) => s.destroy())
    const dial = a.dialAddressTimeout({ addr: addrOf(b) }, 1_000)
    const closing = a.close()
    await expect(dial).rejects.toBeInstanceOf(ClosedError)
    await closing

    const c = await listening()
    const dial2 = c.dialAddressTimeout({ addr: addrOf(b) }, 1_000)
    const closing2 = nextClose(c)
    c.destroy(new Error('boom'))
    const err = await dial2.catch((e) => e)
    expect(err).toBeInstanceOf(DestroyedError)
    expect(err.cause.message).toBe('boom')
    await closing2
  })

  it('refuses invalid timeouts and addresses', async () => {
    const a = await listening()
    for (const bad of [0, -5, Number.NaN]) {
      await expect(a.dialAddressTimeout({ addr: addrOf(a) }, bad)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      )
    }
    await expect(a.dialAddressTimeout({ addr: 'no-port' }, 100)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })
})

describe('NetTransport: lifecycle', () => {
  it('rejects operations before listen and after close; close is idempotent and emits close once', async () => {
    const t = transport()
    await expect(
      t.writeToAddress(Buffer.from('x'), { addr: '127.0.0.1:9' }),
    ).rejects.toBeInstanceOf(NotListeningError)
    await expect(t.dialAddressTimeout({ addr: '127.0.0.1:9' }, 100)).rejects.toBeInstanceOf(
      NotListeningError,
    )
    await t.listen()
    let closes = 0
    t.on('close', () => closes++)
    await Promise.all([t.close(), t.close()])
    await t.close()
    t.destroy()
    expect(closes).toBe(1)
    expect(t.status).toBe('closed')
    expect(t.stats().bound).toEqual([])
    await expect(
      t.writeToAddress(Buffer.from('x'), { addr: '127.0.0.1:9' }),
    ).rejects.toBeInstanceOf(ClosedError)
    await expect(t.dialAddressTimeout({ addr: '127.0.0.1:9' }, 100)).rejects.toBeInstanceOf(
      ClosedError,
    )
  })

  it('close does not wait for handed-over streams (pitfall 1.9.2)', async () => {
    const a = await listening()
    const held: Duplex[] = []
    a.on('stream', (s) => held.push(s))
    const c = connect(a.getAutoBindPort(), '127.0.0.1')
    c.on('error', () => {})
    await once(c, 'connect')
    await until(() => held.length >= 1, 'held.length to reach 1')
    await a.close()
    expect(held[0]?.destroyed).toBe(true)
    await closed(c)
  })

  it('releases everything when destroyed while listening', async () => {
    const t = await listening()
    const closing = nextClose(t)
    t.destroy()
    await closing
    expect(t.status).toBe('closed')
  })

  it('supports await using', async () => {
    const outer = new NetTransport({ clock })
    {
      await using t = outer
      await t.listen()
    }
    // afterEach checks that no socket is left.
    expect(outer.status).toBe('closed')
  })
})

describe('NetTransport: finalAdvertiseAddr', () => {
  const ifaces = () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true } as never],
    eth0: [
      { address: '8.8.4.4', family: 'IPv4', internal: false } as never,
      { address: 'fd00::1', family: 'IPv6', internal: false } as never,
      { address: '192.168.1.20', family: 'IPv4', internal: false } as never,
    ],
  })

  it('needs listen() unless both ip and port are given', () => {
    const t = new NetTransport()
    expect(() => t.finalAdvertiseAddr()).toThrow(NotListeningError)
    expect(t.finalAdvertiseAddr('10.0.0.1', 8301)).toEqual({ ip: '10.0.0.1', port: 8301 })
  })

  it('uses a given ip (validated, IPv4-mapped normalised) with the given or bound port', async () => {
    const t = await listening()
    const port = t.getAutoBindPort()
    expect(t.finalAdvertiseAddr('10.1.2.3', 7946)).toEqual({ ip: '10.1.2.3', port: 7946 })
    expect(t.finalAdvertiseAddr('10.1.2.3', 0)).toEqual({ ip: '10.1.2.3', port })
    expect(t.finalAdvertiseAddr('10.1.2.3')).toEqual({ ip: '10.1.2.3', port })
    expect(t.finalAdvertiseAddr('::ffff:10.1.2.3', 1)).toEqual({ ip: '10.1.2.3', port: 1 })
    expect(t.finalAdvertiseAddr('fd00::7', 1)).toEqual({ ip: 'fd00::7', port: 1 })
    expect(() => t.finalAdvertiseAddr('not-an-ip')).toThrow(InvalidArgumentError)
    expect(() => t.finalAdvertiseAddr('10.0.0.1', -1)).toThrow(InvalidArgumentError)
  })

  it('without an ip: the first bind address and the bound port', async () => {
    const t = await listening({ bindAddrs: ['127.0.0.2', '127.0.0.1'] })
    expect(t.finalAdvertiseAddr()).toEqual({ ip: '127.0.0.2', port: t.getAutoBindPort() })
    expect(t.finalAdvertiseAddr('')).toEqual({ ip: '127.0.0.2', port: t.getAutoBindPort() })
  })

  it('bound to 0.0.0.0: the first private IPv4 of the interfaces, an error when none', async () => {
    const t = await listening({ bindAddrs: ['0.0.0.0'], networkInterfaces: ifaces })
    expect(t.finalAdvertiseAddr()).toEqual({ ip: '192.168.1.20', port: t.getAutoBindPort() })
    // Reachable on loopback too.
    const got = nextPacket(t)
    await t.writeToAddress(Buffer.from('self'), { addr: addrOf(t) })
    expect((await got).from).toBe(addrOf(t))

    const u = await listening({
      bindAddrs: ['0.0.0.0'],
      networkInterfaces: () => ({ lo: ifaces().lo }),
    })
    expect(() => u.finalAdvertiseAddr()).toThrow(/no private IPv4/)
    expect(u.finalAdvertiseAddr('10.9.9.9')).toEqual({ ip: '10.9.9.9', port: u.getAutoBindPort() })
  })

  it.skipIf(!hasIpv6)('bound to :: picks a private IPv4 too', async () => {
    const t = await listening({ bindAddrs: ['::'], networkInterfaces: ifaces })
    expect(t.finalAdvertiseAddr()).toEqual({ ip: '192.168.1.20', port: t.getAutoBindPort() })
  })
})
