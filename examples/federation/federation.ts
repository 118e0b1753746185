/**
 * The whole federation on loopback, built in the order its parts depend on each other: nodes'
 * ALPN servers, then the gateways routing to them, then each DC's control plane (which announces
 * those gateways), then memberlist on every node. Whatever was built is closed by `close()`,
 * whenever it is called: after the act, or at Ctrl-C half-way through the start.
 */
import { randomBytes } from 'node:crypto'
import { type AdminServer, createAdminServer } from 'wanfed/admin'
import type { Delegate, MemberlistConfig } from 'wanfed/memberlist'
import { freePorts } from '../lib/ports.ts'
import { makeCertificates } from './certs.ts'
import { DemoDatacenter } from './datacenter.ts'
import type { DemoGateway } from './gateway.ts'
import { OurGateway, PlaneRoutes } from './gateways-ours.ts'
import { ProxyGateway } from './gateways-proxy.ts'
import type { DemoNode } from './node.ts'
import type { DemoOptions } from './options.ts'
import { planTopology, type Topology } from './topology.ts'

export class Federation {
  readonly options: DemoOptions
  readonly topology: Topology
  readonly timing: Partial<MemberlistConfig>
  readonly dcs: DemoDatacenter[]
  readonly gossipKey: Buffer | undefined
  admin: AdminServer | undefined
  #closing: Promise<void> | undefined

  readonly #delegateFor: ((name: string) => Delegate) | undefined

  /** `delegateFor` gives each node's memberlist its application hooks (the soak's user messages). */
  constructor(
    options: DemoOptions,
    timing: Partial<MemberlistConfig>,
    delegateFor?: (name: string) => Delegate,
  ) {
    this.options = options
    this.timing = timing
    this.#delegateFor = delegateFor
    this.topology = planTopology(options.dcs, options.nodes)
    this.dcs = this.topology.datacenters.map((plan) => new DemoDatacenter(plan))
    this.gossipKey = options.encrypt ? randomBytes(32) : undefined
  }

  get primary(): DemoDatacenter {
    return this.dcs[0] as DemoDatacenter
  }

  nodes(): DemoNode[] {
    return this.dcs.flatMap((dc) => dc.nodes)
  }

  live(): DemoNode[] {
    return this.nodes().filter((n) => !n.stopped)
  }

  gateways(): DemoGateway[] {
    return this.dcs.flatMap((dc) => dc.gateways)
  }

  /** Everything up to memberlist running on every node, each DC's nodes joined to their leader. */
  async start(signal: AbortSignal, log: (line: string) => void): Promise<void> {
    const certs = await makeCertificates(this.topology)
    log(`certificates: a CA and ${certs.nodes.size} server certificates, made in memory`)
    for (const dc of this.dcs) {
      signal.throwIfAborted()
      await dc.listenServers(certs)
    }
    signal.throwIfAborted()
    const routes = await this.#startGateways()
    for (const g of this.gateways()) log(`gateway ${g.name} (${g.kind}) on ${g.address}`)
    // Secondaries are told one primary gateway only; they learn the other through replication.
    const told = this.primary.gateways[0]?.address as string
    for (const dc of this.dcs) {
      signal.throwIfAborted()
      await dc.startControlPlane(this.topology, dc.primary ? [] : [told])
      if (dc.plane !== undefined) routes.get(dc.name)?.use(dc.plane.routes)
    }
    log(`secondaries start knowing one primary gateway: ${told}`)
    for (const dc of this.dcs) {
      signal.throwIfAborted()
      await dc.startNodes(this.topology, this.timing, this.gossipKey, this.#delegateFor)
    }
    if (this.options.admin !== undefined) await this.#startAdmin(this.options.admin, log)
    signal.throwIfAborted()
    await Promise.all(this.dcs.map((dc) => dc.joinLocally()))
  }

  /** Ours route remote DCs by federation states; HAProxy and nginx by static configs. */
  async #startGateways(): Promise<Map<string, PlaneRoutes>> {
    const routes = new Map<string, PlaneRoutes>()
    const kind = this.options.gateway
    if (kind === 'ours') {
      for (const dc of this.dcs) {
        const planeRoutes = new PlaneRoutes()
        routes.set(dc.name, planeRoutes)
        for (const name of dc.plan.gateways) {
          dc.gateways.push(
            await OurGateway.start({
              name,
              datacenter: dc.name,
              servers: dc.serverRoutes(),
              routes: planeRoutes,
            }),
          )
        }
      }
      return routes
    }
    // Static configs need every DC's gateway addresses before any proxy starts; proxies cannot
    // bind port 0 and report it, so each gets a distinct port that was free a moment ago.
    const names = this.dcs.flatMap((dc) => dc.plan.gateways)
    const free = await freePorts(names.length)
    const ports = new Map(names.map((g, i) => [g, free[i] as number]))
    const addresses = (dc: DemoDatacenter) =>
      dc.plan.gateways.map((g) => `127.0.0.1:${ports.get(g)}`)
    for (const dc of this.dcs) {
      const remoteGateways = Object.fromEntries(
        this.dcs.filter((d) => d !== dc).map((d) => [d.name, addresses(d)]),
      )
      for (const name of dc.plan.gateways) {
        dc.gateways.push(
          await ProxyGateway.start({
            kind,
            name,
            datacenter: dc.name,
            port: ports.get(name) as number,
            servers: dc.serverRoutes(),
            remoteGateways,
          }),
        )
      }
    }
    return routes
  }

  /** One admin endpoint for the whole demo: every node's transport, server and locator, every gateway. */
  async #startAdmin(address: string, log: (line: string) => void): Promise<void> {
    const primaryPlane = this.primary.plane
    const admin = createAdminServer({
      datacenter: this.topology.primary,
      ...(primaryPlane === undefined ? {} : { federationStates: primaryPlane.store }),
    })
    this.admin = admin
    const nodes = this.nodes()
    const gateways = this.gateways().flatMap((g) =>
      g instanceof OurGateway ? [[g.name, g.gateway] as const] : [],
    )
    admin.endpoint.register({
      transports: Object.fromEntries(nodes.map((n) => [n.name, n.transport])),
      servers: Object.fromEntries(nodes.map((n) => [n.name, n.server])),
      locators: Object.fromEntries(nodes.map((n) => [n.name, n.locator])),
      gateways: Object.fromEntries(gateways),
      stores: Object.fromEntries(
        this.dcs.flatMap((dc) => (dc.plane === undefined ? [] : [[dc.name, dc.plane.store]])),
      ),
    })
    const i = address.lastIndexOf(':')
    const host = address.slice(0, i).replace(/^\[|\]$/g, '')
    const { port } = await admin.listen({ host, port: Number(address.slice(i + 1)) })
    log(`admin endpoint: http://${address.slice(0, i)}:${port}/v1/status (and /metrics)`)
  }

  /**
   * Closes in the order traffic depends on: background federation work, then nodes (memberlist,
   * transports, ALPN servers), then the gateways they sent through, then the admin endpoint.
   * Idempotent; safe on a half-built federation.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled(this.dcs.map((dc) => dc.closeControl()))
      await Promise.allSettled(this.dcs.map((dc) => dc.closeNodes()))
      await Promise.allSettled(this.dcs.map((dc) => dc.closeGateways()))
      await this.admin?.close()
    })()
    return this.#closing
  }

  /** Closes the nodes only, so their counters are final while the gateways' can still be read. */
  async closeNodes(): Promise<void> {
    await Promise.allSettled(this.dcs.map((dc) => dc.closeControl()))
    await Promise.allSettled(this.dcs.map((dc) => dc.closeNodes()))
  }
}
