import { ALPN_WAN_GOSSIP_STREAM, AlpnServer } from '../../src/alpn/index.ts'
import type { Clock } from '../../src/clock.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { FederationStateService, type FederationStateStore } from '../../src/locator/index.ts'
import { caPem, tlsFixture } from './fixtures.ts'
import type { Cleanup } from './leaks.ts'

export type ServerIdentity = 'bob' | 'betty' | 'bonnie'

/**
 * The pieces of a federation over mesh gateways on loopback, each closed by a cleanup: echo
 * servers (dc1's also serving the primary's federation states) and MeshGateways routing to them.
 */
export function federationGateways(cleanups: Cleanup[], clock?: Clock) {
  const timing = clock === undefined ? {} : { clock }

  /** A server whose stream protocol echoes; with a store, the primary's federation-state service too. */
  async function server(identity: ServerIdentity, store?: FederationStateStore): Promise<string> {
    const s = new AlpnServer({
      tls: { ca: caPem(), ...tlsFixture(identity) },
      closeGraceMs: 100,
      ...timing,
    })
    s.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => {
      socket.on('error', () => {})
      socket.pipe(socket)
    })
    const service =
      store === undefined
        ? undefined
        : new FederationStateService({
            store,
            datacenter: 'dc1',
            primaryDatacenter: 'dc1',
            ...timing,
          }).attach(s)
    const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(async () => {
      await service?.close()
      await s.close()
    })
    return `127.0.0.1:${port}`
  }

  /** A MeshGateway for `datacenter`; with `federationStates`, its remote routes come from them. */
  async function meshGateway(
    datacenter: string,
    servers: Record<string, string>,
    federationStates?: FederationStateStore,
  ): Promise<{ gw: MeshGateway; port: number; address: string }> {
    const gw = new MeshGateway({
      datacenter,
      servers,
      ...(federationStates === undefined ? {} : { federationStates }),
      closeGraceMs: 200,
      ...timing,
    })
    const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => gw.close())
    return { gw, port, address: `127.0.0.1:${port}` }
  }

  return { server, meshGateway }
}
