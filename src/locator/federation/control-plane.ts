import type { AlpnServer } from '../../alpn/server.ts'
import { type TlsCredentials, validateTlsCredentials } from '../../alpn/tls-options.ts'
import { InvalidArgumentError } from '../../errors.ts'
import type { Clock } from '../../internal/clock.ts'
import { FederationStateAntiEntropy, type GatewaySource } from './anti-entropy.ts'
import { FederationGatewayLocator } from './gateway-locator.ts'
import { PrimaryGatewayDiscovery } from './primary-gateway-discovery.ts'
import { FederationStatePruner } from './pruner.ts'
import { FederationStateReplicator } from './replicator.ts'
import { FederationRoutes } from './routes.ts'
import { FederationStateClient } from './rpc-client.ts'
import { FederationStateService } from './rpc-service.ts'
import { FederationStateStore } from './store.ts'

export interface FederationControlPlaneOptions {
  datacenter: string
  primaryDatacenter: string
  /** This node's certificate and the CA: for the service's peers and for dialling the primary. */
  tls: TlsCredentials
  /** Where the federation-state service is served (this node's ALPN server). Optional on a node that only consumes. */
  server?: AlpnServer
  /** The store's file (loaded at start, written after every change). Default: in memory only. */
  path?: string
  /** This datacenter's own mesh gateways, pushed to the primary by anti-entropy. Omit on nodes that do not run it. */
  gateways?: GatewaySource
  /** A secondary's `primary_gateways`: `host:port` (DNS names allowed), the route to the primary until replication knows better. */
  primaryGateways?: readonly string[]
  /** Interval between discovery tries, ms. Default 30,000. */
  primaryGatewaysIntervalMs?: number
  /**
   * A secondary replicates from the primary (Consul's secondary leader). Default true. A node with
   * false reads its store only (filled by another process) and always dials through local gateways.
   */
  replicate?: boolean
  /** In the primary: whether a datacenter is still part of the federation; states of others are pruned hourly. */
  knows?: (datacenter: string) => boolean
  /** @internal Overrides of the components' rates, for tests. */
  tuning?: {
    locatorRefreshRate?: number
    replicationRate?: number
    replicationMinBackoffMs?: number
    replicationMaxBackoffMs?: number
    /** Blocking wait of each replication fetch. */
    replicationWaitMs?: number
    /** The client's `requestTimeoutMs` towards the primary. */
    requestTimeoutMs?: number
    /** The client's `livenessIntervalMs` towards the primary (0: no probes). */
    livenessIntervalMs?: number
    antiEntropyRate?: number
  }
  /** @internal */
  clock?: Clock
}

/**
 * Everything one node needs for federation states, wired as Consul wires it: the store (persisted
 * when `path` is given), the federation-state service on `server`, the
 * {@link FederationGatewayLocator} for this node's own traffic, a {@link FederationRoutes}
 * for a `MeshGateway`, and, as the role requires, replication from the primary and discovery of
 * its gateways (secondary), anti-entropy of this DC's gateways (both), pruning (primary). The
 * secondary's client to the primary picks its gateway with the locator, so the primary is reached
 * through the local gateways, or directly after replication failed 3 times in a row.
 */
export class FederationControlPlane {
  readonly store: FederationStateStore
  readonly locator: FederationGatewayLocator
  readonly routes: FederationRoutes
  readonly service: FederationStateService | undefined
  readonly client: FederationStateClient | undefined
  readonly replicator: FederationStateReplicator | undefined
  readonly antiEntropy: FederationStateAntiEntropy | undefined
  readonly discovery: PrimaryGatewayDiscovery | undefined
  readonly pruner: FederationStatePruner | undefined
  #discovering: Promise<unknown> | undefined

  private constructor(store: FederationStateStore, o: FederationControlPlaneOptions) {
    const clock = o.clock === undefined ? {} : { clock: o.clock }
    const isPrimary = o.datacenter === o.primaryDatacenter
    const replicate = !isPrimary && o.replicate !== false
    const t = o.tuning ?? {}
    this.store = store
    this.locator = new FederationGatewayLocator({
      store,
      datacenter: o.datacenter,
      primaryDatacenter: o.primaryDatacenter,
      replicates: replicate,
      ...(t.locatorRefreshRate === undefined ? {} : { refreshRate: t.locatorRefreshRate }),
      ...clock,
    })
    this.routes = new FederationRoutes({ store, datacenter: o.datacenter, ...clock })
    this.client = isPrimary
      ? undefined
      : new FederationStateClient({
          datacenter: o.primaryDatacenter,
          locator: this.locator,
          tls: o.tls,
          ...(t.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: t.requestTimeoutMs }),
          ...(t.livenessIntervalMs === undefined
            ? {}
            : { livenessIntervalMs: t.livenessIntervalMs }),
          ...clock,
        })
    this.service =
      o.server === undefined
        ? undefined
        : new FederationStateService({
            store,
            datacenter: o.datacenter,
            primaryDatacenter: o.primaryDatacenter,
            ...(this.client === undefined ? {} : { forward: this.client }),
            ...clock,
          }).attach(o.server)
    this.replicator =
      replicate && this.client !== undefined
        ? new FederationStateReplicator({
            store,
            source: this.client,
            locator: this.locator,
            ...(t.replicationRate === undefined ? {} : { rate: t.replicationRate }),
            ...(t.replicationMinBackoffMs === undefined
              ? {}
              : { minBackoffMs: t.replicationMinBackoffMs }),
            ...(t.replicationMaxBackoffMs === undefined
              ? {}
              : { maxBackoffMs: t.replicationMaxBackoffMs }),
            ...(t.replicationWaitMs === undefined ? {} : { waitMs: t.replicationWaitMs }),
            ...clock,
          })
        : undefined
    this.antiEntropy =
      o.gateways === undefined
        ? undefined
        : new FederationStateAntiEntropy({
            datacenter: o.datacenter,
            primaryDatacenter: o.primaryDatacenter,
            store,
            gateways: o.gateways,
            ...(this.client === undefined ? {} : { primary: this.client }),
            ...(t.antiEntropyRate === undefined ? {} : { rate: t.antiEntropyRate }),
            ...clock,
          })
    this.discovery =
      isPrimary || o.primaryGateways === undefined || o.primaryGateways.length === 0
        ? undefined
        : new PrimaryGatewayDiscovery({
            addresses: o.primaryGateways,
            target: this.locator,
            ...(o.primaryGatewaysIntervalMs === undefined
              ? {}
              : { intervalMs: o.primaryGatewaysIntervalMs }),
            ...clock,
          })
    this.pruner =
      isPrimary && o.knows !== undefined
        ? new FederationStatePruner({ store, knows: o.knows, ...clock })
        : undefined
  }

  /** Validates, opens the store (from `path` if given) and starts every component the role needs. */
  static async start(options: FederationControlPlaneOptions): Promise<FederationControlPlane> {
    for (const k of ['datacenter', 'primaryDatacenter'] as const)
      if (typeof options?.[k] !== 'string' || options[k] === '')
        throw new InvalidArgumentError(`${k} must be a non-empty string`)
    // Fails closed before the store opens: no CA would mean trusting Node's default store.
    validateTlsCredentials(options.tls, 'FederationControlPlane')
    if (options.primaryGateways !== undefined && options.datacenter === options.primaryDatacenter)
      throw new InvalidArgumentError(
        "'primary_gateways' should only be configured in a secondary datacenter",
      )
    const storeOptions = options.clock === undefined ? {} : { clock: options.clock }
    const store =
      options.path === undefined
        ? new FederationStateStore(storeOptions)
        : await FederationStateStore.open({ path: options.path, ...storeOptions })
    let plane: FederationControlPlane
    try {
      plane = new FederationControlPlane(store, options)
    } catch (err) {
      await store.close()
      throw err
    }
    plane.locator.start()
    plane.#discovering = plane.discovery?.start().catch(() => {})
    plane.replicator?.start()
    plane.antiEntropy?.start()
    plane.pruner?.start()
    return plane
  }

  /** Stops every component (last started first) and closes the store after its last write. */
  async close(): Promise<void> {
    this.pruner?.close()
    await this.antiEntropy?.close()
    await this.replicator?.close()
    await this.discovery?.close()
    await this.#discovering
    await this.service?.close()
    await this.client?.close()
    await this.locator.close()
    await this.store.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
