import { randomBytes } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { isGatewayUnreachable } from '../../src/alpn/dial.ts'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type DialViaGatewayOptions,
  dialViaGateway,
} from '../../src/alpn/index.ts'
import {
  type GatewayRejectReason,
  MeshGateway,
  type MeshGatewayOptions,
  parseClientHello,
} from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import type { GatewayLocator } from '../../src/locator/types.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { captureClientHello, refragment } from '../helpers/client-hello.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { handleCounts, leakGuard } from '../helpers/leaks.ts'
import { closedPort, readAll, silentServer, until } from '../helpers/net.ts'
import { wanfedNode } from '../helpers/wanfed-node.ts'

const { clock, cleanups } = leakGuard()
const sockets = new Set<Socket>()

afterEach(async () => {
  for (const s of sockets) s.destroy()
  sockets.clear()
})

function track<T extends Socket>(s: T): T {
  s.on('error', () => {})
  sockets.add(s)
  return s
}

interface Seen {
  server: string
  servername: string | undefined
  alpn: string
}

/** An AlpnServer with a fixture identity: the stream protocol echoes, the packet one too. */
async function server(identity: 'bob' | 'betty' | 'alice' | 'bonnie', seen: Seen[] = []) {
  const s = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture(identity) }, closeGraceMs: 100 })
  for (const alpn of [ALPN_WAN_GOSSIP_STREAM, ALPN_WAN_GOSSIP_PACKET]) {
    s.handle(alpn, (socket, info) => {
      seen.push({ server: identity, servername: info.servername, alpn: info.alpn })
      socket.on('error', () => {})
      socket.pipe(socket)
    })
  }
  const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await s.close()
  }
  cleanups.push(close)
  return { server: s, address: `127.0.0.1:${port}`, seen, close }
}

async function gateway(options: Partial<MeshGatewayOptions> & Pick<MeshGatewayOptions, 'servers'>) {
  const gw = new MeshGateway({ datacenter: 'dc1', clock, ...options })
  const errors: Error[] = []
  gw.on('error', (e) => errors.push(e))
  const rejected: GatewayRejectReason[] = []
  gw.on('rejected', (info) => rejected.push(info.reason))
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(async () => {
    await gw.close()
    expect(errors).toEqual([])
  })
  return { gw, address: `127.0.0.1:${port}`, port, rejected }
}

function dialOptions(gw: string, over: Partial<DialViaGatewayOptions> = {}): DialViaGatewayOptions {
  return {
    gateway: gw,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls: { ca: caPem(), ...tlsFixture('client') },
    handshakeTimeoutMs: 5_000,
    ...over,
  }
}

async function dial(gw: string, over: Partial<DialViaGatewayOptions> = {}): Promise<TLSSocket> {
  return track(await dialViaGateway(dialOptions(gw, over)))
}

async function echo(socket: Socket, text: string): Promise<string> {
  socket.write(text)
  let got = ''
  while (got.length < text.length) {
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    got += chunk.toString()
  }
  return got
}

/** Resolves once the socket closed (or at once if it already has); errors do not reject. */
async function closed(s: Socket): Promise<void> {
  if (s.closed) return
  await new Promise<void>((resolve) => s.once('close', () => resolve()))
}

/**
 * Resolves once the peer's FIN or a close arrived. A TLS socket from dialViaGateway keeps its
 * write side open after the peer's FIN, so 'end' is what the client sees of a gateway hanging up.
 */
async function hungUp(s: Socket): Promise<void> {
  if (s.readableEnded || s.closed) return
  await new Promise<void>((resolve) => {
    s.once('end', () => resolve())
    s.once('close', () => resolve())
  })
}

/**
 * A plain TCP client. By default it discards what it reads and closes when the gateway does; with
 * `halfOpen` it keeps its write side open after a FIN and leaves reading to the test.
 */
function raw(port: number, halfOpen = false): Socket {
  const s = track(netConnect({ host: '127.0.0.1', port, noDelay: true, allowHalfOpen: halfOpen }))
  if (!halfOpen) s.resume()
  return s
}

/** A plain TCP upstream that records everything, for byte-level splice checks. */
async function rawUpstream(onConn: (s: Socket) => void) {
  const conns = new Set<Socket>()
  const srv: Server = createServer({ allowHalfOpen: true }, (s) => {
    conns.add(s)
    s.on('error', () => {})
    s.on('close', () => conns.delete(s))
    onConn(s)
  })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address() as { port: number }
  cleanups.push(async () => {
    for (const s of conns) s.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
  })
  return { address: `127.0.0.1:${port}`, conns }
}

let bobHello: Buffer

beforeAll(async () => {
  bobHello = await captureClientHello({
    servername: 'bob.server.dc1.consul',
    alpn: [ALPN_WAN_GOSSIP_STREAM],
  })
})

describe('MeshGateway routing', () => {
  it('routes <node>.server.<localdc> to that server; SNI and ALPN arrive as the client sent them', async () => {
    const seen: Seen[] = []
    const bob = await server('bob', seen)
    const alice = await server('alice', seen)
    const { gw, address } = await gateway({ servers: { bob: bob.address, alice: alice.address } })
    for (const alpn of [ALPN_WAN_GOSSIP_STREAM, ALPN_WAN_GOSSIP_PACKET]) {
      const socket = await dial(address, { alpn })
      expect(socket.alpnProtocol).toBe(alpn)
      expect(socket.authorized).toBe(true)
      expect(await echo(socket, 'ping')).toBe('ping')
      socket.destroy()
    }
    expect(seen).toEqual([
      { server: 'bob', servername: 'bob.server.dc1.consul', alpn: ALPN_WAN_GOSSIP_STREAM },
      { server: 'bob', servername: 'bob.server.dc1.consul', alpn: ALPN_WAN_GOSSIP_PACKET },
    ])
    await until(() => gw.stats().open === 0, 'connections to close')
    const stats = gw.stats()
    expect(stats.routes['local-server']).toMatchObject({ connections: 2, active: 0 })
    expect(stats.targets['bob.server.dc1.consul']).toMatchObject({
      kind: 'local-server',
      connections: 2,
    })
    expect(stats.targets['bob.server.dc1.consul']?.bytesIn).toBeGreaterThan(8)
    expect(stats.targets['bob.server.dc1.consul']?.bytesOut).toBeGreaterThan(8)
  })

  it('matches names case-insensitively', async () => {
    const seen: Seen[] = []
    const bob = await server('bob', seen)
    const { address } = await gateway({ servers: { Bob: bob.address } })
    const socket = await dial(address, { servername: 'BOB.Server.DC1.Consul' })
    expect(await echo(socket, 'x')).toBe('x')
    expect(seen[0]?.servername).toBe('BOB.Server.DC1.Consul')
  })

  it('spreads server.<localdc> round-robin and fails over when a server is down', async () => {
    const seen: Seen[] = []
    const bob = await server('bob', seen)
    const alice = await server('alice', seen)
    const { gw, address } = await gateway({ servers: { bob: bob.address, alice: alice.address } })
    for (let i = 0; i < 4; i++) {
      const s = await dial(address, { node: '*' })
      expect(await echo(s, `n${i}`)).toBe(`n${i}`)
      s.destroy()
    }
    expect(seen.map((s) => s.server).sort()).toEqual(['alice', 'alice', 'bob', 'bob'])
    expect(seen.every((s) => s.servername === 'server.dc1.consul')).toBe(true)
    expect(seen[0]?.server).not.toBe(seen[1]?.server)

    await alice.close()
    seen.length = 0
    for (let i = 0; i < 4; i++) {
      const s = await dial(address, { node: '*' })
      expect(await echo(s, 'after')).toBe('after')
      s.destroy()
    }
    expect(seen.map((s) => s.server)).toEqual(['bob', 'bob', 'bob', 'bob'])
    expect(gw.stats().routes['local-any']).toMatchObject({ connections: 8, connectFailures: 2 })
    expect(gw.stats().targets['server.dc1.consul']).toMatchObject({ connectFailures: 2 })
  })

  it('routes another DC through its gateway (two hops), by node and to any server', async () => {
    const seen: Seen[] = []
    const betty = await server('betty', seen)
    const dc2 = await gateway({ datacenter: 'dc2', servers: { betty: betty.address } })
    const dc1 = await gateway({
      servers: {},
      locator: new StaticGatewayLocator({ dc2: [dc2.address] }, { clock }),
    })
    const byNode = await dial(dc1.address, { datacenter: 'dc2', node: 'betty' })
    expect(await echo(byNode, 'over two hops')).toBe('over two hops')
    const any = await dial(dc1.address, {
      datacenter: 'dc2',
      node: '*',
      alpn: ALPN_WAN_GOSSIP_PACKET,
    })
    expect(await echo(any, 'any')).toBe('any')
    expect(seen).toEqual([
      { server: 'betty', servername: 'betty.server.dc2.consul', alpn: ALPN_WAN_GOSSIP_STREAM },
      { server: 'betty', servername: 'server.dc2.consul', alpn: ALPN_WAN_GOSSIP_PACKET },
    ])
    expect(dc1.gw.stats().routes['remote-dc']).toMatchObject({ connections: 2, active: 2 })
    expect(dc1.gw.stats().targets['server.dc2.consul']).toMatchObject({ kind: 'remote-dc' })
    expect(dc2.gw.stats().routes['local-server'].connections).toBe(1)
    expect(dc2.gw.stats().routes['local-any'].connections).toBe(1)
  })

  it('fails over to another remote gateway when the first refuses, and reports both to the locator', async () => {
    const seen: Seen[] = []
    const betty = await server('betty', seen)
    const dc2 = await gateway({ datacenter: 'dc2', servers: { betty: betty.address } })
    const dead = `127.0.0.1:${await closedPort()}`
    // random() = 0 picks the first healthy gateway: the dead one, until it is reported.
    const locator = new StaticGatewayLocator(
      { dc2: [dead, dc2.address] },
      { clock, random: () => 0 },
    )
    const reports: string[] = []
    const spy: GatewayLocator = {
      pickGateway: (dc) => locator.pickGateway(dc),
      reportFailure: (dc, g, err) => {
        reports.push(
          `fail ${dc} ${g === dead ? 'dead' : 'live'} ${(err as { code?: string }).code}`,
        )
        locator.reportFailure(dc, g, err)
      },
      reportSuccess: (dc, g) => {
        reports.push(`ok ${dc} ${g === dead ? 'dead' : 'live'}`)
        locator.reportSuccess(dc, g)
      },
    }
    const dc1 = await gateway({ servers: {}, locator: spy })
    const s = await dial(dc1.address, { datacenter: 'dc2', node: 'betty' })
    expect(await echo(s, 'failover')).toBe('failover')
    expect(reports).toEqual(['fail dc2 dead WANFED_ERR_SOCKET', 'ok dc2 live'])
    expect(locator.health('dc2').find((h) => h.gateway === dead)?.consecutiveFailures).toBe(1)
    expect(dc1.gw.stats().routes['remote-dc']).toMatchObject({ connections: 1, connectFailures: 1 })
  })

  it('gives up after maxConnectAttempts distinct gateways and counts upstream-failed', async () => {
    const deads = [
      `127.0.0.1:${await closedPort()}`,
      `127.0.0.1:${await closedPort()}`,
      `127.0.0.1:${await closedPort()}`,
    ]
    const locator = new StaticGatewayLocator({ dc2: deads }, { clock })
    const dc1 = await gateway({ servers: {}, locator, maxConnectAttempts: 2 })
    const err = await dialViaGateway(dialOptions(dc1.address, { datacenter: 'dc2' })).catch(
      (e) => e,
    )
    // The gateway read the hello, so it answers with internal_error: the dialer does not blame it.
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(isGatewayUnreachable(err)).toBe(false)
    await until(() => dc1.rejected.length === 1, 'the rejection')
    expect(dc1.rejected).toEqual(['upstream-failed'])
    expect(dc1.gw.stats().routes['remote-dc'].connectFailures).toBe(2)
    expect(locator.health('dc2').filter((h) => h.consecutiveFailures > 0)).toHaveLength(2)
  })

  it('counts upstream-failed when a local server refuses', async () => {
    const { gw, address, rejected } = await gateway({
      servers: { bob: `127.0.0.1:${await closedPort()}` },
    })
    const err = await dialViaGateway(dialOptions(address)).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(String(err.message)).toMatch(/internal error/i)
    expect(isGatewayUnreachable(err)).toBe(false)
    await until(() => rejected.length === 1, 'the rejection')
    expect(rejected).toEqual(['upstream-failed'])
    expect(gw.stats().targets['bob.server.dc1.consul']?.connectFailures).toBe(1)
  })

  it('publishes diagnostics for spliced, closed and rejected connections', async () => {
    const events: string[] = []
    const on = (name: string) => (msg: unknown) =>
      events.push(
        `${name}:${(msg as { key?: string; reason?: string }).key ?? (msg as { reason: string }).reason}`,
      )
    const handlers = {
      'wanfed:gateway:spliced': on('spliced'),
      'wanfed:gateway:closed': on('closed'),
      'wanfed:gateway:rejected': on('rejected'),
    }
    for (const [name, fn] of Object.entries(handlers)) subscribe(name, fn)
    try {
      const bob = await server('bob')
      const { address, gw } = await gateway({ servers: { bob: bob.address } })
      const s = await dial(address)
      expect(await echo(s, 'd')).toBe('d')
      s.destroy()
      await until(() => gw.stats().open === 0, 'close')
      const junk = raw(gw.address()?.port as number)
      junk.end('junk')
      await closed(junk)
      await until(() => events.length === 3, 'three events')
      expect(events).toEqual([
        'spliced:bob.server.dc1.consul',
        'closed:bob.server.dc1.consul',
        'rejected:not-tls',
      ])
    } finally {
      for (const [name, fn] of Object.entries(handlers)) unsubscribe(name, fn)
    }
  })
})

describe('MeshGateway splicing', () => {
  it('carries 8 MiB each way intact, with backpressure', async () => {
    const bob = await server('bob')
    const { gw, address } = await gateway({ servers: { bob: bob.address } })
    const socket = await dial(address)
    const payload = randomBytes(8 * 1024 * 1024)
    const received = readAll(socket)
    socket.end(payload)
    const back = await received
    expect(back.length).toBe(payload.length)
    expect(back.equals(payload)).toBe(true)
    await until(() => gw.stats().open === 0, 'the connection to close')
    const t = gw.stats().targets['bob.server.dc1.consul']
    expect(t?.bytesIn).toBeGreaterThan(payload.length)
    expect(t?.bytesOut).toBeGreaterThan(payload.length)
  })

  it('half-close, client first: the server still answers after the client FIN', async () => {
    let serverGot = ''
    const up = await rawUpstream((s) => {
      s.on('data', (d: Buffer) => {
        serverGot += d.toString('latin1')
      })
      s.on('end', () => s.end('after your FIN'))
    })
    const { gw, port } = await gateway({ servers: { bob: up.address } })
    const c = raw(port, true)
    await once(c, 'connect')
    c.write(bobHello)
    c.end('payload')
    const reply = await readAll(c)
    expect(reply.toString()).toBe('after your FIN')
    expect(serverGot).toBe(`${bobHello.toString('latin1')}payload`)
    await closed(c)
    await until(() => gw.stats().open === 0 && up.conns.size === 0, 'both sides to close')
  })

  it('half-close, server first: the client still sends after the server FIN', async () => {
    let serverGot = ''
    let serverEnded = false
    const up = await rawUpstream((s) => {
      s.end('bye')
      s.on('data', (d: Buffer) => {
        serverGot += d.toString('latin1')
      })
      s.on('end', () => {
        serverEnded = true
      })
    })
    const { gw, port } = await gateway({ servers: { bob: up.address } })
    const c = raw(port, true)
    c.write(bobHello)
    const reply = await readAll(c)
    expect(reply.toString()).toBe('bye')
    c.end('late data')
    await until(() => serverEnded, 'the server to see the FIN')
    expect(serverGot).toBe(`${bobHello.toString('latin1')}late data`)
    await closed(c)
    await until(() => gw.stats().open === 0, 'the connection to close')
  })

  it('a reset on one side destroys the other', async () => {
    const up = await rawUpstream(() => {})
    const { gw, port } = await gateway({ servers: { bob: up.address } })
    const c = raw(port)
    c.write(bobHello)
    await until(() => up.conns.size === 1, 'the upstream connection')
    const [upstream] = [...up.conns] as [Socket]
    upstream.resetAndDestroy()
    await closed(c)
    await until(() => gw.stats().open === 0, 'the gateway to forget it')
  })

  it('routes a hello trickled one byte at a time and split over several TLS records', async () => {
    const seen: Seen[] = []
    const bob = await server('bob', seen)
    const { gw, address, port } = await gateway({ servers: { bob: bob.address } })
    // A relay in front of the gateway rewrites the client's hello into 40-byte records and sends
    // it one byte per write, then passes everything else through untouched.
    const relayConns = new Set<Socket>()
    let relayedChunks = 0
    const relay = createServer((c) => {
      relayConns.add(c)
      c.on('error', () => {})
      c.pause()
      const up = track(netConnect({ host: '127.0.0.1', port, noDelay: true }))
      relayConns.add(up)
      let buf = Buffer.alloc(0)
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (parseClientHello(buf).status !== 'ok') return
        c.off('data', onData)
        c.pause()
        void trickle(refragment(buf, [40]))
      }
      const trickle = async (bytes: Buffer) => {
        for (const byte of bytes) {
          if (up.destroyed) return
          up.write(Buffer.from([byte]))
          relayedChunks++
          await sleep(1)
        }
        c.pipe(up)
        up.pipe(c)
      }
      c.on('data', onData)
      c.resume()
    })
    relay.listen(0, '127.0.0.1')
    await once(relay, 'listening')
    cleanups.push(async () => {
      for (const s of relayConns) s.destroy()
      await new Promise<void>((r) => relay.close(() => r()))
    })
    const relayPort = (relay.address() as { port: number }).port
    const socket = await dial(`127.0.0.1:${relayPort}`, { alpn: ALPN_WAN_GOSSIP_PACKET })
    expect(await echo(socket, 'trickled')).toBe('trickled')
    expect(relayedChunks).toBeGreaterThan(bobHello.length)
    expect(seen).toEqual([
      { server: 'bob', servername: 'bob.server.dc1.consul', alpn: ALPN_WAN_GOSSIP_PACKET },
    ])
    expect(gw.stats().routes['local-server'].connections).toBe(1)
    expect(address).toBeTruthy()
  })
})

describe('MeshGateway refusals', () => {
  async function refusedWith(
    reason: GatewayRejectReason,
    send: (port: number) => Socket,
    options: Partial<MeshGatewayOptions> = {},
  ) {
    const bob = await server('bob')
    const gw = await gateway({ servers: { bob: bob.address }, ...options })
    const c = send(gw.port)
    await closed(c)
    await until(() => gw.rejected.length === 1, 'the rejection')
    expect(gw.rejected).toEqual([reason])
    expect(gw.gw.stats().rejected[reason]).toBe(1)
    expect(gw.gw.stats().open).toBe(0)
    return gw
  }

  function tlsTo(port: number, servername: string | undefined, alpn = [ALPN_WAN_GOSSIP_STREAM]) {
    return track(
      tlsConnect({
        host: '127.0.0.1',
        port,
        ca: caPem(),
        ...tlsFixture('client'),
        servername: servername ?? '',
        ALPNProtocols: alpn,
      }),
    )
  }

  it('closes a TLS client that sends no SNI', async () => {
    await refusedWith('no-sni', (port) => tlsTo(port, undefined))
  })

  it('closes a client naming an unknown local node', async () => {
    await refusedWith('unknown-route', (port) => tlsTo(port, 'nobody.server.dc1.consul'))
  })

  it('closes names outside the routes: another domain, a DC without gateways, a deep local name', async () => {
    for (const name of ['www.example.com', 'bob.server.dc9.consul', 'a.bob.server.dc1.consul']) {
      const bob = await server('bob')
      const gw = await gateway({
        servers: { bob: bob.address },
        locator: new StaticGatewayLocator({ dc2: ['127.0.0.1:1'] }, { clock }),
      })
      const c = tlsTo(gw.port, name)
      await closed(c)
      await until(() => gw.rejected.length === 1, `the rejection of ${name}`)
      expect(gw.rejected).toEqual(['unknown-route'])
    }
  })

  it('closes plain non-TLS bytes at once', async () => {
    await refusedWith('not-tls', (port) => {
      const c = raw(port)
      c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      return c
    })
  })

  it('closes a malformed ClientHello', async () => {
    await refusedWith('malformed', (port) => {
      const c = raw(port)
      c.write(Buffer.from([22, 3, 1, 0, 0]))
      return c
    })
  })

  it('refuses a hello that cannot fit in maxHelloBytes, before it has all arrived', async () => {
    // A record header and handshake header announcing a 4,000-byte ClientHello, and nothing more.
    await refusedWith(
      'hello-too-large',
      (port) => {
        const c = raw(port)
        c.write(Buffer.from([22, 3, 1, 0x0f, 0xa4, 1, 0, 0x0f, 0xa0]))
        return c
      },
      { maxHelloBytes: 1024 },
    )
  })

  it('refuses a real client whose hello is larger than maxHelloBytes', async () => {
    const many = Array.from({ length: 20 }, (_, i) => `proto-${i}-${'x'.repeat(90)}`)
    await refusedWith('hello-too-large', (port) => tlsTo(port, 'bob.server.dc1.consul', many), {
      maxHelloBytes: 1024,
    })
  })

  it('closes a client that never completes its hello at helloTimeoutMs, serving others meanwhile', async () => {
    const bob = await server('bob')
    // Long enough that a full mutual-TLS dial and echo on a loaded machine fit inside it.
    const gw = await gateway({ servers: { bob: bob.address }, helloTimeoutMs: 2_000 })
    const stalled = raw(gw.port)
    const started = Date.now()
    stalled.write(bobHello.subarray(0, 20))
    const served = await dial(gw.address)
    expect(await echo(served, 'meanwhile')).toBe('meanwhile')
    expect(stalled.closed).toBe(false)
    await closed(stalled)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900)
    await until(() => gw.rejected.length === 1, 'the rejection')
    expect(gw.rejected).toEqual(['hello-timeout'])
    expect(gw.gw.stats().routes['local-server'].active).toBe(1)
  })

  it('counts a client that leaves mid-hello', async () => {
    await refusedWith('client-closed', (port) => {
      const c = raw(port)
      c.end(bobHello.subarray(0, 30))
      return c
    })
  })

  it('refuses connections beyond maxConnections', async () => {
    const bob = await server('bob')
    const gw = await gateway({ servers: { bob: bob.address }, maxConnections: 1 })
    const first = raw(gw.port)
    first.write(bobHello.subarray(0, 10))
    await until(() => gw.gw.stats().open === 1, 'the first connection')
    const second = raw(gw.port)
    await closed(second)
    await until(() => gw.rejected.length === 1, 'the rejection')
    expect(gw.rejected).toEqual(['max-connections'])
    expect(first.closed).toBe(false)
  })
})

describe('MeshGateway timeouts and lifecycle', () => {
  it('closes a spliced connection idle both ways for idleTimeoutMs, not one that is busy', async () => {
    const up = await rawUpstream((s) => {
      s.resume()
      s.on('end', () => s.end())
    })
    const { gw, port } = await gateway({ servers: { bob: up.address }, idleTimeoutMs: 300 })
    const busy = raw(port)
    busy.write(bobHello)
    const idle = raw(port)
    idle.write(bobHello)
    await until(() => gw.stats().routes['local-server'].active === 2, 'two splices')
    const started = Date.now()
    for (let i = 0; i < 8; i++) {
      busy.write('.')
      await sleep(100)
    }
    expect(idle.closed).toBe(true)
    expect(busy.closed).toBe(false)
    await closed(busy)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect(gw.stats().idleTimeouts).toBe(2)
    await until(() => up.conns.size === 0, 'the upstream sides to close')
  })

  it('close() stops accepting, lets a spliced connection finish, then resolves', async () => {
    const bob = await server('bob')
    const { gw, address, port } = await gateway({
      servers: { bob: bob.address },
      closeGraceMs: 5_000,
    })
    const socket = await dial(address)
    expect(await echo(socket, 'before')).toBe('before')
    const started = Date.now()
    let done = false
    const closing = gw.close().then(() => {
      done = true
    })
    expect(gw.status).toBe('closing')
    const refused = raw(port)
    const err = await once(refused, 'error').then(([e]) => e as NodeJS.ErrnoException)
    expect(err.code).toBe('ECONNREFUSED')
    expect(await echo(socket, 'during grace')).toBe('during grace')
    expect(done).toBe(false)
    socket.end()
    await closing
    expect(Date.now() - started).toBeLessThan(4_000)
    expect(gw.status).toBe('closed')
    await gw.close()
  })

  it('close() destroys what is still open when closeGraceMs runs out', async () => {
    const bob = await server('bob')
    const { gw, address } = await gateway({ servers: { bob: bob.address }, closeGraceMs: 300 })
    const socket = await dial(address)
    expect(await echo(socket, 'x')).toBe('x')
    const started = Date.now()
    let closeEvents = 0
    gw.on('close', () => closeEvents++)
    await Promise.all([gw.close(), gw.close()])
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    await hungUp(socket)
    expect(closeEvents).toBe(1)
    expect(gw.stats().open).toBe(0)
  })

  it('close() drops connections still reading their hello', async () => {
    const { gw, port, rejected } = await gateway({ servers: {} })
    const c = raw(port)
    c.write(bobHello.subarray(0, 10))
    await until(() => gw.stats().pending === 1, 'the pending connection')
    await gw.close()
    await closed(c)
    expect(rejected).toEqual(['closing'])
  })

  it('destroy() closes everything at once and emits the reason', async () => {
    const bob = await server('bob')
    const gw = new MeshGateway({ datacenter: 'dc1', servers: { bob: bob.address }, clock })
    const errors: Error[] = []
    gw.on('error', (e) => errors.push(e))
    const { port } = await gw.listen()
    const socket = await dial(`127.0.0.1:${port}`)
    expect(await echo(socket, 'x')).toBe('x')
    gw.destroy(new Error('boom'))
    await hungUp(socket)
    await gw.close()
    expect(gw.status).toBe('closed')
    expect(errors.map((e) => e.message)).toEqual(['boom'])
  })

  it('aborting the listen signal closes the gateway; Symbol.asyncDispose closes it', async () => {
    const ac = new AbortController()
    const a = new MeshGateway({ datacenter: 'dc1', servers: {}, clock })
    await a.listen({ signal: ac.signal })
    const closedEvent = new Promise<void>((resolve) => a.once('close', resolve))
    ac.abort()
    await closedEvent
    expect(a.status).toBe('closed')
    await expect(a.listen()).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })

    const pre = new AbortController()
    pre.abort()
    const b = new MeshGateway({ datacenter: 'dc1', servers: {}, clock })
    await expect(b.listen({ signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' })
    await b.close()
    {
      await using c = new MeshGateway({ datacenter: 'dc1', servers: {}, clock })
      await c.listen()
      expect(c.address()?.port).toBeGreaterThan(0)
    }
  })

  it('validates options with InvalidArgumentError naming the field', () => {
    const ok: MeshGatewayOptions = { datacenter: 'dc1', servers: {} }
    const bad: Array<[Partial<MeshGatewayOptions> | Record<string, unknown>, RegExp]> = [
      [{ datacenter: '' }, /datacenter/],
      [{ datacenter: 'dc.1' }, /datacenter/],
      [{ domain: 'bad domain' }, /domain/],
      [{ servers: undefined }, /servers/],
      [{ servers: { bob: 'nope' } }, /servers\.bob/],
      [{ servers: { 'a.b': '127.0.0.1:1' } }, /servers/],
      [{ locator: {} }, /locator/],
      [{ helloTimeoutMs: 0 }, /helloTimeoutMs/],
      [{ maxHelloBytes: 10 }, /maxHelloBytes/],
      [{ maxHelloBytes: 1.5e3 + 0.5 }, /maxHelloBytes/],
      [{ connectTimeoutMs: -1 }, /connectTimeoutMs/],
      [{ idleTimeoutMs: Number.NaN }, /idleTimeoutMs/],
      [{ maxConnections: -1 }, /maxConnections/],
      [{ maxConnectAttempts: 0 }, /maxConnectAttempts/],
      [{ closeGraceMs: -5 }, /closeGraceMs/],
    ]
    const before = handleCounts()
    for (const [over, field] of bad) {
      let thrown: unknown
      try {
        new MeshGateway({ ...ok, ...over } as MeshGatewayOptions)
      } catch (err) {
        thrown = err
      }
      expect(thrown, String(field)).toMatchObject({ code: 'WANFED_ERR_INVALID_ARG' })
      expect((thrown as Error).message).toMatch(field)
    }
    // Construction does no I/O.
    const gw = new MeshGateway({ ...ok, domain: 'Consul.' })
    expect(gw.status).toBe('idle')
    expect(gw.domain).toBe('consul')
    expect(gw.address()).toBeUndefined()
    expect(handleCounts()).toEqual(before)
  })
})

/** A locator that records every report, `<method> <dc> <name of the gateway>`. */
function reporting(locator: StaticGatewayLocator, names: Record<string, string>) {
  const reports: string[] = []
  const spy: GatewayLocator = {
    pickGateway: (dc) => locator.pickGateway(dc),
    reportFailure: (dc, g, err) => {
      reports.push(`fail ${dc} ${names[g]} ${(err as { code?: string }).code}`)
      locator.reportFailure(dc, g, err)
    },
    reportSuccess: (dc, g) => {
      reports.push(`ok ${dc} ${names[g]}`)
      locator.reportSuccess(dc, g)
    },
  }
  return { spy, reports }
}

describe('MeshGateway upstream health', () => {
  it('a remote gateway that accepts TCP but never answers is reported failed, not healthy, and the connection fails over', async () => {
    const betty = await server('betty')
    const dc2 = await gateway({ datacenter: 'dc2', servers: { betty: betty.address } })
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const wedged = `127.0.0.1:${silent.port}`
    // random() = 0 picks the first healthy gateway: the wedged one, until it is reported.
    const locator = new StaticGatewayLocator(
      { dc2: [wedged, dc2.address] },
      { clock, random: () => 0 },
    )
    const { spy, reports } = reporting(locator, { [wedged]: 'wedged', [dc2.address]: 'live' })
    const dc1 = await gateway({ servers: {}, locator: spy, answerTimeoutMs: 300 })
    const s = await dial(dc1.address, { datacenter: 'dc2', node: 'betty' })
    expect(await echo(s, 'answered')).toBe('answered')
    // The wedged gateway got the ClientHello, accepted TCP, and was still never called healthy.
    expect(reports).toEqual(['fail dc2 wedged WANFED_ERR_CONNECT_TIMEOUT', 'ok dc2 live'])
    expect(locator.health('dc2').find((h) => h.gateway === wedged)?.consecutiveFailures).toBe(1)
    expect(dc1.gw.stats().routes['remote-dc']).toMatchObject({ connections: 1, connectFailures: 1 })
    // The next connection goes straight to the live gateway.
    const again = await dial(dc1.address, { datacenter: 'dc2', node: 'betty' })
    expect(await echo(again, 'next')).toBe('next')
    expect(reports).toEqual([
      'fail dc2 wedged WANFED_ERR_CONNECT_TIMEOUT',
      'ok dc2 live',
      'ok dc2 live',
    ])
    await until(() => silent.sockets.size === 0, 'the wedged gateway connection to close')
  })

  it('a remote gateway that accepts and closes without a byte is reported failed', async () => {
    const betty = await server('betty')
    const dc2 = await gateway({ datacenter: 'dc2', servers: { betty: betty.address } })
    const slam = await rawUpstream((c) => c.end())
    const locator = new StaticGatewayLocator(
      { dc2: [slam.address, dc2.address] },
      { clock, random: () => 0 },
    )
    const { spy, reports } = reporting(locator, { [slam.address]: 'slam', [dc2.address]: 'live' })
    const dc1 = await gateway({ servers: {}, locator: spy })
    const s = await dial(dc1.address, { datacenter: 'dc2', node: 'betty' })
    expect(await echo(s, 'x')).toBe('x')
    expect(reports).toEqual(['fail dc2 slam WANFED_ERR_SOCKET', 'ok dc2 live'])
  })

  it('validates answerTimeoutMs and closeQuietMs', () => {
    for (const bad of [0, -1, Number.NaN]) {
      expect(
        () => new MeshGateway({ datacenter: 'dc1', servers: {}, answerTimeoutMs: bad }),
      ).toThrow(/answerTimeoutMs/)
    }
    for (const bad of [-1, Number.POSITIVE_INFINITY]) {
      expect(() => new MeshGateway({ datacenter: 'dc1', servers: {}, closeQuietMs: bad })).toThrow(
        /closeQuietMs/,
      )
    }
  })
})

describe('MeshGateway close order', () => {
  it('closed before the transports it carries (pooled packets, an idle stream), close() still finishes well inside closeGraceMs', async () => {
    const network = new MemoryNetwork()
    const bobLocator = new StaticGatewayLocator({}, { clock })
    const bettyLocator = new StaticGatewayLocator({}, { clock })
    const bob = await wanfedNode({
      network,
      node: 'bob',
      datacenter: 'dc1',
      identity: 'bob',
      locator: bobLocator,
    })
    const betty = await wanfedNode({
      network,
      node: 'betty',
      datacenter: 'dc2',
      identity: 'betty',
      locator: bettyLocator,
    })
    cleanups.push(
      () => bob.close(),
      () => betty.close(),
    )
    const closeGraceMs = 5_000
    const gw1Locator = new StaticGatewayLocator({}, { clock })
    const gw1 = await gateway({
      servers: { bob: bob.serverAddr },
      locator: gw1Locator,
      closeGraceMs,
    })
    const gw2 = await gateway({
      datacenter: 'dc2',
      servers: { betty: betty.serverAddr },
      closeGraceMs,
    })
    gw1Locator.setGateways('dc2', [gw2.address])
    bobLocator.setGateways('dc2', [gw1.address])

    // Betty keeps the stream open: a stream nobody consumes is closed at once, and on TLS 1.3 a
    // dial that closes before the server's session ticket fails.
    betty.transport.on('stream', (s) => track(s as Socket))
    const got = new Promise<unknown>((resolve) => betty.transport.once('packet', resolve))
    await bob.transport.writeToAddress(Buffer.from('ping'), {
      name: 'betty.dc2',
      addr: '127.0.0.1:9',
    })
    await got
    const stream = track(
      (await bob.transport.dialAddressTimeout(
        { name: 'betty.dc2', addr: '127.0.0.1:9' },
        5_000,
      )) as Socket,
    )
    await until(
      () => gw2.gw.stats().routes['local-server'].active === 2,
      'the packet connection and the stream',
    )

    // The wrong order: both gateways first, while the pooled connection and the stream are open.
    let done = false
    const closing = Promise.all([gw1.gw.close(), gw2.gw.close()]).then(() => {
      done = true
    })
    await until(() => done, 'the gateways to close', closeGraceMs / 2)
    await closing
    await hungUp(stream)
    expect(gw1.gw.stats().open).toBe(0)
  })

  it('an AlpnServer closed before its transport, with a far pool holding a packet connection into it, finishes well inside closeGraceMs; packets flow again through a new server', async () => {
    const network = new MemoryNetwork()
    const closeGraceMs = 5_000
    const bobLocator = new StaticGatewayLocator({}, { clock })
    const bob = await wanfedNode({
      network,
      node: 'bob',
      datacenter: 'dc1',
      identity: 'bob',
      locator: bobLocator,
    })
    const betty = await wanfedNode({
      network,
      node: 'betty',
      datacenter: 'dc2',
      identity: 'betty',
      locator: new StaticGatewayLocator({}, { clock }),
      server: { closeGraceMs },
    })
    cleanups.push(
      () => bob.close(),
      () => betty.close(),
    )
    // No gateway in between: the far pool's connection ends at betty's server itself.
    bobLocator.setGateways('dc2', [betty.serverAddr])
    const packets: string[] = []
    betty.transport.on('packet', (p) => packets.push(p.buf.toString()))
    const to = { name: 'betty.dc2', addr: '127.0.0.1:9' }
    await bob.transport.writeToAddress(Buffer.from('one'), to)
    await until(() => packets.length === 1, 'the first packet')
    expect(bob.transport.stats().pool.open).toBe(1)

    // The wrong order: the server first, while bob's pool keeps its idle connection into it.
    let done = false
    const closing = betty.server.close().then(() => {
      done = true
    })
    await until(() => done, 'the AlpnServer to close', closeGraceMs / 2)
    await closing
    // Bob's pool saw the EOF and let the connection go, as when a peer closes.
    await until(() => bob.transport.stats().pool.open === 0, 'bob to drop the connection')

    const again = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture('betty') }, clock })
    betty.transport.attach(again)
    const { port } = await again.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => again.close())
    bobLocator.setGateways('dc2', [`127.0.0.1:${port}`])
    await bob.transport.writeToAddress(Buffer.from('two'), to)
    await until(() => packets.length === 2, 'the packet through the new server')
    expect(packets).toEqual(['one', 'two'])
  })

  it('during close() a splice with bytes flowing is not ended for being quiet; it is once it stops', async () => {
    const up = await rawUpstream((s) => s.resume())
    const { gw, port } = await gateway({
      servers: { bob: up.address },
      closeQuietMs: 1_000,
      closeGraceMs: 10_000,
    })
    const busy = raw(port)
    busy.write(bobHello)
    await until(() => gw.stats().routes['local-server'].active === 1, 'the splice')
    let done = false
    const closing = gw.close().then(() => {
      done = true
    })
    for (let i = 0; i < 8; i++) {
      busy.write('.')
      await sleep(100)
      expect(done).toBe(false)
    }
    // Quiet from now on: ended after closeQuietMs, far inside the grace period.
    await until(() => done, 'the quiet splice to end', 5_000)
    await closing
    await closed(busy)
  })
})
