/**
 * One datacenter: its nodes, its gateways, and the federation states they route by. As in Consul,
 * one server of the DC (here the first node, the "leader") runs replication and anti-entropy; the
 * others read the same store (Consul's followers read the Raft copy) with a locator of their own,
 * and every node answers the federation-state service, so `server.<dc>.consul` reaches any.
 */
import {
  FederationControlPlane,
  FederationGatewayLocator,
  FederationStateService,
} from 'wanfed/locator'
import type { Delegate, MemberlistConfig } from 'wanfed/memberlist'
import { whenPortFree } from '../lib/ports.ts'
import type { FederationCerts, NodeTls } from './certs.ts'
import type { DemoGateway } from './gateway.ts'
import { GatewayCatalog } from './gateway-catalog.ts'
import { DemoNode, listenNodeServer } from './node.ts'
import type { DatacenterPlan, Topology } from './topology.ts'

type NodeServer = Awaited<ReturnType<typeof listenNodeServer>> & { name: string; tls: NodeTls }

export class DemoDatacenter {
  readonly name: string
  readonly primary: boolean
  readonly plan: DatacenterPlan
  readonly servers: NodeServer[] = []
  gateways: DemoGateway[] = []
  nodes: DemoNode[] = []
  catalog: GatewayCatalog | undefined
  plane: FederationControlPlane | undefined
  readonly #followerLocators: FederationGatewayLocator[] = []
  #nodeSetup:
    | {
        topology: Topology
        timing: Partial<MemberlistConfig>
        gossipKey: Buffer | undefined
        delegateFor: ((name: string) => Delegate) | undefined
      }
    | undefined
  #controlClosed: Promise<void> | undefined

  constructor(plan: DatacenterPlan) {
    this.name = plan.name
    this.primary = plan.primary
    this.plan = plan
  }

  /** Listens every node's ALPN server; the gateways are then given their addresses. */
  async listenServers(certs: FederationCerts): Promise<void> {
    for (const node of this.plan.nodes) {
      const name = `${node}.${this.name}`
      const tls = certs.nodes.get(name) as NodeTls
      this.servers.push({ name, tls, ...(await listenNodeServer(tls)) })
    }
  }

  /** Node name (short) to ALPN server address: the gateways' local routes. */
  serverRoutes(): Record<string, string> {
    return Object.fromEntries(this.servers.map((s) => [s.name.split('.')[0], s.addr]))
  }

  /**
   * Starts the leader's control plane: anti-entropy of this DC's gateways (from the catalog),
   * and in a secondary replication from the primary, which it first reaches through
   * `primaryGateways` (Consul's `primary_gateways`: here one address of the primary's two).
   */
  async startControlPlane(topology: Topology, primaryGateways: readonly string[]): Promise<void> {
    const leader = this.servers[0] as NodeServer
    this.catalog = new GatewayCatalog(this.gateways)
    const names = new Set(topology.datacenters.map((d) => d.name))
    this.plane = await FederationControlPlane.start({
      datacenter: this.name,
      primaryDatacenter: topology.primary,
      tls: leader.tls,
      server: leader.server,
      gateways: this.catalog,
      ...(this.primary
        ? { knows: (dc: string) => names.has(dc) }
        : { primaryGateways, primaryGatewaysIntervalMs: 1_000 }),
    })
  }

  /** Starts memberlist on every node; each is alone until {@link joinLocally}. */
  async startNodes(
    topology: Topology,
    timing: Partial<MemberlistConfig>,
    gossipKey: Buffer | undefined,
    delegateFor?: (name: string) => Delegate,
  ): Promise<void> {
    this.#nodeSetup = { topology, timing, gossipKey, delegateFor }
    for (const i of this.servers.keys()) this.nodes.push(await this.#startNode(i))
  }

  /**
   * A follower that stopped (abruptly or by leaving) comes back as a new process would: same
   * name, same ALPN server port (the gateways' routes to it hold), same memberlist port, a fresh
   * incarnation. It is alone until it joins again. The leader holds the DC's control plane and is
   * not restarted this way.
   */
  async restartNode(node: DemoNode): Promise<DemoNode> {
    const i = this.nodes.indexOf(node)
    if (i <= 0) throw new Error(`${node.name} is not a follower of ${this.name}`)
    if (!node.stopped) throw new Error(`${node.name} is still running`)
    await node.close()
    const old = this.servers[i] as NodeServer
    const { server, addr } = await whenPortFree(() =>
      listenNodeServer(old.tls, Number(old.addr.split(':')[1])),
    )
    this.servers[i] = { ...old, server, addr }
    const restarted = await whenPortFree(() => this.#startNode(i, node.memberlist.localNode.port))
    this.nodes[i] = restarted
    return restarted
  }

  async #startNode(i: number, bindPort = 0): Promise<DemoNode> {
    const setup = this.#nodeSetup
    if (setup === undefined) throw new Error('startNodes() first')
    const plane = this.plane as FederationControlPlane
    const s = this.servers[i] as NodeServer
    let locator = plane.locator
    let service: FederationStateService | undefined
    if (i > 0) {
      // A restarted follower keeps its locator: it reads the DC's store, which outlives the node.
      locator =
        this.#followerLocators[i - 1] ??
        new FederationGatewayLocator({
          store: plane.store,
          datacenter: this.name,
          primaryDatacenter: setup.topology.primary,
        }).start()
      this.#followerLocators[i - 1] = locator
      service = new FederationStateService({
        store: plane.store,
        datacenter: this.name,
        primaryDatacenter: setup.topology.primary,
        ...(plane.client === undefined ? {} : { forward: plane.client }),
      }).attach(s.server)
    }
    try {
      return await DemoNode.start({
        name: s.name,
        tls: s.tls,
        server: s.server,
        serverAddr: s.addr,
        locator,
        ...(service === undefined ? {} : { service }),
        timing: setup.timing,
        ...(setup.gossipKey === undefined ? {} : { gossipKey: setup.gossipKey }),
        ...(setup.delegateFor === undefined ? {} : { delegate: setup.delegateFor(s.name) }),
        bindPort,
      })
    } catch (err) {
      await service?.close()
      throw err
    }
  }

  /** Every node joins the leader, over the DC's own network (no gateway). */
  async joinLocally(): Promise<void> {
    const [leader, ...rest] = this.nodes
    if (leader === undefined) return
    await Promise.all(rest.map((n) => n.memberlist.join([leader.joinAddress])))
  }

  get leader(): DemoNode {
    return this.nodes[0] as DemoNode
  }

  live(): DemoNode[] {
    return this.nodes.filter((n) => !n.stopped)
  }

  /** Stops its background work (replication, anti-entropy, store reads), then its nodes. */
  closeControl(): Promise<void> {
    this.#controlClosed ??= (async () => {
      this.catalog?.close()
      await Promise.all(this.#followerLocators.map((l) => l.close()))
      await this.plane?.close()
    })()
    return this.#controlClosed
  }

  async closeNodes(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.close()))
    // Servers whose node never started (an interrupted start) are still listening.
    const started = new Set(this.nodes.map((n) => n.server))
    await Promise.all(
      this.servers.filter((s) => !started.has(s.server)).map((s) => s.server.close()),
    )
  }

  async closeGateways(): Promise<void> {
    await Promise.all(this.gateways.map((g) => g.close()))
  }
}
