import { setTimeout as sleep } from 'node:timers/promises'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { beforeEach, describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET, AlpnServer } from '../../src/alpn/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { closedPort, until } from '../helpers/net.ts'
import { wanfedNode } from '../helpers/wanfed-node.ts'

// Failure modes found in review: who gets blamed for a failed dial, stuck peers, refusing peers,
// misbehaving locators, shared servers.

let network: MemoryNetwork
const { clock, cleanups } = leakGuard()

beforeEach(() => {
  network = new MemoryNetwork({ clock })
})

async function bob(locator: StaticGatewayLocator, transport: object = {}) {
  const n = await wanfedNode({
    network,
    node: 'bob',
    datacenter: 'dc1',
    identity: 'bob',
    locator,
    clock,
    transport,
  })
  cleanups.push(() => n.close())
  return n
}

/** A TLS endpoint speaking the packet ALPN with betty's certificate, doing `onConn` with each connection. */
async function farEnd(onConn: (socket: TLSSocket) => void) {
  const server = createTlsServer(
    {
      ca: caPem(),
      ...tlsFixture('betty'),
      requestCert: true,
      ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
    },
    onConn,
  )
  const sockets = new Set<TLSSocket>()
  server.on('secureConnection', (s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return `127.0.0.1:${(server.address() as { port: number }).port}`
}

describe('who is blamed for a failed cross-DC dial', () => {
  it('a dead far node (the handshake fails behind the gateway) does not mark the gateway', async () => {
    const betty = await wanfedNode({
      network,
      node: 'betty',
      datacenter: 'dc2',
      identity: 'betty',
      locator: new StaticGatewayLocator({}),
      clock,
    })
    cleanups.push(() => betty.close())
    const locator = new StaticGatewayLocator({ dc2: [betty.serverAddr] }, { clock })
    const b = await bob(locator)
    // ghost.server.dc2.consul is not in betty's certificate: the dial fails after TCP connected.
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'ghost.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_TLS',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(0)
  })

  it('an unreachable gateway is marked; a name SNI cannot carry fails locally and marks nothing', async () => {
    const dead = `127.0.0.1:${await closedPort()}`
    const locator = new StaticGatewayLocator({ dc2: [dead] }, { clock })
    const b = await bob(locator, { nodeNameRule: 'last-dot' })
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_SOCKET',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'ceph.example.com.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_INVALID_ARG', remote: false })
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: '.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_NODE_NAME',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
  })

  it('a locator whose hooks throw is reported as an error and does not break the dial', async () => {
    const far = await farEnd((s) => s.resume())
    const locator = {
      pickGateway: () => far,
      reportSuccess: () => {
        throw new Error('buggy locator')
      },
    }
    const b = await bob(locator as never)
    const errors: Error[] = []
    b.transport.on('error', (e) => errors.push(e))
    await b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    expect(errors.map((e) => e.message)).toEqual(['GatewayLocator.reportSuccess threw'])
    expect(b.transport.stats().pool.open).toBe(1)
    const throwing = await bob2({
      pickGateway: () => {
        throw new Error('boom')
      },
    })
    await expect(
      throwing.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_NO_GATEWAY',
    })
  })
})

async function bob2(locator: object) {
  const n = await wanfedNode({
    network,
    node: 'carl',
    datacenter: 'dc1',
    identity: 'bob',
    locator: locator as never,
    clock,
  })
  cleanups.push(() => n.close())
  return n
}

describe('peers that misbehave', () => {
  it('closes a pooled connection whose peer stopped reading, freeing the slot', async () => {
    // The far end never reads: writes back up until the connection is congested for good.
    const far = await farEnd((s) => s.pause())
    const b = await bob(new StaticGatewayLocator({ dc2: [far] }), {
      pool: {
        maxConnsPerNode: 1,
        writeHighWaterMark: 64 * 1024,
        congestionTimeoutMs: 1_000,
        reapIntervalMs: 20,
      },
    })
    const big = Buffer.alloc(60_000, 1)
    // Keep sending, giving the socket time to drain between packets, until drops persist: then
    // the kernel's buffers are full and nothing drains any more.
    let consecutive = 0
    for (let i = 0; i < 3_000 && consecutive < 30; i++) {
      const before = b.transport.stats().packets.sendDropped
      await b.transport.writeToAddress(big, { name: 'betty.dc2', addr: '' })
      consecutive = b.transport.stats().packets.sendDropped > before ? consecutive + 1 : 0
      await sleep(1)
    }
    expect(consecutive).toBe(30)
    await until(() => b.transport.stats().pool.stalled >= 1, 'the stalled connection to be closed')
    await until(() => b.transport.stats().pool.open === 0, 'the slot to be free')
  })

  it('tells the operator when a peer keeps closing connections right after the handshake', async () => {
    // As a server that refuses our certificate after a TLS 1.3 handshake behaves.
    const far = await farEnd((s) => s.destroy())
    const b = await bob(new StaticGatewayLocator({ dc2: [far] }))
    const errors: Error[] = []
    b.transport.on('error', (e) => errors.push(e))
    for (let i = 0; i < 3; i++) {
      await b.transport
        .writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
        .catch(() => {})
      await until(() => b.transport.stats().pool.open === 0, 'the close')
    }
    await until(() => errors.length === 1, 'the error')
    expect(errors[0]).toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(errors[0]?.message).toContain('client certificate')
    expect(b.transport.stats().pool.closedEarly).toBe(3)
  })

  it('drops the first packet of a failed dial without an unhandled rejection when no packet may wait', async () => {
    const dead = `127.0.0.1:${await closedPort()}`
    const b = await bob(new StaticGatewayLocator({ dc2: [dead] }), {
      pool: { maxPendingPerNode: 0 },
    })
    await b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    expect(b.transport.stats().packets.sendDropped).toBe(1)
    await until(() => b.transport.stats().pool.dialFailures === 1, 'the dial to fail')
  })
})

describe('sharing an AlpnServer', () => {
  it('refuses a second transport on the same server, and a closed one leaves a new one’s handlers', async () => {
    const server = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture('bob') } })
    const tls = { ca: caPem(), ...tlsFixture('bob') }
    const make = () =>
      new WanfedTransport({
        transport: network.createTransport(),
        datacenter: 'dc1',
        locator: new StaticGatewayLocator({}),
        tls,
      })
    const first = make().attach(server)
    expect(() => make().attach(server)).toThrow(/already carries WAN gossip/)
    await first.listen()
    await first.close()
    const second = make().attach(server)
    await second.listen()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    // Closing the first again (idempotent) must not remove the second's handlers.
    await first.close()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    await second.close()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(false)
    await server.close()
  })
})

describe('iterators', () => {
  it('serve overlapping next() calls in order', async () => {
    const t = network.createTransport('a.dc1')
    const u = network.createTransport('b.dc1')
    await Promise.all([t.listen(), u.listen()])
    const it = t.packets()
    const both = Promise.all([it.next(), it.next()])
    await u.writeToAddress(Buffer.from('1'), { name: 'a.dc1', addr: '' })
    await u.writeToAddress(Buffer.from('2'), { name: 'a.dc1', addr: '' })
    const [one, two] = await both
    expect([one.value?.buf.toString(), two.value?.buf.toString()]).toEqual(['1', '2'])
    const pending = it.next()
    await Promise.all([t.close(), u.close()])
    expect((await pending).done).toBe(true)
  })
})
