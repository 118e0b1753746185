/**
 * The federation benchmarks' topology, on 127.0.0.1 over real TLS: the primary dc1 (one server with
 * the authoritative FederationStateStore and the FederationStateService on its AlpnServer, behind
 * MeshGateway gw1) and secondaries, each with its own MeshGateway that routes dc1 to gw1. A
 * secondary's clients dial the primary through their local gateway: client -> gw<k> -> gw1 -> server,
 * as test/integration/federation-replication.test.ts wires it. Certificates are made in memory.
 */

import { AlpnServer } from '../../src/alpn/server.ts'
import type { TlsCredentials } from '../../src/alpn/tls-options.ts'
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  createServerCertificate,
} from '../../src/certs/index.ts'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { FederationStateService } from '../../src/locator/federation/rpc-service.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import type { MeshGatewayInput } from '../../src/locator/federation/validate.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'

export const PRIMARY = 'dc1'

/** One CA; server certificates per datacenter are made on demand and kept. */
export class FederationCerts {
  readonly #ca: CertificateKeyPair
  readonly #byDc = new Map<string, Promise<TlsCredentials>>()

  private constructor(ca: CertificateKeyPair) {
    this.#ca = ca
  }

  static async create(): Promise<FederationCerts> {
    return new FederationCerts(await createCertificateAuthority())
  }

  /** `server.<dc>.consul` (and `<node>.server.<dc>.consul`), used as server and client certificate. */
  forDc(datacenter: string, node = 'server1'): Promise<TlsCredentials> {
    const k = `${datacenter}/${node}`
    let found = this.#byDc.get(k)
    if (found === undefined) {
      found = createServerCertificate(this.#ca, { datacenter, node }).then((c) => ({
        ca: this.#ca.cert,
        cert: c.cert,
        key: c.key,
      }))
      this.#byDc.set(k, found)
    }
    return found
  }
}

export interface Primary {
  store: FederationStateStore
  server: AlpnServer
  gateway: MeshGateway
  /** gw1's `host:port`. */
  gatewayAddress: string
  close(): Promise<void>
}

/** dc1's server (store + service) behind gw1. */
export async function startPrimary(
  certs: FederationCerts,
  store = new FederationStateStore(),
): Promise<Primary> {
  const server = new AlpnServer({
    tls: await certs.forDc(PRIMARY, 'bob'),
    closeGraceMs: 100,
    // Every tunnelled connection comes from the gateway's address.
    maxConnsPerClient: 0,
  })
  const service = new FederationStateService({
    store,
    datacenter: PRIMARY,
    primaryDatacenter: PRIMARY,
  }).attach(server)
  const addr = await server.listen({ host: '127.0.0.1', port: 0 })
  const gateway = new MeshGateway({
    datacenter: PRIMARY,
    servers: { bob: `127.0.0.1:${addr.port}` },
    closeGraceMs: 100,
  })
  const gw = await gateway.listen({ host: '127.0.0.1', port: 0 })
  return {
    store,
    server,
    gateway,
    gatewayAddress: `127.0.0.1:${gw.port}`,
    async close() {
      await gateway.close()
      await service.close()
      await server.close()
      await store.close()
    },
  }
}

/** A secondary's MeshGateway: no local servers, dc1 through gw1. */
export async function startSecondaryGateway(
  datacenter: string,
  primaryGateway: string,
): Promise<{ gateway: MeshGateway; address: string }> {
  const gateway = new MeshGateway({
    datacenter,
    servers: {},
    locator: new StaticGatewayLocator({ [PRIMARY]: [primaryGateway] }),
    closeGraceMs: 100,
  })
  const { port } = await gateway.listen({ host: '127.0.0.1', port: 0 })
  return { gateway, address: `127.0.0.1:${port}` }
}

/** A client of the primary's service in `datacenter`, dialling through that DC's gateway. */
export async function primaryClient(
  certs: FederationCerts,
  datacenter: string,
  localGateway: string,
): Promise<FederationStateClient> {
  return new FederationStateClient({
    datacenter: PRIMARY,
    locator: new StaticGatewayLocator({ [PRIMARY]: [localGateway] }),
    tls: await certs.forDc(datacenter),
    handshakeTimeoutMs: 10_000,
  })
}

/** A mesh gateway entry as anti-entropy collects it (LAN on the node, WAN tagged). */
export function meshGateway(name: string, lan: string, wan: string, port = 8443): MeshGatewayInput {
  return {
    node: { node: name, address: lan },
    service: {
      id: 'mesh-gateway',
      service: 'mesh-gateway',
      address: lan,
      port,
      taggedAddresses: { lan: { address: lan, port }, wan: { address: wan, port } },
      meta: { 'consul-wan-federation': '1' },
    },
    checks: [
      {
        checkId: 'mesh-gateway-alive',
        name: 'Mesh Gateway Alive',
        status: 'passing',
        output: 'TCP connect 127.0.0.1:8443: Success',
        node: name,
      },
    ],
  }
}

/** Sockets and servers alive in this process (`process.getActiveResourcesInfo()`). */
export function openSockets(): number {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'TLSWrap').length
}

/** Polls until `test()` holds, or throws after `timeoutMs`. */
export async function waitFor(test: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!test()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
