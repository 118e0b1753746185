/**
 * A certificate rotation on the server side must also end what the old credentials granted: a
 * TLS session ticket issued before `AlpnServer.setTlsCredentials` would let a client whose
 * certificate the new CA does not sign resume without being verified again. Node gives a new
 * secure context fresh ticket keys, so the old ticket is refused and the client goes through a
 * full handshake, in which the new CA refuses it.
 */

import { once } from 'node:events'
import type { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type AlpnServerEvents,
  dialViaGateway,
  type TlsCredentials,
  TlsSessionCache,
} from '../../src/alpn/index.ts'
import { caPem, otherCaPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

type Rejection = Parameters<AlpnServerEvents['rejected']>[0]

async function echo(socket: TLSSocket): Promise<void> {
  socket.write('x')
  await once(socket, 'data')
}

describe('AlpnServer.setTlsCredentials and TLS sessions', () => {
  it('a session ticket issued before a rotation does not resume after it: the client is verified against the new CA', async () => {
    const server = new AlpnServer({
      tls: { ca: caPem(), ...tlsFixture('bob') },
      closeGraceMs: 100,
      clock,
    })
    let accepted = 0
    server.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => {
      accepted++
      socket.on('error', () => {})
      socket.pipe(socket)
    })
    const rejected: Rejection[] = []
    server.on('rejected', (info) => rejected.push(info))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => server.close())
    const cache = new TlsSessionCache(8)
    const client: TlsCredentials = { ca: caPem(), ...tlsFixture('client') }
    const dial = () =>
      dialViaGateway({
        gateway: `127.0.0.1:${port}`,
        datacenter: 'dc1',
        node: 'bob',
        alpn: ALPN_WAN_GOSSIP_STREAM,
        tls: client,
        sessionCache: cache,
        clock,
      })

    const first = await dial()
    cleanups.push(() => void first.destroy())
    await echo(first)
    await until(() => cache.size > 0, 'a session in the cache')
    first.destroy()
    // The ticket works before the rotation: what follows is not a cache that never resumes.
    const resumed = await dial()
    cleanups.push(() => void resumed.destroy())
    expect(resumed.isSessionReused()).toBe(true)
    await echo(resumed)
    resumed.destroy()
    await until(() => cache.size > 0, 'a session in the cache')
    expect(accepted).toBe(2)

    // The new credentials trust only the other CA for clients; the client's certificate is
    // signed by the old one.
    server.setTlsCredentials({ ca: otherCaPem(), ...tlsFixture('bob') })
    const err = await dial().catch((e) => e)
    expect(err).toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    expect(err.message).toMatch(/refused our client certificate/)
    expect(accepted).toBe(2)
    await until(() => rejected.length === 1, 'the server to count the refusal')
    expect(rejected[0]).toMatchObject({ reason: 'bad-client-cert' })
    // A refusal forgets the session, so the next dial does not offer it again.
    expect(cache.size).toBe(0)
  })
})
