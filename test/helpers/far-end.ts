import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { ALPN_WAN_GOSSIP_PACKET } from '../../src/alpn/index.ts'
import { caPem, tlsFixture } from './fixtures.ts'
import type { Cleanup } from './leaks.ts'

/**
 * A bare TLS endpoint speaking the packet ALPN with betty's (dc2) certificate, doing `onConn` with
 * each connection: a far side that can be made to misbehave in ways a real node would not.
 * Returns its `127.0.0.1:port`; closed, with its connections, by `cleanups`.
 */
export async function farEnd(
  cleanups: Cleanup[],
  onConn: (socket: TLSSocket) => void,
): Promise<string> {
  const server = createTlsServer(
    {
      ca: caPem(),
      ...tlsFixture('betty'),
      requestCert: true,
      ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
    },
    onConn,
  )
  const sockets = new Set<TLSSocket>()
  server.on('secureConnection', (s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  )
  return `127.0.0.1:${(server.address() as { port: number }).port}`
}
