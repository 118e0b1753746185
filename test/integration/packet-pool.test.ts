import { once } from 'node:events'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { beforeEach, describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET } from '../../src/alpn/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import type { WanfedTransportOptions } from '../../src/transport/wanfed-transport.ts'
import { VirtualClock } from '../helpers/clock.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { silentServer, until } from '../helpers/net.ts'
import { wanfedNode } from '../helpers/wanfed-node.ts'

// The cross-DC packet pool of a WanfedTransport, against far ends on loopback that misbehave in
// one chosen way each. Timers run on a VirtualClock where the test is about time.

const { clock, cleanups } = leakGuard()
let network: MemoryNetwork
const to = { name: 'betty.dc2', addr: '' }

beforeEach(() => {
  network = new MemoryNetwork()
})

/** A TLS server with betty's certificate speaking `alpn`; `onConn` gets each connection. */
async function farEnd(
  onConn: (socket: TLSSocket) => void,
  alpn = ALPN_WAN_GOSSIP_PACKET,
): Promise<string> {
  const server = createTlsServer(
    { ca: caPem(), ...tlsFixture('betty'), requestCert: true, ALPNProtocols: [alpn] },
    onConn,
  )
  const sockets = new Set<TLSSocket>()
  server.on('secureConnection', (s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  server.on('tlsClientError', () => {})
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return `127.0.0.1:${(server.address() as { port: number }).port}`
}

async function bob(
  locator: StaticGatewayLocator,
  transport: Partial<WanfedTransportOptions>,
  nodeClock: VirtualClock | typeof clock = clock,
) {
  const n = await wanfedNode({
    network,
    node: 'bob',
    datacenter: 'dc1',
    identity: 'bob',
    locator,
    clock: nodeClock,
    transport,
  })
  cleanups.push(() => n.close())
  return n.transport
}

/** Lets socket callbacks run. */
const tick = () => new Promise((r) => setImmediate(r))

describe('PacketPool: connections per node', () => {
  for (const max of [1, 2]) {
    it(`opens exactly ${max} connection(s) to a congested node when ${max} are allowed`, async () => {
      // The far end never reads, so every connection fills up and stays congested.
      const far = await farEnd((s) => s.pause())
      const b = await bob(new StaticGatewayLocator({ dc2: [far] }), {
        pool: { maxConnsPerNode: max, writeHighWaterMark: 1 },
      })
      const big = Buffer.alloc(256 * 1024, 7)
      let rounds = 0
      // Until the pool has hit its bound, then as long again: the bound must hold.
      for (let extra = 0; extra < 20; rounds++) {
        await Promise.all(Array.from({ length: 8 }, () => b.writeToAddress(big, to)))
        await tick()
        if (b.stats().pool.dials >= max) extra++
        if (rounds > 400) break
      }
      const stats = b.stats().pool
      expect(stats.dials).toBe(max)
      expect(stats.open).toBe(max)
      expect(stats.droppedCongested).toBeGreaterThan(0)
      expect(stats.dropped).toBe(stats.droppedCongested)
    })
  }
})

describe('PacketPool: packets waiting for a dial', () => {
  /** A gateway that accepts TCP and never answers the TLS handshake: dials hang. */
  async function hangingDial(pool: NonNullable<WanfedTransportOptions['pool']>) {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const manual = new VirtualClock()
    const locator = new StaticGatewayLocator({ dc2: [`127.0.0.1:${silent.port}`] })
    const b = await bob(locator, { pool }, manual)
    return { b, manual, silent }
  }

  it('bounds waiting bytes per node exactly: at the limit accepted, one byte over dropped and counted', async () => {
    // Three 100-byte packets are 3 × (4 + 100) = 312 frame bytes.
    const { b } = await hangingDial({ maxPendingBytesPerNode: 312 })
    const sends = [1, 2, 3].map(() => b.writeToAddress(Buffer.alloc(100), to).catch((e) => e))
    await until(() => b.stats().pool.pending === 3, 'three packets waiting')
    expect(b.stats().pool.pendingBytes).toBe(312)
    await b.writeToAddress(Buffer.alloc(1), to)
    expect(b.stats().pool).toMatchObject({ pending: 3, pendingBytes: 312, droppedPendingFull: 1 })
    expect(b.stats().pool.dropped).toBe(1)
    expect(b.stats().packets.sendDropped).toBe(1)
    // Another node still has room: the bound is per node.
    const other = b.writeToAddress(Buffer.alloc(100), { name: 'bonnie.dc2', addr: '' })
    await until(() => b.stats().pool.pending === 4, 'the other node’s packet waiting')
    await b.close()
    for (const e of await Promise.all([...sends, other.catch((e) => e)]))
      expect(e).toMatchObject({ code: 'WANFED_ERR_CLOSED' })
    expect(b.stats().pool.pendingBytes).toBe(0)
  })

  it('bounds waiting bytes for the whole pool exactly', async () => {
    const { b } = await hangingDial({ maxPendingBytes: 208 })
    const sends = [
      b.writeToAddress(Buffer.alloc(100), to).catch((e) => e),
      b.writeToAddress(Buffer.alloc(100), { name: 'bonnie.dc2', addr: '' }).catch((e) => e),
    ]
    await until(() => b.stats().pool.pendingBytes === 208, 'both nodes’ packets waiting')
    await b.writeToAddress(Buffer.alloc(1), { name: 'bess.dc2', addr: '' })
    expect(b.stats().pool).toMatchObject({ pending: 2, droppedPendingFull: 1, dropped: 1 })
    await b.close()
    await Promise.all(sends)
  })

  it('drops, at maxDialWaitMs, the packets still waiting for a slow dial, and counts them', async () => {
    const { b, manual } = await hangingDial({ maxDialWaitMs: 2_000 })
    const sends = [1, 2].map(() => b.writeToAddress(Buffer.from('late'), to))
    await until(() => b.stats().pool.pending === 2, 'two packets waiting')
    manual.advance(1_999)
    expect(b.stats().pool.pending).toBe(2)
    manual.advance(1)
    await Promise.all(sends)
    expect(b.stats().pool).toMatchObject({ pending: 0, pendingBytes: 0, droppedDialWait: 2 })
    expect(b.stats().packets.sendDropped).toBe(2)
  })

  it('rejects a send waiting for a dial when its signal fires, and frees its place', async () => {
    const { b } = await hangingDial({})
    const ac = new AbortController()
    const waiting = b.writeToAddress(Buffer.alloc(50), to, { signal: ac.signal })
    const other = b.writeToAddress(Buffer.alloc(50), to).catch((e) => e)
    await until(() => b.stats().pool.pending === 2, 'two packets waiting')
    ac.abort()
    await expect(waiting).rejects.toMatchObject({ code: 'WANFED_ERR_ABORTED', remote: false })
    expect(b.stats().pool).toMatchObject({ pending: 1, pendingBytes: 54 })
    expect(b.stats().packets.sendErrors).toBe(1)
    // An already aborted signal is refused before anything is queued.
    await expect(
      b.writeToAddress(Buffer.alloc(50), to, { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_ABORTED' })
    expect(b.stats().pool.pending).toBe(1)
    await b.close()
    await other
  })
})

describe('PacketPool: a far node that fails behind a healthy gateway', () => {
  it('backs off dialling it, counts the drops, never blames the gateway, and recovers after the window', async () => {
    // TLS completes but the far server speaks another protocol: the gateway did its part.
    const broken = await farEnd(() => {}, 'h2')
    const healthy = await farEnd((s) => s.resume())
    const manual = new VirtualClock()
    const locator = new StaticGatewayLocator({ dc2: [broken] }, { clock: manual })
    const b = await bob(
      locator,
      { pool: { dialBackoff: { initialMs: 1_000, maxMs: 1_000, jitter: 0 } } },
      manual,
    )
    await expect(b.writeToAddress(Buffer.from('x'), to)).rejects.toMatchObject({
      code: 'WANFED_ERR_ALPN_MISMATCH',
    })
    for (let i = 0; i < 50; i++) await b.writeToAddress(Buffer.from('x'), to)
    expect(b.stats().pool).toMatchObject({ dials: 1, dialFailures: 1, droppedBackoff: 50 })
    expect(b.stats().packets.sendDropped).toBe(50)
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(0)
    manual.advance(999)
    await b.writeToAddress(Buffer.from('x'), to)
    expect(b.stats().pool.dials).toBe(1)
    // The node comes back (the same gateway now leads to a healthy server).
    locator.setGateways('dc2', [healthy])
    manual.advance(1)
    await b.writeToAddress(Buffer.from('x'), to)
    await b.writeToAddress(Buffer.from('y'), to)
    expect(b.stats().pool).toMatchObject({ dials: 2, open: 1, droppedBackoff: 51 })
    expect(b.stats().packets.sent).toBe(2)
  })
})

describe('PacketPool: a local failure is not the far node’s', () => {
  it('does not back a node off while its DC has no gateway, nor count a dial: the next send after setGateways dials', async () => {
    const healthy = await farEnd((s) => s.resume())
    const manual = new VirtualClock()
    const locator = new StaticGatewayLocator({}, { clock: manual })
    const b = await bob(locator, {}, manual)
    for (let i = 0; i < 2; i++) {
      await expect(b.writeToAddress(Buffer.from('x'), to)).rejects.toMatchObject({
        code: 'WANFED_ERR_NO_GATEWAY',
        remote: false,
      })
    }
    expect(b.stats().pool).toMatchObject({ dials: 0, dialFailures: 0, droppedBackoff: 0 })
    locator.setGateways('dc2', [healthy])
    await b.writeToAddress(Buffer.from('x'), to)
    expect(b.stats().pool).toMatchObject({ dials: 1, dialFailures: 0, open: 1, dropped: 0 })
    expect(b.stats().packets.sent).toBe(1)
  })
})

describe('PacketPool: timers on the injected clock', () => {
  it('reaps a connection idle for idleTimeoutMs, not before', async () => {
    const far = await farEnd((s) => s.resume())
    const manual = new VirtualClock()
    const b = await bob(
      new StaticGatewayLocator({ dc2: [far] }),
      { pool: { idleTimeoutMs: 10_000, reapIntervalMs: 1_000 } },
      manual,
    )
    await b.writeToAddress(Buffer.from('x'), to)
    await until(() => b.stats().pool.idle === 1, 'the frame to be flushed')
    manual.advance(9_000)
    await b.writeToAddress(Buffer.from('x'), to)
    await until(() => b.stats().pool.idle === 1, 'the frame to be flushed')
    manual.advance(9_999)
    expect(b.stats().pool).toMatchObject({ open: 1, reaped: 0 })
    manual.advance(1_000)
    expect(b.stats().pool).toMatchObject({ open: 0, reaped: 1 })
  })

  it('closes a connection whose peer stopped reading once congested past both windows, and only then', async () => {
    const far = await farEnd((s) => s.pause())
    const manual = new VirtualClock()
    const b = await bob(
      new StaticGatewayLocator({ dc2: [far] }),
      {
        pool: {
          maxConnsPerNode: 1,
          writeHighWaterMark: 64 * 1024,
          congestionTimeoutMs: 2_000,
          progressWindowMs: 4_000,
          reapIntervalMs: 100,
        },
      },
      manual,
    )
    const big = Buffer.alloc(60_000, 1)
    // Fill the kernel's buffers until drops persist: then nothing goes through any more.
    let consecutive = 0
    for (let i = 0; i < 3_000 && consecutive < 30; i++) {
      const before = b.stats().packets.sendDropped
      await b.writeToAddress(big, to)
      consecutive = b.stats().packets.sendDropped > before ? consecutive + 1 : 0
      await tick()
    }
    expect(consecutive).toBe(30)
    manual.advance(3_900)
    expect(b.stats().pool).toMatchObject({ open: 1, stalled: 0 })
    manual.advance(200)
    expect(b.stats().pool).toMatchObject({ open: 0, stalled: 1 })
  })

  it('keeps a congested connection whose peer reads a chunk between clock steps, and closes it once the peer stops', async () => {
    const peers: TLSSocket[] = []
    const far = await farEnd((s) => {
      s.pause()
      peers.push(s)
    })
    const manual = new VirtualClock()
    const congestionTimeoutMs = 2_000
    const progressWindowMs = 1_500
    const b = await bob(
      new StaticGatewayLocator({ dc2: [far] }),
      {
        pool: {
          maxConnsPerNode: 1,
          writeHighWaterMark: 64 * 1024,
          congestionTimeoutMs,
          progressWindowMs,
          reapIntervalMs: 100,
        },
      },
      manual,
    )
    const big = Buffer.alloc(60_000, 1)
    /** Sends until drops persist: every buffer on the way is full, the connection congested. */
    const fill = async () => {
      let consecutive = 0
      for (let i = 0; i < 3_000 && consecutive < 20; i++) {
        const before = b.stats().packets.sendDropped
        await b.writeToAddress(big, to)
        consecutive = b.stats().packets.sendDropped > before ? consecutive + 1 : 0
        await tick()
      }
      expect(consecutive).toBe(20)
    }
    await fill()
    const peer = peers[0] as TLSSocket
    // Steps of 500 ms, each after the peer took a chunk and the sender refilled what it freed:
    // far longer in all than congestionTimeoutMs + progressWindowMs.
    for (let step = 0; step < 12; step++) {
      let taken = 0
      await until(() => {
        for (let c = peer.read(); c !== null; c = taken < 2 * 1024 * 1024 ? peer.read() : null)
          taken += (c as Buffer).length
        return taken >= 2 * 1024 * 1024
      }, 'the peer to read a chunk')
      // What the peer took frees room on the way: a packet gets through again.
      const deadline = Date.now() + 5_000
      for (;;) {
        const before = b.stats().packets.sendDropped
        await b.writeToAddress(big, to)
        if (b.stats().packets.sendDropped === before) break
        if (Date.now() > deadline) throw new Error('no packet got through after the peer read')
        await new Promise((r) => setTimeout(r, 5))
      }
      await fill()
      manual.advance(500)
      expect(b.stats().pool).toMatchObject({ open: 1, stalled: 0, dials: 1 })
    }
    // The peer stops reading: the last progress was seen on the last step's first reaper tick.
    await fill()
    manual.advance(progressWindowMs - 600)
    expect(b.stats().pool).toMatchObject({ open: 1, stalled: 0 })
    manual.advance(700)
    expect(b.stats().pool).toMatchObject({ open: 0, stalled: 1 })
  }, 20_000)
})

describe('PacketPool: a slow but steady reader keeps its connection', () => {
  for (const congestionTimeoutMs of [undefined, 200]) {
    it(`with congestionTimeoutMs ${congestionTimeoutMs ?? 'default'}`, async () => {
      let read = 0
      const readers = new Set<NodeJS.Timeout>()
      cleanups.push(() => {
        for (const t of readers) clearInterval(t)
      })
      // About 1.6 MB/s: far less than the sender offers.
      const far = await farEnd((s) => {
        s.pause()
        const t = setInterval(() => {
          for (let i = 0; i < 2; i++) {
            const chunk = s.read(8192) as Buffer | null
            if (chunk === null) break
            read += chunk.length
          }
        }, 10)
        readers.add(t)
        s.once('close', () => {
          clearInterval(t)
          readers.delete(t)
        })
      })
      const b = await bob(new StaticGatewayLocator({ dc2: [far] }), {
        pool: {
          maxConnsPerNode: 1,
          writeHighWaterMark: 64 * 1024,
          reapIntervalMs: 20,
          ...(congestionTimeoutMs === undefined ? {} : { congestionTimeoutMs }),
        },
      })
      const big = Buffer.alloc(16_000, 1)
      const started = Date.now()
      while (Date.now() - started < 3_000) {
        await b.writeToAddress(big, to)
        await new Promise((r) => setTimeout(r, 1))
      }
      const stats = b.stats().pool
      expect(stats.droppedCongested).toBeGreaterThan(0) // it was congested...
      expect(read).toBeGreaterThan(1_000_000) // ...while the reader drained...
      expect(stats).toMatchObject({ stalled: 0, dials: 1, open: 1 }) // ...and it kept its connection
    }, 15_000)
  }
})
