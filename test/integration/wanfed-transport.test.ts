import type { Duplex } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  dialViaGateway,
  encodeFrame,
  encodeFrameHeader,
} from '../../src/alpn/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import type { Packet } from '../../src/transport/types.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { handleCounts, leakGuard } from '../helpers/leaks.ts'
import { closedPort, readAll, silentServer, until } from '../helpers/net.ts'
import { type WanfedNode, wanfedNode } from '../helpers/wanfed-node.ts'

// Two datacenters on loopback. Cross-DC traffic goes straight to the other node's ALPN server,
// which is what a gateway hands it after routing on SNI (the gateway tests add the hop).

let network: MemoryNetwork
let bobLocator: StaticGatewayLocator
let bob: WanfedNode
let betty: WanfedNode
const { clock, cleanups } = leakGuard()

async function start(transport: Parameters<typeof wanfedNode>[0]['transport'] = {}) {
  bobLocator = new StaticGatewayLocator({}, { clock, random: () => 0 })
  betty = await wanfedNode({
    network,
    node: 'betty',
    datacenter: 'dc2',
    identity: 'betty',
    locator: new StaticGatewayLocator({}),
    clock,
  })
  bob = await wanfedNode({
    network,
    node: 'bob',
    datacenter: 'dc1',
    identity: 'bob',
    locator: bobLocator,
    clock,
    transport,
  })
  bobLocator.setGateways('dc2', [betty.serverAddr])
  cleanups.push(
    () => bob.close(),
    () => betty.close(),
  )
}

function nextPacket(t: WanfedTransport): Promise<Packet> {
  return new Promise((resolve) => t.once('packet', resolve))
}

/** The peer closed: with half-open sockets that shows as 'end' (FIN) or 'close' (reset). */
function ended(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    socket.once('end', () => resolve())
    socket.once('close', () => resolve())
    socket.resume()
  })
}

function nextError(t: WanfedTransport): Promise<Error> {
  return new Promise((resolve) => t.once('error', resolve))
}

beforeEach(() => {
  network = new MemoryNetwork({ clock })
})

describe('WanfedTransport: routing by node name', () => {
  it('sends same-DC packets through the wrapped transport, untouched', async () => {
    await start()
    const carol = network.createTransport('carol.dc1')
    cleanups.push(() => carol.close())
    await carol.listen()
    const got = new Promise<Packet>((resolve) => carol.once('packet', resolve))
    await bob.transport.writeToAddress(Buffer.from('lan'), {
      name: 'carol.dc1',
      addr: carol.address,
    })
    expect((await got).buf.toString()).toBe('lan')
    expect(bob.transport.stats().inner.packets.sent).toBe(1)
    expect(bob.transport.stats().pool.dials).toBe(0)
  })

  it('frames cross-DC packets over one pooled TLS connection to the node', async () => {
    await start()
    const received: Packet[] = []
    betty.transport.on('packet', (p) => received.push(p))
    for (let i = 0; i < 20; i++) {
      await bob.transport.writeToAddress(Buffer.from(`wan ${i}`), {
        name: 'betty.dc2',
        addr: '192.0.2.2:8302',
      })
    }
    await until(() => received.length === 20, '20 packets')
    expect(received.map((p) => p.buf.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => `wan ${i}`),
    )
    // `from` is the TLS peer's address (a gateway's, in production), never the sender's advertised one.
    expect(received[0]?.from).toMatch(/^127\.0\.0\.1:\d+$/)
    const stats = bob.transport.stats()
    expect(stats.pool.dials).toBe(1)
    expect(stats.pool.open).toBe(1)
    expect(stats.packets.sent).toBe(20)
    expect(betty.server.stats().byAlpn[ALPN_WAN_GOSSIP_PACKET]).toBe(1)
  })

  it('opens one TLS connection per cross-DC stream, with half-close', async () => {
    await start()
    const accepted = new Promise<Duplex>((resolve) => betty.transport.once('stream', resolve))
    const stream = await bob.transport.dialAddressTimeout(
      { name: 'betty.dc2', addr: '192.0.2.2:8302' },
      5_000,
    )
    const remote = await accepted
    stream.end('push-pull request')
    expect((await readAll(remote)).toString()).toBe('push-pull request')
    remote.end('push-pull reply')
    expect((await readAll(stream)).toString()).toBe('push-pull reply')
    expect(bob.transport.stats().streams.dialed).toBe(1)
  })

  it('passes the wrapped transport’s inbound traffic through', async () => {
    await start()
    const carol = network.createTransport('carol.dc1')
    cleanups.push(() => carol.close())
    await carol.listen()
    const got = nextPacket(bob.transport)
    await carol.writeToAddress(Buffer.from('from lan'), { name: 'bob.dc1', addr: bob.addr })
    expect((await got).buf.toString()).toBe('from lan')
  })

  it('refuses malformed node names, even for same-DC targets, as Consul does', async () => {
    await start()
    for (const name of ['bob', 'a.b.dc1', '']) {
      await expect(
        bob.transport.writeToAddress(Buffer.from('x'), { name, addr: '127.0.0.1:1' }),
      ).rejects.toMatchObject({
        code: 'WANFED_ERR_INVALID_NODE_NAME',
        remote: false,
      })
    }
    await expect(
      bob.transport.dialAddressTimeout({ name: 'x', addr: '127.0.0.1:1' }, 1_000),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_NODE_NAME',
    })
  })

  it('routes dotted node names with the last-dot rule', async () => {
    await start({ nodeNameRule: 'last-dot' })
    // The SNI label cannot hold dots, so a dotted node cannot be dialled cross-DC; same-DC it works.
    const carol = network.createTransport('carol.example.com.dc1')
    cleanups.push(() => carol.close())
    await carol.listen()
    const got = new Promise<Packet>((resolve) => carol.once('packet', resolve))
    await bob.transport.writeToAddress(Buffer.from('fqdn'), {
      name: 'carol.example.com.dc1',
      addr: carol.address,
    })
    expect((await got).buf.toString()).toBe('fqdn')
  })
})

describe('WanfedTransport: gateways and failures', () => {
  it('fails with a local NoGatewayError for a DC without gateways, opening nothing', async () => {
    await start()
    const before = handleCounts()
    const err = await bob.transport
      .writeToAddress(Buffer.from('x'), { name: 'bonnie.dc3', addr: '127.0.0.1:1' })
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_NO_GATEWAY', remote: false })
    expect(err.message).toContain('no gateway reachable for dc3')
    await expect(
      bob.transport.dialAddressTimeout({ name: 'bonnie.dc3', addr: '127.0.0.1:1' }, 1_000),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_NO_GATEWAY' })
    expect(handleCounts()).toEqual(before)
    expect(bob.transport.stats().pool.open).toBe(0)
  })

  it('reports a failed dial to the locator and retries it on the gateway picked next', async () => {
    await start()
    const dead = `127.0.0.1:${await closedPort()}`
    // random() = 0 picks the first healthy gateway: the dead one.
    bobLocator.setGateways('dc2', [dead, betty.serverAddr])
    const got = nextPacket(betty.transport)
    await bob.transport.writeToAddress(Buffer.from('first try'), { name: 'betty.dc2', addr: '' })
    expect((await got).buf.toString()).toBe('first try')
    expect(bobLocator.health('dc2').find((h) => h.gateway === dead)?.consecutiveFailures).toBe(1)
    expect(bob.transport.stats().packets.sendErrors).toBe(0)
  })

  it('times out and aborts cross-DC stream dials, honouring the caller (Consul ignores both)', async () => {
    await start()
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    bobLocator.setGateways('dc2', [`127.0.0.1:${silent.port}`])
    const to = { name: 'betty.dc2', addr: '' }
    const started = Date.now()
    await expect(bob.transport.dialAddressTimeout(to, 200)).rejects.toMatchObject({
      code: 'WANFED_ERR_TIMEOUT',
      remote: true,
    })
    expect(Date.now() - started).toBeLessThan(2_000)
    const ac = new AbortController()
    const dial = bob.transport.dialAddressTimeout(to, 10_000, { signal: ac.signal })
    await until(() => silent.sockets.size === 1, 'the dial to connect')
    ac.abort()
    await expect(dial).rejects.toMatchObject({ name: 'AbortError' })
    // Neither counts against the gateway: the caller gave up, not the gateway.
    expect(bobLocator.health('dc2')[0]?.consecutiveFailures).toBe(0)
  })

  it('close() rejects a cross-DC dial in progress as closed', async () => {
    await start()
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    bobLocator.setGateways('dc2', [`127.0.0.1:${silent.port}`])
    const dial = bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 10_000)
    const send = bob.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    await until(() => silent.sockets.size === 2, 'both dials to connect')
    await bob.transport.close()
    await expect(dial).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })
    await expect(send).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })
  })
})

describe('WanfedTransport: packet pool', () => {
  it('evicts a connection the far side closed, and redials for the next packet', async () => {
    await start()
    const to = { name: 'betty.dc2', addr: '' }
    const first = nextPacket(betty.transport)
    await bob.transport.writeToAddress(Buffer.from('one'), to)
    await first
    // The far side drops every connection (a restart); the pool notices the close.
    betty.server.destroy()
    await until(() => bob.transport.stats().pool.open === 0, 'eviction')
    const replacement = await wanfedNode({
      network,
      node: 'betty2',
      datacenter: 'dc2',
      identity: 'betty',
      locator: new StaticGatewayLocator({}),
      clock,
    })
    cleanups.push(() => replacement.close())
    bobLocator.setGateways('dc2', [replacement.serverAddr])
    const second = nextPacket(replacement.transport)
    await bob.transport.writeToAddress(Buffer.from('two'), to)
    expect((await second).buf.toString()).toBe('two')
    expect(bob.transport.stats().pool.dials).toBe(2)
  })

  it('drops and counts a packet for a congested connection instead of buffering it', async () => {
    await start({ pool: { maxConnsPerNode: 1, writeHighWaterMark: 1 } })
    const to = { name: 'betty.dc2', addr: '' }
    const received: Packet[] = []
    betty.transport.on('packet', (p) => received.push(p))
    await Promise.all([
      bob.transport.writeToAddress(Buffer.alloc(1000, 1), to),
      bob.transport.writeToAddress(Buffer.alloc(1000, 2), to),
    ])
    await until(() => received.length === 1, 'the first packet')
    // The drop is decided at send time; once the connection is idle nothing more can arrive.
    await until(() => bob.transport.stats().pool.idle === 1, 'the connection to be idle')
    expect(received).toHaveLength(1)
    const stats = bob.transport.stats()
    expect(stats.packets.sent).toBe(1)
    expect(stats.packets.sendDropped).toBe(1)
    expect(stats.pool.dropped).toBe(1)
  })

  it('reaps idle connections', async () => {
    await start({ pool: { idleTimeoutMs: 100, reapIntervalMs: 20 } })
    const got = nextPacket(betty.transport)
    await bob.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    await got
    expect(bob.transport.stats().pool.open).toBe(1)
    await until(() => bob.transport.stats().pool.open === 0, 'reaping')
    expect(bob.transport.stats().pool.reaped).toBe(1)
    await until(
      () => betty.transport.stats().inbound.packetConns === 0,
      'the far side to see the close',
    )
  })
})

describe('WanfedTransport: inbound packet frames', () => {
  async function rawPacketConn() {
    const socket = await dialViaGateway({
      gateway: betty.serverAddr,
      datacenter: 'dc2',
      node: 'betty',
      alpn: ALPN_WAN_GOSSIP_PACKET,
      tls: { ca: caPem(), ...tlsFixture('bob') },
    })
    socket.on('error', () => {})
    cleanups.push(() => void socket.destroy())
    return socket
  }

  it('delivers many frames from one write and frames split across writes', async () => {
    await start()
    const received: string[] = []
    betty.transport.on('packet', (p) => received.push(p.buf.toString()))
    const socket = await rawPacketConn()
    socket.write(Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('bb'))]))
    const split = encodeFrame(Buffer.from('ccc'))
    socket.write(split.subarray(0, 2))
    await until(() => received.length === 2, 'the whole frames')
    socket.write(split.subarray(2))
    await until(() => received.length === 3, 'three packets')
    expect(received).toEqual(['a', 'bb', 'ccc'])
  })

  it('treats a zero-length frame as a counted protocol error and closes the connection', async () => {
    await start()
    const socket = await rawPacketConn()
    const error = nextError(betty.transport)
    socket.write(Buffer.alloc(4))
    expect(await error).toMatchObject({ code: 'WANFED_ERR_FRAME_EMPTY' })
    await ended(socket)
    expect(betty.transport.stats().protocolErrors['WANFED_ERR_FRAME_EMPTY']).toBe(1)
  })

  it('refuses a frame above the limit before reading its body', async () => {
    await start()
    const socket = await rawPacketConn()
    const error = nextError(betty.transport)
    const header = Buffer.alloc(4)
    header.writeUInt32BE(4194305)
    socket.write(header)
    expect(await error).toMatchObject({ code: 'WANFED_ERR_FRAME_TOO_LARGE' })
    await ended(socket)
  })

  it('drops a truncated frame instead of delivering it', async () => {
    await start()
    let delivered = 0
    betty.transport.on('packet', () => delivered++)
    const socket = await rawPacketConn()
    const error = nextError(betty.transport)
    socket.end(
      Buffer.concat([encodeFrame(Buffer.from('whole')), encodeFrameHeader(10), Buffer.from('abc')]),
    )
    expect(await error).toMatchObject({ code: 'WANFED_ERR_FRAME_TRUNCATED' })
    expect(delivered).toBe(1)
  })

  it('times out a frame whose body stalls', async () => {
    await start()
    await betty.close()
    betty = await wanfedNode({
      network,
      node: 'betty',
      datacenter: 'dc2',
      identity: 'betty',
      locator: new StaticGatewayLocator({}),
      clock,
      transport: { frameBodyTimeoutMs: 150 },
    })
    cleanups.push(() => betty.close())
    const socket = await rawPacketConn()
    const error = nextError(betty.transport)
    const started = Date.now()
    socket.write(Buffer.concat([encodeFrameHeader(100), Buffer.alloc(10)]))
    expect(await error).toMatchObject({ code: 'WANFED_ERR_FRAME_STALLED' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(120)
    await ended(socket)
  })
})

describe('WanfedTransport: lifecycle', () => {
  it('close() closes the pool, then the wrapped transport, and stops taking cross-DC traffic', async () => {
    await start()
    await bob.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    await betty.transport.close()
    expect(betty.transport.stats().inner.status).toBe('closed')
    // Its handlers are gone from the server, which stays the caller's: the protocol is refused.
    await expect(
      dialViaGateway({
        gateway: betty.serverAddr,
        datacenter: 'dc2',
        node: 'betty',
        alpn: ALPN_WAN_GOSSIP_PACKET,
        tls: { ca: caPem(), ...tlsFixture('bob') },
      }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_ALPN_MISMATCH' })
    await bob.transport.close()
    expect(bob.transport.stats().pool.open).toBe(0)
  })

  it('dials with rotated credentials after setTlsCredentials()', async () => {
    await start()
    const to = { name: 'betty.dc2', addr: '' }
    // Rotate to a certificate of an unrelated CA: betty refuses it (the dial or the connection fails).
    bob.transport.setTlsCredentials({ ca: caPem(), ...tlsFixture('other-server') })
    const refused = await bob.transport.dialAddressTimeout(to, 2_000).then(
      async (s) => {
        await ended(s)
        return true
      },
      () => true,
    )
    expect(refused).toBe(true)
    // And back: it works again.
    bob.transport.setTlsCredentials({ ca: caPem(), ...tlsFixture('bob') })
    const accepted = new Promise<Duplex>((resolve) => betty.transport.once('stream', resolve))
    const stream = await bob.transport.dialAddressTimeout(to, 2_000)
    stream.write('hi')
    ;(await accepted).destroy()
    stream.destroy()
    expect(() => bob.transport.setTlsCredentials(undefined as never)).toThrow(/credentials/)
  })

  it('validates its options', () => {
    const inner = network.createTransport()
    const tls = { ca: caPem(), ...tlsFixture('bob') }
    const locator = new StaticGatewayLocator({})
    const make = (over: object) => () =>
      new WanfedTransport({ transport: inner, datacenter: 'dc1', locator, tls, ...over } as never)
    expect(make({ datacenter: '' })).toThrow(/datacenter/)
    expect(make({ locator: {} })).toThrow(/GatewayLocator/)
    expect(make({ maxPacketSize: 4194305 })).toThrow(/maxPacketSize/)
    expect(make({ pool: { maxConnsPerNode: 0 } })).toThrow(/maxConnsPerNode/)
    expect(make({ domain: 'bad..domain' })).toThrow(/domain/)
  })
})
