/**
 * A client that starts a TLS handshake and goes away must not keep its server socket and its
 * per-IP slot until the handshake timeout: churning connect, one byte, reset would tie up the
 * server's sockets for free.
 */

import { once } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_STREAM, AlpnServer } from '../../src/alpn/index.ts'
import { captureClientHello } from '../helpers/client-hello.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

async function start() {
  // A long handshake timeout: the release must come from the client leaving, not from the timer.
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture('bob') },
    handshakeTimeoutMs: 60_000,
    maxConnsPerClient: 1,
    clock,
  })
  server.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => socket.pipe(socket))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  const reasons: string[] = []
  server.on('rejected', (info) => reasons.push(info.reason))
  return { server, port, reasons }
}

async function raw(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  cleanups.push(() => void socket.destroy())
  await once(socket, 'connect')
  return socket
}

/** The per-IP slot is free again when a full client from the same IP is served. */
async function slotIsFree(port: number): Promise<void> {
  const client = tlsConnect({
    host: '127.0.0.1',
    port,
    ca: caPem(),
    servername: 'bob.server.dc1.consul',
    ALPNProtocols: [ALPN_WAN_GOSSIP_STREAM],
    ...tlsFixture('client'),
  })
  client.on('error', () => {})
  cleanups.push(() => void client.destroy())
  client.write('ping')
  const [echo] = (await once(client, 'data')) as [Buffer]
  expect(echo.toString()).toBe('ping')
  client.destroy()
}

const hello = await captureClientHello({
  servername: 'bob.server.dc1.consul',
  alpn: [ALPN_WAN_GOSSIP_STREAM],
})
const halfHello = () => hello.subarray(0, Math.floor(hello.length / 2))

describe('AlpnServer: a client that leaves mid-handshake is released at once', () => {
  for (const [what, bytes] of [
    ['one TLS byte', () => Buffer.from([0x16])],
    ['half a ClientHello', halfHello],
  ] as const) {
    for (const how of ['FIN', 'RST'] as const) {
      it(`${what}, then ${how}`, async () => {
        const { server, port, reasons } = await start()
        const socket = await raw(port)
        socket.write(bytes())
        await until(() => server.stats().pending === 1, 'the server to hold the connection')
        if (how === 'FIN') socket.end()
        else socket.resetAndDestroy()
        await until(() => server.stats().open === 0, 'the server to release the connection')
        expect(server.stats().pending).toBe(0)
        expect(reasons).toEqual(['tls-error'])
        await slotIsFree(port)
        expect(server.stats().rejected['conn-limit']).toBe(0)
      })
    }
  }
})
