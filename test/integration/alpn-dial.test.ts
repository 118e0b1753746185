import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { createServer as createTlsServer } from 'node:tls'
import { describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type DialViaGatewayOptions,
  dialViaGateway,
  TlsSessionCache,
} from '../../src/alpn/index.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { handleCounts, leakGuard } from '../helpers/leaks.ts'
import { closedPort, silentServer } from '../helpers/net.ts'

// The dial tests talk to an AlpnServer directly: with no gateway in between, the server's own
// address stands in for the gateway's. The SNI and ALPN the server sees are exactly what the
// gateway would route on.

const { clock, cleanups } = leakGuard()

async function serverWith(
  identity: string,
  alpns = [ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM],
) {
  const seen: { servername: string | undefined; alpn: string }[] = []
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture(identity) },
    closeGraceMs: 100,
  })
  for (const alpn of alpns) {
    server.handle(alpn, (socket, info) => {
      seen.push({ servername: info.servername, alpn: info.alpn })
      socket.pipe(socket)
    })
  }
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  return { server, gateway: `127.0.0.1:${port}`, seen }
}

function options(
  gateway: string,
  over: Partial<DialViaGatewayOptions> = {},
): DialViaGatewayOptions {
  return {
    gateway,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_PACKET,
    tls: { ca: caPem(), ...tlsFixture('client') },
    clock,
    ...over,
  }
}

describe('dialViaGateway', () => {
  it('connects with exactly the SNI and ALPN asked for, and verifies the server', async () => {
    const { gateway, seen } = await serverWith('bob')
    const socket = await dialViaGateway(options(gateway))
    cleanups.push(() => void socket.destroy())
    expect(socket.alpnProtocol).toBe(ALPN_WAN_GOSSIP_PACKET)
    expect(socket.authorized).toBe(true)
    socket.write('frame')
    const [echo] = (await once(socket, 'data')) as [Buffer]
    expect(echo.toString()).toBe('frame')
    expect(seen).toEqual([{ servername: 'bob.server.dc1.consul', alpn: ALPN_WAN_GOSSIP_PACKET }])
  })

  it('uses server.<dc>.<domain> for "any server" and honours a custom domain', async () => {
    const { gateway, seen } = await serverWith('bob')
    const any = await dialViaGateway(options(gateway, { node: '*', domain: 'consul.' }))
    // With TLS 1.3 the client finishes before the server has dispatched the connection.
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(5)
    any.destroy()
    expect(seen[0]?.servername).toBe('server.dc1.consul')
  })

  it('fails with a hostname error when the server certificate lacks the node SAN', async () => {
    const { gateway } = await serverWith('alice')
    const err = await dialViaGateway(options(gateway)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    expect(err.cause.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('fails with a hostname error when the SNI names another datacenter', async () => {
    const { gateway } = await serverWith('bob')
    const err = await dialViaGateway(options(gateway, { datacenter: 'dc2' })).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(err.cause.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('fails when the server certificate comes from an unrelated CA', async () => {
    const { gateway } = await serverWith('other-server')
    const err = await dialViaGateway(options(gateway)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS' })
  })

  it('fails with ALPN mismatch when the server does not speak the protocol', async () => {
    const { gateway } = await serverWith('bob', [ALPN_WAN_GOSSIP_STREAM])
    const err = await dialViaGateway(options(gateway)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_ALPN_MISMATCH', remote: true })
  })

  it('fails with ALPN mismatch when the server negotiates no ALPN at all', async () => {
    const server = createTlsServer({ ca: caPem(), ...tlsFixture('bob') }, (s) => s.end())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
    const { port } = server.address() as { port: number }
    const err = await dialViaGateway(options(`127.0.0.1:${port}`)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_ALPN_MISMATCH' })
  })

  it('fails with a remote socket error when nothing listens', async () => {
    const port = await closedPort()
    const err = await dialViaGateway(options(`127.0.0.1:${port}`)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: true })
    expect(err.cause.code).toBe('ECONNREFUSED')
  })

  it('times out a peer that accepts and never answers the handshake', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const started = Date.now()
    const err = await dialViaGateway(
      options(`127.0.0.1:${silent.port}`, { handshakeTimeoutMs: 200 }),
    ).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    expect(Date.now() - started).toBeGreaterThanOrEqual(180)
    // The peer sees the connection go away: nothing left half-open on our side.
    for (let i = 0; i < 50 && silent.sockets.size > 0; i++) await sleep(10)
    expect(silent.sockets.size).toBe(0)
  })

  it('rejects with AbortError when aborted mid-handshake, destroying the socket', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const ac = new AbortController()
    const pending = dialViaGateway(options(`127.0.0.1:${silent.port}`, { signal: ac.signal }))
    await sleep(50)
    ac.abort()
    const err = await pending.catch((e) => e)
    expect(err).toMatchObject({ name: 'AbortError', code: 'WANFED_ERR_ABORTED' })
  })

  it('maps AbortSignal.timeout to a TimeoutError', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const err = await dialViaGateway(
      options(`127.0.0.1:${silent.port}`, { signal: AbortSignal.timeout(100) }),
    ).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TIMEOUT' })
  })

  it('opens no socket when the signal is already aborted or the arguments are bad', async () => {
    const before = handleCounts()
    const ac = new AbortController()
    ac.abort()
    await expect(
      dialViaGateway(options('127.0.0.1:1', { signal: ac.signal })),
    ).rejects.toMatchObject({
      name: 'AbortError',
    })
    await expect(dialViaGateway(options('not-an-address'))).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_ARG',
    })
    await expect(dialViaGateway(options('127.0.0.1:1', { alpn: '' }))).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_ARG',
    })
    await expect(dialViaGateway(options('127.0.0.1:1', { node: 'a.b' }))).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_ARG',
    })
    await expect(
      dialViaGateway(options('127.0.0.1:1', { connectTimeoutMs: 0 })),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_ARG',
    })
    expect(handleCounts()).toEqual(before)
  })

  it('resumes TLS sessions through a session cache', async () => {
    const { gateway } = await serverWith('bob')
    const cache = new TlsSessionCache(8)
    const first = await dialViaGateway(
      options(gateway, { sessionCache: cache, alpn: ALPN_WAN_GOSSIP_STREAM }),
    )
    // TLS 1.3 tickets arrive after the handshake; a round trip makes sure they were read.
    first.write('x')
    await once(first, 'data')
    for (let i = 0; i < 50 && cache.size === 0; i++) await sleep(10)
    expect(cache.size).toBe(1)
    first.destroy()
    const second = await dialViaGateway(
      options(gateway, { sessionCache: cache, alpn: ALPN_WAN_GOSSIP_STREAM }),
    )
    expect(second.isSessionReused()).toBe(true)
    second.destroy()
  })
})
