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
 * @packageDocumentation
 */

export type { BackoffOptions } from './backoff-options.ts'
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
export { FAILURES_BEFORE_DIALING_DIRECTLY } from './federation/replication-signal.ts'
export type { FederationStateClientOptions } from './federation/rpc-client.ts'
export { DEFAULT_RPC_TIMEOUT_MS, FederationStateClient } from './federation/rpc-client.ts'
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
