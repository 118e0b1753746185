/**
 * A dial whose client certificate the server refuses fails; it does not resolve and then read a
 * clean EOF. With TLS 1.3 the client finishes before the server has checked its certificate, so
 * the dial waits for the session ticket that only a server that accepted it sends (Go and
 * OpenSSL alike); a refusal is the server's alert. `AlpnServer` sends the alert Go sends.
 */

import { once } from 'node:events'
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from 'node:net'
import type { SecureVersion, TLSSocket } from 'node:tls'
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { isGatewayUnreachable } from '../../src/alpn/dial.ts'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type AlpnServerEvents,
  dialViaGateway,
} from '../../src/alpn/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { readAll, until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

type Rejection = Parameters<AlpnServerEvents['rejected']>[0]

async function alpnServer(onSocket: (socket: TLSSocket) => void = (s) => s.pipe(s)) {
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture('bob') },
    closeGraceMs: 100,
    clock,
  })
  server.handle(ALPN_WAN_GOSSIP_PACKET, onSocket)
  server.handle(ALPN_WAN_GOSSIP_STREAM, onSocket)
  const rejected: Rejection[] = []
  server.on('rejected', (info) => rejected.push(info))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  return { server, gateway: `127.0.0.1:${port}`, port, rejected }
}

function dial(gateway: string, identity: string, maxVersion: SecureVersion) {
  return dialViaGateway({
    gateway,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_PACKET,
    tls: { ca: caPem(), ...tlsFixture(identity), maxVersion },
    handshakeTimeoutMs: 5_000,
    clock,
  })
}

const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const

describe('a refused client certificate fails the dial', () => {
  for (const version of VERSIONS) {
    for (const [identity, alert, code] of [
      ['other-server', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
      ['expired', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'CERT_HAS_EXPIRED'],
    ] as const) {
      it(`${version}, ${identity}: rejects with the server's alert as a remote TlsError`, async () => {
        const { gateway, rejected } = await alpnServer()
        const err = await dial(gateway, identity, version).catch((e) => e)
        expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
        expect(err.message).toMatch(/refused our client certificate/)
        expect(err.cause.code).toBe(alert)
        expect(isGatewayUnreachable(err)).toBe(false)
        await until(() => rejected.length === 1, 'the server to count the refusal')
        expect(rejected[0]).toMatchObject({
          reason: 'bad-client-cert',
          remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
          error: { code: 'WANFED_ERR_TLS', message: expect.stringContaining(code) },
        })
      })
    }

    it(`${version}: an accepted certificate resolves, and data flows at once`, async () => {
      const { gateway, rejected } = await alpnServer()
      const socket = await dial(gateway, 'client', version)
      cleanups.push(() => void socket.destroy())
      expect(socket.getProtocol()).toBe(version)
      socket.write('ping')
      const [echo] = (await once(socket, 'data')) as [Buffer]
      expect(echo.toString()).toBe('ping')
      expect(rejected).toEqual([])
      socket.destroy()
    })
  }

  for (const version of VERSIONS) {
    it(`${version}: AlpnServer answers a client with no certificate with Go's alert`, async () => {
      const { port, rejected } = await alpnServer()
      const client = tlsConnect({
        host: '127.0.0.1',
        port,
        ca: caPem(),
        servername: 'bob.server.dc1.consul',
        ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
        maxVersion: version,
      })
      cleanups.push(() => void client.destroy())
      const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException]
      // Go: certificate_required in TLS 1.3, bad_certificate before.
      expect(err.code).toBe(
        version === 'TLSv1.3'
          ? 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
          : 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
      )
      await until(() => rejected.length === 1, 'the server to count the refusal')
      expect(rejected[0]).toMatchObject({
        reason: 'bad-client-cert',
        remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      })
    })
  }

  it('TLSv1.3: a server that refuses silently (a plain Node server) fails the dial too', async () => {
    // Node's own rejectUnauthorized closes without an alert after the client has finished.
    const server = createTlsServer({
      ca: caPem(),
      ...tlsFixture('bob'),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
    })
    server.on('tlsClientError', () => {})
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
    const { port } = server.address() as { port: number }
    const err = await dial(`127.0.0.1:${port}`, 'other-server', 'TLSv1.3').catch((e) => e)
    // Not a refusal we can prove (no alert), but not a success either.
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: true })
    expect(err.message).toMatch(/before confirming our client certificate/)
  })
})

/**
 * A TCP relay in front of a plain Node TLS server that forwards the whole handshake but nothing
 * the server sends after the client's second flight: the TLS 1.3 session tickets (sent only once
 * the server has the client's Finished) never arrive, and neither does a close. A TLS 1.3 server
 * cannot be told to send no ticket from Node (SSL_OP_NO_TICKET only makes them stateful).
 */
async function ticketlessServer() {
  const tlsServer = createTlsServer({
    ca: caPem(),
    ...tlsFixture('bob'),
    requestCert: true,
    ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
  })
  const open = new Set<Socket>()
  const hold = (s: Socket) => {
    open.add(s)
    s.on('error', () => {})
    s.once('close', () => open.delete(s))
  }
  tlsServer.on('secureConnection', hold)
  tlsServer.on('tlsClientError', () => {})
  tlsServer.listen(0, '127.0.0.1')
  await once(tlsServer, 'listening')
  const upstream = (tlsServer.address() as AddressInfo).port
  const relay = createNetServer((client) => {
    hold(client)
    const server = netConnect({ host: '127.0.0.1', port: upstream })
    hold(server)
    let fromClient = 0
    let helloEnd = Number.POSITIVE_INFINITY
    let handshakeSent = false
    client.on('data', (chunk: Buffer) => {
      if (fromClient === 0 && chunk.length >= 5) helloEnd = 5 + chunk.readUInt16BE(3)
      fromClient += chunk.length
      // Bytes past the ClientHello record: the client has the server's whole flight.
      if (fromClient > helloEnd) handshakeSent = true
      server.write(chunk)
    })
    server.on('data', (chunk: Buffer) => {
      if (!handshakeSent) client.write(chunk)
    })
    client.once('close', () => server.destroy())
    server.once('close', () => client.destroy())
  })
  relay.listen(0, '127.0.0.1')
  await once(relay, 'listening')
  cleanups.push(async () => {
    for (const s of open) s.destroy()
    await Promise.all([
      new Promise<void>((r) => relay.close(() => r())),
      new Promise<void>((r) => tlsServer.close(() => r())),
    ])
  })
  return `127.0.0.1:${(relay.address() as AddressInfo).port}`
}

describe('a TLS 1.3 server that never confirms', () => {
  it('sending neither a ticket nor a close: the dial fails at handshakeTimeoutMs, not blamed on the gateway', async () => {
    const gateway = await ticketlessServer()
    const handshakeTimeoutMs = 300
    const started = Date.now()
    const err = await dialViaGateway({
      gateway,
      datacenter: 'dc1',
      node: 'bob',
      alpn: ALPN_WAN_GOSSIP_PACKET,
      tls: { ca: caPem(), ...tlsFixture('client') },
      handshakeTimeoutMs,
      clock,
    }).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    expect(err.message).toMatch(/did not confirm our client certificate within 300 ms/)
    // The far side answered the handshake: the gateway is reachable.
    expect(isGatewayUnreachable(err)).toBe(false)
    expect(Date.now() - started).toBeGreaterThanOrEqual(handshakeTimeoutMs - 5)
  })
})

describe('a server that accepts and closes at once is not a refusal', () => {
  it('TLSv1.3: a packet on a connection that server hung up at once is failed, not sent', async () => {
    const { gateway } = await alpnServer((s) => void s.end())
    const sender = new WanfedTransport({
      transport: new MemoryNetwork().createTransport('client.dc2'),
      datacenter: 'dc2',
      locator: new StaticGatewayLocator({ dc1: [gateway] }, { clock }),
      tls: { ca: caPem(), ...tlsFixture('client') },
      clock,
    })
    cleanups.push(() => sender.close())
    await sender.listen()
    const err = await sender
      .writeToAddress(Buffer.from('x'), { name: 'bob.dc1', addr: '' })
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET' })
    expect(sender.stats().packets).toMatchObject({ sent: 0, sendErrors: 1 })
  })

  it('TLSv1.2: the dial resolves and reads EOF', async () => {
    const { gateway, rejected } = await alpnServer((socket) => socket.end())
    const socket = await dial(gateway, 'client', 'TLSv1.2')
    cleanups.push(() => void socket.destroy())
    expect((await readAll(socket)).length).toBe(0)
    expect(rejected).toEqual([])
    socket.destroy()
  })

  for (const [how, close] of [
    ['ends', (s: TLSSocket) => void s.end()],
    ['destroys', (s: TLSSocket) => void s.destroy()],
  ] as const) {
    it(`TLSv1.3: one that ${how} the connection at once is never called a refusal`, async () => {
      const { gateway, rejected } = await alpnServer(close)
      const outcome = await dial(gateway, 'client', 'TLSv1.3').then(
        (socket) => {
          socket.destroy()
          return { code: 'resolved', gatewayFault: false }
        },
        (err) => ({ code: err.code, gatewayFault: isGatewayUnreachable(err) }),
      )
      // AlpnServer runs the handler a turn after the handshake, once Node has written the session
      // ticket, so even a handler that closes at once has confirmed our certificate: the dial
      // resolves. (A plain Node server closing from 'secureConnection' drops its tickets unsent.)
      expect(outcome).toEqual({ code: 'resolved', gatewayFault: false })
      expect(rejected).toEqual([])
    })
  }
})
