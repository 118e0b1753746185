import { ALPN_WAN_GOSSIP_STREAM, AlpnServer } from '../../src/alpn/index.ts'
import type { Clock } from '../../src/clock.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { FederationStateReplicator } from '../../src/locator/federation/replicator.ts'
import {
  type FederationGatewayLocator,
  FederationStateClient,
  FederationStateService,
  type FederationStateStore,
} from '../../src/locator/index.ts'
import type { GatewayLocator } from '../../src/locator/types.ts'
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

/**
 * bob, dc1's server, serving the primary's federation states from `store` on `port` (0: any).
 * `stop()` closes the service, the server and the store, once; a cleanup calls it too.
 */
export async function servePrimaryStates(
  store: FederationStateStore,
  cleanups: Cleanup[],
  clock: Clock,
  port = 0,
): Promise<{
  port: number
  address: string
  server: AlpnServer
  service: FederationStateService
  stop(): Promise<void>
}> {
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture('bob') },
    closeGraceMs: 100,
    clock,
  })
  const service = new FederationStateService({
    store,
    datacenter: 'dc1',
    primaryDatacenter: 'dc1',
    clock,
  }).attach(server)
  const addr = await server.listen({ host: '127.0.0.1', port })
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await service.close()
    await server.close()
    await store.close()
  }
  cleanups.push(stop)
  return { port: addr.port, address: `127.0.0.1:${addr.port}`, server, service, stop }
}

/**
 * A dc2 node replicating the primary's states into `store`: betty's client, dialling the primary
 * through `route`, and a replicator reporting to `locator` (fast rounds and backoff for tests).
 * A cleanup closes the replicator, then the client.
 */
export function replicateFromPrimary(
  cleanups: Cleanup[],
  clock: Clock,
  options: {
    store: FederationStateStore
    locator: FederationGatewayLocator
    route: GatewayLocator
  },
): { client: FederationStateClient; replicator: FederationStateReplicator } {
  const client = new FederationStateClient({
    datacenter: 'dc1',
    locator: options.route,
    tls: { ca: caPem(), ...tlsFixture('betty') },
    handshakeTimeoutMs: 2_000,
    clock,
  })
  const replicator = new FederationStateReplicator({
    store: options.store,
    source: client,
    locator: options.locator,
    rate: 1000,
    minBackoffMs: 20,
    maxBackoffMs: 100,
    clock,
  })
  cleanups.push(async () => {
    await replicator.close()
    await client.close()
  })
  return { client, replicator }
}
