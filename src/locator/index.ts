/**
 * Gateway locators: which mesh gateway carries traffic to a datacenter.
 *
 * @example
 * ```ts
 * import { StaticGatewayLocator } from 'wanfed/locator'
 *
 * const locator = new StaticGatewayLocator({ dc2: ['10.0.2.1:8443', '10.0.2.2:8443'] })
 * locator.pickGateway('dc2') // one of them; a gateway that failed is avoided for a while
 * ```
 *
 * Gateways learned from federation states instead, as Consul's WAN federation does: each DC's
 * gateways are pushed to the primary and replicated from it to every secondary over the gateways.
 *
 * ```ts
 * import { FederationControlPlane } from 'wanfed/locator'
 *
 * const plane = await FederationControlPlane.start({
 *   datacenter: 'dc2',
 *   primaryDatacenter: 'dc1',
 *   tls, // this node's certificate and the CA
 *   server, // this node's AlpnServer: serves the federation-state service
 *   path: '/var/lib/wanfed/federation-states', // persisted store
 *   gateways: () => myGatewaysFromTheCatalog(), // this DC's own, pushed by anti-entropy
 *   primaryGateways: ['gw.dc1.example.com:8443'], // Consul's primary_gateways
 * })
 * // For this node's cross-DC traffic (WanfedTransport's locator):
 * plane.locator.pickGateway('dc1')
 * // For a MeshGateway of this DC (its locator for remote DCs):
 * new MeshGateway({ datacenter: 'dc2', servers, locator: plane.routes })
 * ```
 *
 * @packageDocumentation
 */

export type { BackoffOptions } from './backoff-options.ts'
export type {
  AntiEntropyRound,
  FederationStateAntiEntropyEvents,
  FederationStateAntiEntropyOptions,
  FederationStateWriter,
  GatewaySource,
} from './federation/anti-entropy.ts'
export { FederationStateAntiEntropy } from './federation/anti-entropy.ts'
export {
  toConsulCheckServiceNodeJson,
  toConsulFederationStateJson,
} from './federation/consul-json.ts'
export type { FederationControlPlaneOptions } from './federation/control-plane.ts'
export { FederationControlPlane } from './federation/control-plane.ts'
export type {
  FederationGatewayLocatorEvents,
  FederationGatewayLocatorOptions,
  LocatorDecision,
} from './federation/gateway-locator.ts'
export {
  FederationGatewayLocator,
  LOCATOR_MAX_ERROR_BACKOFF_MS,
  LOCATOR_REFRESH_BURST,
  LOCATOR_REFRESH_RATE,
} from './federation/gateway-locator.ts'
export type {
  FallbackTarget,
  PrimaryGatewayDiscoveryEvents,
  PrimaryGatewayDiscoveryOptions,
} from './federation/primary-gateway-discovery.ts'
export {
  PRIMARY_GATEWAYS_INTERVAL_MS,
  PrimaryGatewayDiscovery,
} from './federation/primary-gateway-discovery.ts'
export type { FederationStatePrunerOptions } from './federation/pruner.ts'
export {
  FEDERATION_STATE_PRUNE_INTERVAL_MS,
  FederationStatePruner,
} from './federation/pruner.ts'
export { FAILURES_BEFORE_DIALING_DIRECTLY } from './federation/replication-signal.ts'
export type {
  FederationStateReplicatorEvents,
  FederationStateReplicatorOptions,
  FederationStateSource,
  ReplicationListener,
  ReplicationRound,
} from './federation/replicator.ts'
export {
  FederationStateReplicator,
  REPLICATION_APPLY_LIMIT,
  REPLICATION_BURST,
  REPLICATION_JITTER,
  REPLICATION_MAX_BACKOFF_MS,
  REPLICATION_MIN_BACKOFF_MS,
  REPLICATION_RATE,
} from './federation/replicator.ts'
export type { FederationRoutesOptions } from './federation/routes.ts'
export { FederationRoutes } from './federation/routes.ts'
export type { FederationStateClientOptions } from './federation/rpc-client.ts'
export {
  DEFAULT_LIVENESS_INTERVAL_MS,
  DEFAULT_RPC_TIMEOUT_MS,
  FederationStateClient,
} from './federation/rpc-client.ts'
export { ALPN_FEDERATION_STATE } from './federation/rpc-protocol.ts'
export type { FederationStateServiceOptions } from './federation/rpc-service.ts'
export { DEFAULT_RPC_IDLE_TIMEOUT_MS, FederationStateService } from './federation/rpc-service.ts'
export type {
  FederationState,
  GatewayNode,
  GatewayService,
  HealthCheck,
  HealthStatus,
  MeshGatewayEntry,
  ServiceAddress,
} from './federation/state.ts'
export {
  isSameFederationState,
  META_WAN_FEDERATION_KEY,
  META_WAN_FEDERATION_VALUE,
} from './federation/state.ts'
export type {
  BlockingQueryOptions,
  FederationStateOp,
  FederationStateRequest,
  FederationStateStoreOptions,
  FederationStateStoreStats,
  GetResult,
  ListMeshGatewaysResult,
  ListResult,
  OpenFederationStateStoreOptions,
} from './federation/store.ts'
export { FederationStateStore } from './federation/store.ts'
export type { FederationStateInput, MeshGatewayInput } from './federation/validate.ts'
export { parseFederationState } from './federation/validate.ts'
export {
  DEFAULT_QUERY_TIME_MS,
  MAX_QUERY_TIME_MS,
} from './federation/watchers.ts'
export type { GatewayHealth } from './gateway-health.ts'
export type { StaticGatewayLocatorOptions } from './static.ts'
export { StaticGatewayLocator } from './static.ts'
export type { GatewayLocator } from './types.ts'
