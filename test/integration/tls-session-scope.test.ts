/**
 * A resumed TLS session skips certificate verification, so it must never stand in for a
 * verification the resuming dialer did not do: a session cache shared by dialers with different
 * CAs or client certificates gives each only its own sessions.
 */

import { once } from 'node:events'
import type { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  dialViaGateway,
  type TlsCredentials,
  TlsSessionCache,
} from '../../src/alpn/index.ts'
import { caPem, otherCaPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

async function bobServer(): Promise<string> {
  const server = new AlpnServer({
    // bob trusts both CAs for clients, so a client from either may be accepted on its own merit.
    tls: { ca: [caPem(), otherCaPem()], ...tlsFixture('bob') },
    closeGraceMs: 100,
    clock,
  })
  server.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => socket.pipe(socket))
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  return `127.0.0.1:${port}`
}

function dial(gateway: string, tls: TlsCredentials, sessionCache: TlsSessionCache) {
  return dialViaGateway({
    gateway,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls,
    sessionCache,
    clock,
  })
}

async function echo(socket: TLSSocket): Promise<void> {
  socket.write('x')
  await once(socket, 'data')
}

describe('TLS sessions are scoped by credentials', () => {
  it('a dialer trusting another CA does not resume a session it could not verify', async () => {
    const gateway = await bobServer()
    const cache = new TlsSessionCache(8)
    const trusting: TlsCredentials = { ca: caPem(), ...tlsFixture('client') }
    const first = await dial(gateway, trusting, cache)
    cleanups.push(() => void first.destroy())
    await echo(first)
    await until(() => cache.size > 0, 'a session in the cache')
    first.destroy()

    // Same server name, same cache, a CA that did not sign bob's certificate: a resumed session
    // would succeed without verification; a full handshake must fail it.
    const distrusting: TlsCredentials = { ca: otherCaPem(), ...tlsFixture('client') }
    const err = await dial(gateway, distrusting, cache).catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    // A verification failure, not a resumption.
    expect(err.cause.code).toMatch(/^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/)

    // The first dialer's session is still there and still resumes.
    const again = await dial(gateway, trusting, cache)
    cleanups.push(() => void again.destroy())
    expect(again.isSessionReused()).toBe(true)
    again.destroy()
  })

  it('a dialer with another client certificate runs a full handshake', async () => {
    const gateway = await bobServer()
    const cache = new TlsSessionCache(8)
    const first = await dial(gateway, { ca: caPem(), ...tlsFixture('client') }, cache)
    cleanups.push(() => void first.destroy())
    await echo(first)
    await until(() => cache.size > 0, 'a session in the cache')
    first.destroy()
    // Same CA, another identity (signed by the other CA, which bob trusts for clients).
    const other = await dial(gateway, { ca: caPem(), ...tlsFixture('other-server') }, cache)
    cleanups.push(() => void other.destroy())
    expect(other.isSessionReused()).toBe(false)
    other.destroy()
  })

  it('equal credentials in distinct objects share their sessions', async () => {
    const gateway = await bobServer()
    const cache = new TlsSessionCache(8)
    const first = await dial(gateway, { ca: caPem(), ...tlsFixture('client') }, cache)
    cleanups.push(() => void first.destroy())
    await echo(first)
    await until(() => cache.size > 0, 'a session in the cache')
    first.destroy()
    const second = await dial(gateway, { ca: caPem(), ...tlsFixture('client') }, cache)
    cleanups.push(() => void second.destroy())
    expect(second.isSessionReused()).toBe(true)
    second.destroy()
  })
})
