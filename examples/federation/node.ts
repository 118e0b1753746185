/**
 * One member of the federation: memberlist over a `WanfedTransport` that wraps a `NetTransport`
 * (same-DC traffic, UDP and TCP, unchanged) and sends cross-DC traffic through the gateways its
 * `FederationGatewayLocator` picks. Its `AlpnServer` is where gateways deliver other DCs' traffic
 * to it, and where it serves the federation-state service.
 */
import { AlpnServer } from 'wanfed/alpn'
import type { FederationGatewayLocator, FederationStateService } from 'wanfed/locator'
import { type Delegate, Keyring, Memberlist, type MemberlistConfig } from 'wanfed/memberlist'
import { NetTransport, splitNodeName, WanfedTransport } from 'wanfed/transport'
import type { NodeTls } from './certs.ts'

/**
 * A node's ALPN server, listening: made before anything else of the node, because the DC's
 * gateways are given its address and the control plane is given the gateways'.
 */
export async function listenNodeServer(
  tls: NodeTls,
  /** A restarted node listens where it did before, so the gateways' routes to it still hold. */
  port = 0,
): Promise<{ server: AlpnServer; addr: string }> {
  // Every tunnelled connection comes from a gateway on 127.0.0.1: exempt it from the per-IP limit.
  const server = new AlpnServer({ tls, unlimitedAddresses: ['127.0.0.1'], closeGraceMs: 200 })
  try {
    port = (await server.listen({ host: '127.0.0.1', port })).port
  } catch (err) {
    await server.close()
    throw err
  }
  return { server, addr: `127.0.0.1:${port}` }
}

export interface NodeOptions {
  /** `<node>.<dc>` */
  name: string
  tls: NodeTls
  server: AlpnServer
  serverAddr: string
  locator: FederationGatewayLocator
  /** The federation-state service this node serves on its ALPN server (closed with the node). */
  service?: FederationStateService
  timing: Partial<MemberlistConfig>
  /** The federation's gossip key, when encryption is on. */
  gossipKey?: Buffer
  /** The application's memberlist hooks (user messages, state). */
  delegate?: Delegate
  /** memberlist's port (UDP and TCP); 0 picks one. A restarted node reuses its old one. */
  bindPort?: number
}

export class DemoNode {
  /** `<node>.<dc>`, the name memberlist and the SNI routing know it by. */
  readonly name: string
  readonly datacenter: string
  readonly server: AlpnServer
  /** `127.0.0.1:port` of its ALPN server: what this DC's gateways route its name to. */
  readonly serverAddr: string
  readonly transport: WanfedTransport
  readonly memberlist: Memberlist
  readonly locator: FederationGatewayLocator
  readonly #service: FederationStateService | undefined
  #stopped = false
  #closed: Promise<void> | undefined

  private constructor(o: NodeOptions, transport: WanfedTransport, memberlist: Memberlist) {
    this.name = o.name
    this.datacenter = splitNodeName(o.name).datacenter
    this.server = o.server
    this.serverAddr = o.serverAddr
    this.locator = o.locator
    this.#service = o.service
    this.transport = transport
    this.memberlist = memberlist
  }

  /** Builds the transports and starts memberlist; the node is alone until it joins. */
  static async start(o: NodeOptions): Promise<DemoNode> {
    const datacenter = splitNodeName(o.name).datacenter
    const transport = new WanfedTransport({
      transport: new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: o.bindPort ?? 0 }),
      datacenter,
      locator: o.locator,
      // The default handshake timeout (10 s) stays: at 50 nodes each opens ~40 TLS connections at
      // once, and two cores take seconds to complete them all. A dead gateway refuses at once.
      tls: o.tls,
    }).attach(o.server)
    const memberlist = await Memberlist.create({
      ...o.timing,
      name: o.name,
      transport,
      // Cross-DC pools route by name: refuse to send to an address without one.
      requireNodeNames: true,
      // Consul never falls back to stream pings across datacenters.
      disableTcpPingsForNode: (name) => splitNodeName(name).datacenter !== datacenter,
      ...(o.gossipKey === undefined ? {} : { keyring: new Keyring([o.gossipKey], o.gossipKey) }),
      ...(o.delegate === undefined ? {} : { delegate: o.delegate }),
    })
    return new DemoNode(o, transport, memberlist)
  }

  /** `<name>/<ip:port>`: how another node joins this one (the name routes across DCs). */
  get joinAddress(): string {
    return `${this.name}/${this.memberlist.localNode.address}`
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /**
   * Dies without a word: every socket destroyed, no leave broadcast, so the others must find out
   * by probing (suspect, then dead).
   */
  async stopAbruptly(): Promise<void> {
    this.#stopped = true
    this.server.destroy()
    this.transport.destroy()
    await this.close()
  }

  /** Leaves as a node shutting down does: a `dead` about itself gossiped (read as left), then closes. */
  async leave(timeoutMs: number): Promise<void> {
    this.#stopped = true
    try {
      await this.memberlist.leave(timeoutMs)
    } finally {
      await this.close()
    }
  }

  close(): Promise<void> {
    this.#stopped = true
    this.#closed ??= (async () => {
      await this.memberlist.close()
      await this.#service?.close()
      await this.server.close()
    })()
    return this.#closed
  }
}
