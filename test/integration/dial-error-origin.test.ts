/**
 * Whose fault a failed dial is, and whether it crossed the wire: a gateway that accepts TCP and
 * never says a word is the gateway's failure (the locator must hear of it), a far side that
 * answered is not; DNS and local-address failures are ours (local); a peer's frame violation is
 * remote.
 */

import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { isGatewayUnreachable } from '../../src/alpn/dial.ts'
import {
  ALPN_WAN_GOSSIP_PACKET,
  AlpnServer,
  type DialViaGatewayOptions,
  dialViaGateway,
  encodeFrame,
  FrameDecoder,
} from '../../src/alpn/index.ts'
import type { GatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { silentServer } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

function options(gateway: string, over: Partial<DialViaGatewayOptions> = {}) {
  return {
    gateway,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_PACKET,
    tls: { ca: caPem(), ...tlsFixture('client') },
    handshakeTimeoutMs: 300,
    clock,
    ...over,
  } satisfies DialViaGatewayOptions
}

/** A TCP server that does `onAccept` with each connection once its first bytes have arrived. */
async function tcpServer(onAccept: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.once('data', () => onAccept(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  return `127.0.0.1:${(server.address() as { port: number }).port}`
}

async function failure(opts: DialViaGatewayOptions) {
  const err = await dialViaGateway(opts).then(
    (s) => {
      s.destroy()
      throw new Error('the dial should have failed')
    },
    (e) => e,
  )
  return { err, gatewayFault: isGatewayUnreachable(err) }
}

describe('a gateway that accepts TCP and never answers TLS is at fault', () => {
  it('times out with no byte: gateway fault', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const { err, gatewayFault } = await failure(options(`127.0.0.1:${silent.port}`))
    expect(err).toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT', remote: true })
    expect(gatewayFault).toBe(true)
  })

  for (const [how, close] of [
    ['closes (FIN)', (s: Socket) => void s.end()],
    ['resets (RST)', (s: Socket) => void s.resetAndDestroy()],
  ] as const) {
    it(`${how} with no byte after reading the ClientHello: gateway fault`, async () => {
      const gateway = await tcpServer(close)
      const { err, gatewayFault } = await failure(options(gateway))
      expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: true })
      expect(gatewayFault).toBe(true)
    })
  }

  it('the transport reports such a gateway to the locator', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const failures: string[] = []
    const locator: GatewayLocator = {
      pickGateway: () => `127.0.0.1:${silent.port}`,
      reportFailure: (dc, gateway, err) =>
        failures.push(`${dc} ${gateway} ${(err as { code?: string }).code}`),
    }
    const transport = new WanfedTransport({
      transport: new MemoryNetwork({ clock }).createTransport('bob.dc1'),
      datacenter: 'dc1',
      locator,
      tls: { ca: caPem(), ...tlsFixture('bob') },
      handshakeTimeoutMs: 200,
      clock,
    })
    cleanups.push(() => transport.close())
    await transport.listen()
    const err = await transport
      .dialAddressTimeout({ name: 'betty.dc2', addr: '192.0.2.2:8302' }, 5_000)
      .catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_HANDSHAKE_TIMEOUT' })
    expect(failures).toEqual([`dc2 127.0.0.1:${silent.port} WANFED_ERR_HANDSHAKE_TIMEOUT`])
  })
})

describe('a far side that answered is not the gateway’s fault', () => {
  it('a refusal alert from the server', async () => {
    const server = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture('bob') }, clock })
    server.handle(ALPN_WAN_GOSSIP_PACKET, (s) => s.destroy())
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => server.close())
    const { err, gatewayFault } = await failure(
      options(`127.0.0.1:${port}`, { tls: { ca: caPem(), ...tlsFixture('other-server') } }),
    )
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    expect(gatewayFault).toBe(false)
  })

  it('an alert record and a close, as a gateway that answered for a dead far node', async () => {
    // A fatal internal_error alert, in plaintext as any TLS peer sends it before ServerHello.
    const gateway = await tcpServer((s) => s.end(Buffer.from([21, 3, 3, 0, 2, 2, 80])))
    const { err, gatewayFault } = await failure(options(gateway))
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    expect(gatewayFault).toBe(false)
  })

  it('part of a handshake, then the far node goes away', async () => {
    // The first bytes of a ServerHello record, then a reset: the far side answered.
    const gateway = await tcpServer((s) => {
      s.write(Buffer.from([22, 3, 3, 0, 80, 2]))
      setTimeout(() => s.resetAndDestroy(), 20)
    })
    const { err, gatewayFault } = await failure(options(gateway))
    expect(err).toMatchObject({ remote: true })
    expect(gatewayFault).toBe(false)
  })
})

describe('errors crossing the API are WanfedErrors with the right origin', () => {
  it('a localAddress that is not an IP: InvalidArgumentError, local, nothing opened', async () => {
    const { err, gatewayFault } = await failure(
      options('127.0.0.1:1', { localAddress: 'not-an-ip' }),
    )
    expect(err).toMatchObject({ code: 'WANFED_ERR_INVALID_ARG', remote: false })
    expect(gatewayFault).toBe(false)
  })

  it('a localAddress this host does not have: a local SocketError, not the gateway’s fault', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const { err, gatewayFault } = await failure(
      options(`127.0.0.1:${silent.port}`, { localAddress: '192.0.2.123' }),
    )
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: false })
    expect(err.cause.code).toBe('EADDRNOTAVAIL')
    expect(gatewayFault).toBe(false)
  })

  it('a gateway name that does not resolve: a local SocketError, not the gateway’s fault', async () => {
    const { err, gatewayFault } = await failure(options('nonexistent.invalid:8443'))
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: false })
    expect(err.cause.code).toMatch(/^(ENOTFOUND|EAI_AGAIN|EAI_FAIL)$/)
    expect(gatewayFault).toBe(false)
  })

  it('frame errors: remote when a peer sent them, local for our own payload', () => {
    const empty = Buffer.from([0, 0, 0, 0])
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff])
    for (const [bytes, code] of [
      [empty, 'WANFED_ERR_FRAME_EMPTY'],
      [huge, 'WANFED_ERR_FRAME_TOO_LARGE'],
    ] as const) {
      let thrown: unknown
      try {
        new FrameDecoder().push(bytes)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toMatchObject({ code, remote: true })
    }
    let local: unknown
    try {
      encodeFrame(new Uint8Array(0))
    } catch (err) {
      local = err
    }
    expect(local).toMatchObject({ code: 'WANFED_ERR_FRAME_EMPTY', remote: false })
  })
})
