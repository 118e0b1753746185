import { once } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type AlpnServerOptions,
  RPC_MAX_TYPE_VALUE,
} from '../../src/alpn/index.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { expectNoLeakedHandles, handleCounts, TrackingClock } from '../helpers/leaks.ts'
import { readAll } from '../helpers/net.ts'

const bob = () => tlsFixture('bob')

let server: AlpnServer
let port: number
let clock: TrackingClock
let baseline: Map<string, number>
const clients = new Set<Socket>()

async function start(options: Partial<AlpnServerOptions> = {}): Promise<void> {
  clock = new TrackingClock()
  server = new AlpnServer({ tls: { ca: caPem(), ...bob() }, clock, ...options })
  server.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => socket.pipe(socket))
  ;({ port } = await server.listen({ host: '127.0.0.1', port: 0 }))
}

function tlsClient(opts: {
  alpn?: string[]
  identity?: { cert: string; key: string } | null
  servername?: string
}): TLSSocket {
  const identity = opts.identity === undefined ? tlsFixture('client') : opts.identity
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    ca: caPem(),
    servername: opts.servername ?? 'bob.server.dc1.consul',
    ...(opts.alpn === undefined ? {} : { ALPNProtocols: opts.alpn }),
    ...(identity === null ? {} : identity),
  })
  socket.on('error', () => {})
  clients.add(socket)
  return socket
}

function rawClient(): Socket {
  const socket = netConnect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  clients.add(socket)
  return socket
}

async function nextRejection(): Promise<string> {
  const info = await new Promise<{ reason: string }>((resolve) => server.once('rejected', resolve))
  return info.reason
}

async function dispatched(n = 1): Promise<void> {
  for (let i = 0; i < 200 && (server.stats().byAlpn[ALPN_WAN_GOSSIP_STREAM] ?? 0) < n; i++)
    await sleep(5)
  expect(server.stats().byAlpn[ALPN_WAN_GOSSIP_STREAM]).toBe(n)
}

beforeEach(() => {
  baseline = handleCounts()
})

afterEach(async () => {
  for (const c of clients) c.destroy()
  clients.clear()
  await server.close()
  expect(server.status).toBe('closed')
  await expectNoLeakedHandles(baseline)
  expect(clock.liveTimers).toBe(0)
})

describe('AlpnServer: TLS dispatch', () => {
  it('hands a verified client to the handler of its ALPN protocol, payload intact', async () => {
    await start()
    let seen: { alpn: string; servername: string | undefined } | undefined
    server.handle(ALPN_WAN_GOSSIP_PACKET, (socket, info) => {
      seen = { alpn: info.alpn, servername: info.servername }
      socket.pipe(socket)
    })
    const client = tlsClient({ alpn: [ALPN_WAN_GOSSIP_PACKET] })
    await once(client, 'secureConnect')
    expect(client.alpnProtocol).toBe(ALPN_WAN_GOSSIP_PACKET)
    const payload = Buffer.alloc(256 * 1024, 7)
    client.end(payload)
    const echoed = await readAll(client)
    expect(echoed.equals(payload)).toBe(true)
    expect(seen).toEqual({ alpn: ALPN_WAN_GOSSIP_PACKET, servername: 'bob.server.dc1.consul' })
    expect(server.stats().byAlpn[ALPN_WAN_GOSSIP_PACKET]).toBe(1)
  })

  it('chooses among the registered protocols by the client preference', async () => {
    await start()
    const client = tlsClient({ alpn: ['h2', ALPN_WAN_GOSSIP_STREAM] })
    await once(client, 'secureConnect')
    expect(client.alpnProtocol).toBe(ALPN_WAN_GOSSIP_STREAM)
  })

  it('rejects a client without a certificate', async () => {
    await start()
    const rejected = nextRejection()
    tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM], identity: null })
    expect(await rejected).toBe('bad-client-cert')
    expect(server.stats().byAlpn[ALPN_WAN_GOSSIP_STREAM]).toBeUndefined()
  })

  it('rejects a client certificate signed by an unrelated CA', async () => {
    await start()
    const rejected = nextRejection()
    const client = tlsClient({
      alpn: [ALPN_WAN_GOSSIP_STREAM],
      identity: tlsFixture('other-server'),
    })
    expect(await rejected).toBe('bad-client-cert')
    // No byte may flow to the handler: the echo handler would answer.
    client.write('hello')
    const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException]
    // The alert Go sends for a certificate from an unknown CA, not a silent close.
    expect(err.code).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')
    if (!client.destroyed) await once(client, 'close')
    expect(server.stats().byAlpn[ALPN_WAN_GOSSIP_STREAM]).toBeUndefined()
  })

  it('rejects an expired client certificate', async () => {
    await start()
    const rejected = nextRejection()
    tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM], identity: tlsFixture('expired') })
    expect(await rejected).toBe('bad-client-cert')
  })

  it('fails the handshake for an unknown ALPN protocol', async () => {
    await start()
    const rejected = nextRejection()
    const client = tlsClient({ alpn: ['consul/rpc-multi'] })
    const [err] = (await once(client, 'error').catch((e) => [e])) as [NodeJS.ErrnoException]
    expect(err.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL')
    expect(await rejected).toBe('unknown-alpn')
  })

  it('closes a client that offers no ALPN at all', async () => {
    await start()
    const rejected = nextRejection()
    const client = tlsClient({})
    expect(await rejected).toBe('no-alpn')
    await once(client, 'close')
    expect(server.stats().rejected['no-alpn']).toBe(1)
  })

  it('refuses a handshake whose SNI does not name this server, when asked to check', async () => {
    await start({ serverNames: ['bob.server.dc1.consul', 'server.dc1.consul'] })
    const good = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(good, 'secureConnect')
    const rejected = nextRejection()
    const bad = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM], servername: 'bob.server.dc2.consul' })
    // The client does not verify the hostname here; only the server's SNI check can refuse it.
    bad.on('secureConnect', () => {})
    expect(await rejected).toBe('sni-mismatch')
  })
})

describe('AlpnServer: first-byte peek', () => {
  for (let typeByte = 0; typeByte <= RPC_MAX_TYPE_VALUE; typeByte++) {
    it(`hands type byte ${typeByte} to its legacy handler with every byte intact`, async () => {
      await start()
      const received = new Promise<Buffer>((resolve) => {
        server.handleLegacy(typeByte, (socket, info) => {
          expect(info.typeByte).toBe(typeByte)
          resolve(readAll(socket))
        })
      })
      const payload = Buffer.concat([Buffer.from([typeByte]), Buffer.alloc(70_000, 0xab)])
      const client = rawClient()
      client.end(payload)
      expect((await received).equals(payload)).toBe(true)
      expect(server.stats().byTypeByte[typeByte]).toBe(1)
    })
  }

  it('closes a legacy connection whose type byte has no handler', async () => {
    await start()
    const rejected = nextRejection()
    const client = rawClient()
    client.write(Buffer.from([4, 1, 2, 3]))
    expect(await rejected).toBe('unknown-type-byte')
    await once(client, 'close')
  })

  it('counts a connection that ends before its first byte', async () => {
    await start()
    const rejected = nextRejection()
    rawClient().end()
    expect(await rejected).toBe('closed-before-first-byte')
  })
})

describe('AlpnServer: limits and timeouts', () => {
  it('closes a client that sends nothing at the handshake timeout, while serving others', async () => {
    await start({ handshakeTimeoutMs: 300 })
    const silent = rawClient()
    await once(silent, 'connect')
    const started = Date.now()
    const rejected = nextRejection()
    // Meanwhile a good client is served at once.
    const good = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(good, 'secureConnect')
    good.write('ping')
    const [echo] = (await once(good, 'data')) as [Buffer]
    expect(echo.toString()).toBe('ping')
    expect(await rejected).toBe('handshake-timeout')
    await once(silent, 'close')
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })

  it('times out a client that stalls in the middle of its handshake', async () => {
    await start({ handshakeTimeoutMs: 300 })
    const rejected = nextRejection()
    const client = rawClient()
    // The first bytes of a TLS record header, then silence.
    client.write(Buffer.from([0x16, 0x03, 0x01]))
    expect(await rejected).toBe('handshake-timeout')
    expect(server.stats().rejected['handshake-timeout']).toBe(1)
  })

  it('refuses connections over the per-IP limit and counts them', async () => {
    await start({ maxConnsPerClient: 2 })
    const a = rawClient()
    const b = rawClient()
    await Promise.all([once(a, 'connect'), once(b, 'connect')])
    const rejected = nextRejection()
    const c = rawClient()
    expect(await rejected).toBe('conn-limit')
    await once(c, 'close')
    expect(server.stats().rejected['conn-limit']).toBe(1)
    // Once one closes, a new connection fits again.
    a.destroy()
    // The server must have seen the close before a new connection fits under the limit.
    for (let i = 0; i < 400 && server.stats().open > 1; i++) await sleep(5)
    const d = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(d, 'secureConnect')
  })
})

describe('AlpnServer: gateways exempt from the per-IP limit', () => {
  it('lets listed addresses (the local gateways) past maxConnsPerClient', async () => {
    await start({ maxConnsPerClient: 1, unlimitedAddresses: ['127.0.0.1'] })
    const a = rawClient()
    const b = rawClient()
    await Promise.all([once(a, 'connect'), once(b, 'connect')])
    const c = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(c, 'secureConnect')
    expect(server.stats().rejected['conn-limit']).toBe(0)
    expect(
      () => new AlpnServer({ tls: { ca: caPem(), ...bob() }, unlimitedAddresses: ['gw'] }),
    ).toThrow(/not an IP/)
  })
})

describe('AlpnServer: lifecycle', () => {
  it('close() stops accepting and lets open connections finish within the grace period', async () => {
    await start({ closeGraceMs: 2_000 })
    const client = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(client, 'secureConnect')
    // TLS 1.3 clients finish first; close() drops connections not yet dispatched.
    await dispatched()
    const closing = server.close()
    expect(server.status).toBe('closing')
    // Still served during the grace period.
    client.write('late')
    const [echo] = (await once(client, 'data')) as [Buffer]
    expect(echo.toString()).toBe('late')
    client.end()
    await closing
    expect(server.status).toBe('closed')
    await expect(server.close()).resolves.toBeUndefined()
  })

  it('close() destroys connections still open after the grace period', async () => {
    await start({ closeGraceMs: 100 })
    const client = tlsClient({ alpn: [ALPN_WAN_GOSSIP_STREAM] })
    await once(client, 'secureConnect')
    await dispatched()
    const closed = once(client, 'close')
    await server.close()
    await closed
  })

  it('emits close exactly once and refuses to listen again', async () => {
    await start()
    let closes = 0
    server.on('close', () => closes++)
    await Promise.all([server.close(), server.close()])
    expect(closes).toBe(1)
    await expect(server.listen()).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })
  })

  it('validates its options', () => {
    clock = new TrackingClock()
    server = new AlpnServer({ tls: { ca: caPem(), ...bob() } })
    expect(() => new AlpnServer({ tls: { ca: caPem(), ...bob() }, handshakeTimeoutMs: 0 })).toThrow(
      /handshakeTimeoutMs/,
    )
    expect(() => new AlpnServer({ tls: { ca: caPem(), ...bob() }, maxConnsPerClient: -1 })).toThrow(
      /maxConnsPerClient/,
    )
    expect(() => server.handle('', () => {})).toThrow(/ALPN/)
    expect(() => server.handleLegacy(10, () => {})).toThrow(/0\.\.9/)
  })
})
