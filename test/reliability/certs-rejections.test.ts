import { type ConnectionOptions, connect as tlsConnect } from 'node:tls'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type AlpnServerEvents,
  type RejectReason,
} from '../../src/alpn/index.ts'
import { createServerCertificate } from '../../src/certs/index.ts'
import { isWanfedError } from '../../src/errors.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, otherCaPem, tlsFixture } from '../helpers/fixtures.ts'
import { gatewayInFront } from '../helpers/legit-peer.ts'
import { until } from '../helpers/net.ts'
import { dc2Receiver, nodeContext } from '../helpers/wanfed-node.ts'

// Who gets in without a valid certificate: nobody. Each row is a client (or a server, for the
// dialler's own checks) with one thing wrong, tried straight at betty.dc2's AlpnServer and through
// dc2's MeshGateway (which splices TLS without terminating it, so betty's server decides). Every
// refusal is counted under its reason and emitted with a typed error; no handler ever sees one.

const ctx = nodeContext()

/** Certificates the fixtures lack: valid only from tomorrow, for the client and for a server. */
let notYetValid: { cert: string; key: string }
beforeAll(async () => {
  const tomorrow = new Date(Date.now() + 86_400_000)
  notYetValid = await createServerCertificate(tlsFixture('ca'), {
    datacenter: 'dc1',
    node: 'bob',
    notBefore: tomorrow,
    days: 30,
  })
})

interface ClientRow {
  what: string
  /** The client's TLS options; SNI betty's unless `servername` says otherwise. */
  client: () => ConnectionOptions
  reason: RejectReason
}

const bob = () => ({ ca: caPem(), ...tlsFixture('bob') })

const CLIENTS: ClientRow[] = [
  { what: 'no client certificate', client: () => ({ ca: caPem() }), reason: 'bad-client-cert' },
  {
    what: 'a client certificate from an unrelated CA',
    client: () => ({ ca: caPem(), ...tlsFixture('other-server') }),
    reason: 'bad-client-cert',
  },
  {
    what: 'an expired client certificate',
    client: () => ({ ca: caPem(), ...tlsFixture('expired') }),
    reason: 'bad-client-cert',
  },
  {
    what: 'a client certificate not yet valid',
    client: () => ({ ca: caPem(), ...notYetValid }),
    reason: 'bad-client-cert',
  },
  {
    what: 'a TLS 1.2 client without a certificate',
    client: () => ({ ca: caPem(), maxVersion: 'TLSv1.2' }),
    reason: 'bad-client-cert',
  },
  {
    what: 'a TLS 1.0/1.1-only client (with a good certificate)',
    // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.0 and 1.1 at all, as an old client would.
    client: () => ({
      ...bob(),
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    }),
    reason: 'tls-error',
  },
  {
    what: 'an SNI that does not name this server (a gateway routing bonnie to betty)',
    client: () => ({ ...bob(), servername: 'bonnie.server.dc2.consul' }),
    reason: 'sni-mismatch',
  },
  {
    what: 'no ALPN protocol it serves',
    client: () => ({ ...bob(), ALPNProtocols: ['h2'] }),
    reason: 'unknown-alpn',
  },
]

type Rejection = Parameters<AlpnServerEvents['rejected']>[0]

async function target() {
  const betty = await dc2Receiver(ctx, {
    // Betty checks the SNI names her (Consul only logs it).
    server: { serverNames: ['betty.server.dc2.consul'], handshakeTimeoutMs: 5_000 },
  })
  const rejected: Rejection[] = []
  betty.server.on('rejected', (info) => rejected.push(info))
  let handled = 0
  betty.transport.on('packet', () => handled++)
  betty.transport.on('stream', (s) => {
    handled++
    s.destroy()
  })
  // A gateway that routes bonnie's name to betty's address, as a stale registry would.
  const front = await gatewayInFront(ctx, betty, {
    servers: { betty: betty.serverAddr, bonnie: betty.serverAddr },
  })
  return { betty, rejected, handled: () => handled, gateway: front }
}

/** One TLS client to `port`, left until the server closed it or `served()` (it got in). */
async function attempt(
  port: number,
  options: ConnectionOptions,
  served: () => boolean,
): Promise<void> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'betty.server.dc2.consul',
    ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM],
    ...options,
  })
  socket.on('error', () => {})
  ctx.cleanups.push(() => {
    socket.destroy()
  })
  await until(() => socket.destroyed || served(), 'the server to decide', 10_000)
}

describe('certificates: every bad one refused and counted, straight and through the gateway', () => {
  for (const row of CLIENTS) {
    for (const path of ['straight', 'through the gateway'] as const) {
      it(`${row.what}, ${path}: ${row.reason}`, async () => {
        const t = await target()
        const port = Number(
          (path === 'straight' ? t.betty.serverAddr : t.gateway.address).split(':')[1],
        )
        await attempt(port, row.client(), () => t.handled() > 0)
        await until(() => t.rejected.length === 1, 'the refusal')
        expect(t.rejected[0]?.reason).toBe(row.reason)
        expect(isWanfedError(t.rejected[0]?.error), String(t.rejected[0]?.error)).toBe(true)
        const stats = t.betty.server.stats()
        expect(stats.rejected[row.reason]).toBe(1)
        expect(stats.byAlpn).toEqual({})
        expect(t.handled()).toBe(0)
        if (path === 'through the gateway') {
          // The gateway spliced it (it cannot judge certificates), betty refused it.
          const g = t.gateway.gateway.stats()
          expect(g.routes['local-server'].connections).toBe(1)
        }
      })
    }
  }

  it('the control: a good certificate with the right SNI and ALPN is served, both ways', async () => {
    const t = await target()
    for (const addr of [t.betty.serverAddr, t.gateway.address]) {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port: Number(addr.split(':')[1]),
        servername: 'betty.server.dc2.consul',
        ALPNProtocols: [ALPN_WAN_GOSSIP_STREAM],
        ...bob(),
      })
      socket.on('error', () => {})
      ctx.cleanups.push(() => {
        socket.destroy()
      })
    }
    await until(() => t.handled() === 2, 'both streams handled')
    expect(t.rejected).toEqual([])
  })
})

interface ServerRow {
  what: string
  /** The far server's certificate. */
  identity: () => { cert: string; key: string }
  /** The CA the far server trusts for clients (ours unless told). */
  ca?: () => string
  /** The node of dc1 the dial asks for. */
  node: string
}

const SERVERS: ServerRow[] = [
  {
    what: 'a server certificate without the node SAN',
    identity: () => tlsFixture('alice'),
    node: 'alice',
  },
  {
    what: 'a server certificate from an unrelated CA',
    identity: () => tlsFixture('other-server'),
    ca: otherCaPem,
    node: 'bob',
  },
  { what: 'an expired server certificate', identity: () => tlsFixture('expired'), node: 'bob' },
  { what: 'a server certificate not yet valid', identity: () => notYetValid, node: 'bob' },
]

/** dc2's betty dialling a stream to `<node>.dc1` at `port`, which only the server under test serves. */
async function dialFrom(port: number, node: string) {
  const sender = new WanfedTransport({
    transport: ctx.network.createTransport('betty.dc2'),
    datacenter: 'dc2',
    locator: new StaticGatewayLocator({ dc1: [`127.0.0.1:${port}`] }, { clock: ctx.clock }),
    tls: { ca: caPem(), ...tlsFixture('betty') },
    clock: ctx.clock,
  })
  await sender.listen()
  ctx.cleanups.push(() => sender.close())
  const result = await sender
    .dialAddressTimeout({ name: `${node}.dc1`, addr: '' }, 5_000)
    .catch((e: unknown) => e)
  return { sender, result }
}

async function farServer(tls: { ca: string; cert: string; key: string }) {
  const far = new AlpnServer({ tls, closeGraceMs: 100, clock: ctx.clock })
  const seen = { handled: 0 }
  far.handle(ALPN_WAN_GOSSIP_STREAM, (s) => {
    seen.handled++
    s.destroy()
  })
  const { port } = await far.listen({ host: '127.0.0.1', port: 0 })
  ctx.cleanups.push(() => far.close())
  return { port, seen }
}

describe('certificates: the dialler refuses a server that is not the node it asked for', () => {
  for (const row of SERVERS) {
    it(`${row.what}: the dial fails with WANFED_ERR_TLS, counted, nothing sent`, async () => {
      const far = await farServer({ ca: row.ca?.() ?? caPem(), ...row.identity() })
      const { sender, result } = await dialFrom(far.port, row.node)
      expect(result).toMatchObject({ code: 'WANFED_ERR_TLS' })
      expect(sender.stats().streams.dialErrors).toBe(1)
      expect(far.seen.handled).toBe(0)
    })
  }

  it("the control: the node's own certificate is accepted", async () => {
    const far = await farServer({ ca: caPem(), ...tlsFixture('bob') })
    const { sender, result } = await dialFrom(far.port, 'bob')
    expect(isWanfedError(result)).toBe(false)
    ;(result as { destroy(): void }).destroy()
    expect(sender.stats().streams.dialErrors).toBe(0)
    await until(() => far.seen.handled === 1, 'the stream handled')
  })

  it('a missing CA in our own config: refused at construction, nothing opened', () => {
    const noCa = { ...tlsFixture('bob') } as { cert: string; key: string; ca?: string }
    expect(() => new AlpnServer({ tls: noCa as never })).toThrow(
      expect.objectContaining({ code: 'WANFED_ERR_INVALID_ARG' }),
    )
    expect(
      () =>
        new WanfedTransport({
          transport: new MemoryNetwork().createTransport('bob.dc1'),
          datacenter: 'dc1',
          locator: new StaticGatewayLocator({}),
          tls: noCa as never,
        }),
    ).toThrow(expect.objectContaining({ code: 'WANFED_ERR_INVALID_ARG' }))
  })
})
