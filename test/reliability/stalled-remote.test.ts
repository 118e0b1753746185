import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { isGatewayUnreachable } from '../../src/alpn/dial.ts'
import {
  ALPN_WAN_GOSSIP_PACKET,
  dialViaGateway,
  encodeFrame,
  encodeFrameHeader,
} from '../../src/alpn/index.ts'
import { HandshakeTimeoutError } from '../../src/errors.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import type { Packet } from '../../src/transport/types.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { until } from '../helpers/net.ts'
import { dc1Sender, dc2Receiver, nodeContext } from '../helpers/wanfed-node.ts'

// Remotes that stall part-way, on loopback: a far end that sends half a ServerHello and then
// nothing, directly or behind a MeshGateway, and a client that sends a good frame, then half of
// the next one, and then nothing. Timeouts fire, errors are typed, nothing is delivered from the
// broken frame, and every socket and timer is released (the leak guard checks after each test).

const ctx = nodeContext()
const { clock, cleanups } = ctx

/**
 * A TCP server that reads a ClientHello and answers with the first half of a TLS handshake record
 * (a ServerHello announced as 100 bytes, 40 of them sent), then says nothing more.
 */
async function halfServerHello(): Promise<{ address: string; accepted: () => number }> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.once('data', () => {
      const record = Buffer.alloc(5 + 40)
      record.set([0x16, 0x03, 0x03, 0x00, 100, 0x02, 0x00, 0x00, 96])
      s.write(record)
      // Keep reading, so the dialler's close is seen and the socket released.
      s.resume()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  const { port } = server.address() as { port: number }
  return { address: `127.0.0.1:${port}`, accepted: () => accepted }
}

const tls = () => ({ ca: caPem(), ...tlsFixture('bob') })

describe('a remote that stalls mid-handshake', () => {
  it('dialViaGateway: half a ServerHello, then silence, fails at the handshake timeout, not blamed on the gateway', async () => {
    const far = await halfServerHello()
    const started = Date.now()
    const err = await dialViaGateway({
      gateway: far.address,
      datacenter: 'dc2',
      node: 'betty',
      alpn: ALPN_WAN_GOSSIP_PACKET,
      tls: tls(),
      handshakeTimeoutMs: 300,
      clock,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HandshakeTimeoutError)
    expect(err).toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    // It answered (40 bytes), so it is not the silent gateway the locator should avoid.
    expect(isGatewayUnreachable(err)).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(far.accepted()).toBe(1)
  })

  it('WanfedTransport behind a MeshGateway: packet and stream dials to a stalled remote fail typed, and the splices are released', async () => {
    const far = await halfServerHello()
    const gw = new MeshGateway({
      datacenter: 'dc1',
      servers: {},
      // The far end answered a byte, so the gateway splices it: the node's own timeout decides.
      locator: new StaticGatewayLocator({ dc2: [far.address] }, { clock }),
      clock,
    })
    const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => gw.close())
    const locator = new StaticGatewayLocator({ dc2: [`127.0.0.1:${port}`] }, { clock })
    const bob = await dc1Sender(ctx, locator, { transport: { handshakeTimeoutMs: 300 } })
    await expect(
      bob.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    await expect(
      bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    // Not the gateway's fault: the locator keeps it, and no retry went elsewhere.
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(0)
    expect(far.accepted()).toBe(2)
    expect(bob.transport.stats().pool).toMatchObject({ open: 0, dialFailures: 1 })
    await until(() => gw.stats().open === 0, 'the gateway to release both splices')
    expect(gw.stats().routes['remote-dc']).toMatchObject({ connections: 2, active: 0 })
  })
})

describe('a client that stalls mid-frame after a good handshake', () => {
  it('is dropped at the frame body timeout; the frame before is delivered, nothing of the broken one, and others are still served', async () => {
    const betty = await dc2Receiver(ctx, {
      transport: { frameBodyTimeoutMs: 200 },
    })
    const got: Packet[] = []
    betty.transport.on('packet', (p) => got.push(p))
    const errors: Error[] = []
    betty.transport.on('error', (e) => errors.push(e))
    const socket = await dialViaGateway({
      gateway: betty.serverAddr,
      datacenter: 'dc2',
      node: 'betty',
      alpn: ALPN_WAN_GOSSIP_PACKET,
      tls: tls(),
      clock,
    })
    cleanups.push(() => void socket.destroy())
    socket.on('error', () => {})
    const ended = new Promise<void>((resolve) => {
      socket.once('end', () => resolve())
      socket.once('close', () => resolve())
      socket.resume()
    })
    socket.write(
      Buffer.concat([
        encodeFrame(Buffer.from('whole')),
        encodeFrameHeader(100),
        Buffer.from('half'),
      ]),
    )
    await ended
    expect(got.map((p) => p.buf.toString())).toEqual(['whole'])
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['WANFED_ERR_FRAME_STALLED'])
    expect(betty.transport.stats().protocolErrors).toEqual({ WANFED_ERR_FRAME_STALLED: 1 })
    await until(() => betty.transport.stats().inbound.packetConns === 0, 'the connection released')
    // The server keeps serving: a legitimate sender right after.
    const bob = await dc1Sender(
      ctx,
      new StaticGatewayLocator({ dc2: [betty.serverAddr] }, { clock }),
    )
    await bob.transport.writeToAddress(Buffer.from('legit'), { name: 'betty.dc2', addr: '' })
    await until(() => got.length === 2, 'the legitimate packet')
    expect(got[1]?.buf.toString()).toBe('legit')
  })
})
