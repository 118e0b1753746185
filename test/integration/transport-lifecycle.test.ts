import { createSocket } from 'node:dgram'
import { EventEmitter as NodeEmitter, once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM, AlpnServer } from '../../src/alpn/index.ts'
import { SocketError, WanfedError } from '../../src/errors.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import type { Packet } from '../../src/transport/types.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { readAll } from '../helpers/net.ts'

// listen() and close() on every class: a failed listen releases everything, listen after close is
// refused as closed, and a wrapped transport of any memberlist shape is adapted or refused by name.

const { cleanups } = leakGuard()
const tls = () => ({ ca: caPem(), ...tlsFixture('bob') })

async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  return { port: (server.address() as { port: number }).port, server }
}

describe('listen() after close() is refused as closed, on every class', () => {
  const closedError = { code: 'WANFED_ERR_CLOSED' }

  it('NetTransport, listened or never listened', async () => {
    const t = new NetTransport()
    await t.listen()
    await t.close()
    await expect(t.listen()).rejects.toMatchObject(closedError)
    const idle = new NetTransport()
    await idle.close()
    await expect(idle.listen()).rejects.toMatchObject(closedError)
  })

  it('MemoryTransport', async () => {
    const t = new MemoryNetwork().createTransport('a.dc1')
    await t.listen()
    await t.close()
    await expect(t.listen()).rejects.toMatchObject(closedError)
  })

  it('WanfedTransport', async () => {
    const t = new WanfedTransport({
      transport: new MemoryNetwork().createTransport(),
      datacenter: 'dc1',
      locator: new StaticGatewayLocator({}),
      tls: tls(),
    })
    await t.listen()
    await t.close()
    await expect(t.listen()).rejects.toMatchObject(closedError)
  })

  it('AlpnServer and MeshGateway', async () => {
    const server = new AlpnServer({ tls: tls() })
    await server.listen({ host: '127.0.0.1', port: 0 })
    await server.close()
    await expect(server.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject(closedError)
    const gw = new MeshGateway({ datacenter: 'dc1', servers: {} })
    await gw.listen({ host: '127.0.0.1', port: 0 })
    await gw.close()
    await expect(gw.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject(closedError)
  })
})

describe('a failed listen() releases what it took', () => {
  it('NetTransport: a bind failure is a local SocketError, and the transport is closed', async () => {
    const { port } = await takenPort()
    const t = new NetTransport({ bindPort: port })
    const err = await t.listen().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SocketError)
    expect(err).toBeInstanceOf(WanfedError)
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: false })
    expect(t.status).toBe('closed')
    expect(t.stats().bound).toEqual([])
    await t.close()
    await expect(t.listen()).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })
  })

  it('AlpnServer and MeshGateway: a bind failure is a local SocketError naming the address', async () => {
    const { port } = await takenPort()
    const server = new AlpnServer({ tls: tls() })
    const gw = new MeshGateway({ datacenter: 'dc1', servers: {} })
    for (const owner of [server, gw]) {
      const err = await owner.listen({ host: '127.0.0.1', port }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(SocketError)
      expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: false })
      expect((err as Error).message).toContain(`127.0.0.1:${port}`)
      await owner.close()
      await expect(owner.listen({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({
        code: 'WANFED_ERR_CLOSED',
      })
    }
  })

  it('WanfedTransport: its handlers leave the AlpnServer, so a fresh transport can take it', async () => {
    const { port } = await takenPort()
    const server = new AlpnServer({ tls: tls() })
    cleanups.push(() => server.close())
    const make = (bindPort: number) =>
      new WanfedTransport({
        transport: new NetTransport({ bindPort }),
        datacenter: 'dc1',
        locator: new StaticGatewayLocator({}),
        tls: tls(),
      }).attach(server)
    const failed = make(port)
    await expect(failed.listen()).rejects.toMatchObject({ code: 'WANFED_ERR_SOCKET' })
    expect(failed.status).toBe('closed')
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(false)
    expect(server.handles(ALPN_WAN_GOSSIP_STREAM)).toBe(false)
    const retry = make(0)
    await retry.listen()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    await failed.close()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    await retry.close()
  })
})

/**
 * A plain memberlist-shaped transport over real UDP and TCP on 127.0.0.1: the send, dial and
 * advertise methods and an emitter, nothing of our contract beyond that.
 */
async function plainTransport() {
  const emitter = new NodeEmitter()
  const udp = createSocket('udp4')
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r))
  const port = udp.address().port
  const tcp = createServer((s) => emitter.emit('stream', s))
  tcp.listen(port, '127.0.0.1')
  await once(tcp, 'listening')
  udp.on('message', (buf, rinfo) =>
    emitter.emit('packet', { buf, from: `${rinfo.address}:${rinfo.port}`, timestamp: 0 }),
  )
  let shutdowns = 0
  const plain = {
    on: emitter.on.bind(emitter),
    off: emitter.off.bind(emitter),
    finalAdvertiseAddr: () => ({ ip: '127.0.0.1', port }),
    writeToAddress(buf: Uint8Array, to: { addr: string }) {
      const [host, p] = to.addr.split(':') as [string, string]
      return new Promise<number>((resolve, reject) =>
        udp.send(buf, Number(p), host, (err) => (err ? reject(err) : resolve(performance.now()))),
      )
    },
    async dialAddressTimeout(to: { addr: string }) {
      const [host, p] = to.addr.split(':') as [string, string]
      const { connect } = await import('node:net')
      const s: Socket = connect(Number(p), host)
      await once(s, 'connect')
      return s
    },
    async shutdown() {
      shutdowns++
      udp.close()
      await new Promise<void>((r) => tcp.close(() => r()))
    },
  }
  return { plain, port, shutdowns: () => shutdowns }
}

describe('WanfedTransport wraps transports of any memberlist shape', () => {
  it('adapts a plain object with no capabilities, status or listen(), over real UDP and TCP', async () => {
    const { plain, port, shutdowns } = await plainTransport()
    const t = new WanfedTransport({
      transport: plain as never,
      datacenter: 'dc1',
      locator: new StaticGatewayLocator({}),
      tls: tls(),
    })
    cleanups.push(() => t.close())
    expect(t.capabilities.maxPacketSize).toBe(65_507)
    expect(t.inner).toBe(plain)
    const got = new Promise<Packet>((r) => t.once('packet', r))
    const accepted = new Promise<Socket>((r) => t.once('stream', (s) => r(s as Socket)))
    await t.listen()
    expect(t.finalAdvertiseAddr()).toEqual({ ip: '127.0.0.1', port })
    await t.writeToAddress(Buffer.from('hello'), { name: 'carol.dc1', addr: `127.0.0.1:${port}` })
    expect((await got).buf.toString()).toBe('hello')
    const stream = await t.dialAddressTimeout(
      { name: 'carol.dc1', addr: `127.0.0.1:${port}` },
      1_000,
    )
    stream.end('ping')
    const far = await accepted
    expect((await readAll(far)).toString()).toBe('ping')
    far.destroy()
    stream.destroy()
    expect(t.stats().inner.packets.sent).toBe(0)
    await t.close()
    expect(shutdowns()).toBe(1)
  })

  it('refuses, by name, one that lacks a method it needs', async () => {
    const { plain } = await plainTransport()
    cleanups.push(() => plain.shutdown())
    const { writeToAddress: _, ...noWrite } = plain
    expect(
      () =>
        new WanfedTransport({
          transport: noWrite as never,
          datacenter: 'dc1',
          locator: new StaticGatewayLocator({}),
          tls: tls(),
        }),
    ).toThrow(/lacks writeToAddress/)
    expect(
      () =>
        new WanfedTransport({
          transport: { on() {}, off() {} } as never,
          datacenter: 'dc1',
          locator: new StaticGatewayLocator({}),
          tls: tls(),
        }),
    ).toThrow(/lacks writeToAddress, dialAddressTimeout, finalAdvertiseAddr/)
  })
})
