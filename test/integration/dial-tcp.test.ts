import { describe, expect, it } from 'vitest'
import { SocketError } from '../../src/errors.ts'
import { dialTcp } from '../../src/transport/dial-tcp.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { closedPort } from '../helpers/net.ts'

// The plain TCP connect under NetTransport's stream dials: whose fault a failed connect is.

const { clock } = leakGuard()

const dial = (host: string, port: number, localAddress?: string) =>
  dialTcp({ host, port, timeoutMs: 5_000, clock, localAddress, what: 'dial test' }).catch(
    (e: unknown) => e,
  )

describe('dialTcp: the remote flag of a failed connect', () => {
  it('is remote for a refused connect', async () => {
    const err = await dial('127.0.0.1', await closedPort())
    expect(err).toBeInstanceOf(SocketError)
    expect(err).toMatchObject({ remote: true, cause: { code: 'ECONNREFUSED' } })
  })

  it('is local for a host name that does not resolve: nothing was said to the peer', async () => {
    const err = await dial('nonexistent.invalid', 7946)
    expect(err).toBeInstanceOf(SocketError)
    expect(err).toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: false })
    expect((err as SocketError).message).toContain('cannot resolve nonexistent.invalid')
  })

  it('is local for a localAddress this host lacks', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a host, so the bind fails (EADDRNOTAVAIL).
    const err = await dial('127.0.0.1', await closedPort(), '192.0.2.1')
    expect(err).toBeInstanceOf(SocketError)
    expect(err).toMatchObject({ remote: false, cause: { code: 'EADDRNOTAVAIL' } })
    expect((err as SocketError).message).toContain('cannot bind the local address')
  })
})
