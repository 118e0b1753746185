/**
 * The opt-in HTTP admin endpoint: Consul's federation-state debug APIs, a status page, a health
 * check and Prometheus metrics from every registered component's `stats()`.
 *
 * @example
 * ```ts
 * import { createAdminServer } from 'wanfed/admin'
 *
 * const admin = createAdminServer({
 *   datacenter: 'dc1',
 *   federationStates: store,
 *   components: { transports: { wan: transport }, gateways: { main: gateway } },
 * })
 * await admin.listen({ port: 8501 }) // 127.0.0.1 unless a host is given
 * ```
 *
 * @packageDocumentation
 */

export type {
  AdminComponents,
  LocatorSource,
  StatsSource,
} from './components.ts'
export type { AdminEndpointOptions, AdminEndpointStats } from './endpoint.ts'
export {
  ADMIN_FEDERATION_STATE_PATH,
  ADMIN_FEDERATION_STATES_PATH,
  ADMIN_HEALTH_PATH,
  ADMIN_MESH_GATEWAYS_PATH,
  ADMIN_METRICS_PATH,
  ADMIN_STATUS_PATH,
  AdminEndpoint,
  DEFAULT_ADMIN_MAX_URL_LENGTH,
  FEDERATION_STATES_COMPONENT,
} from './endpoint.ts'
export { PROMETHEUS_CONTENT_TYPE } from './prometheus.ts'
export type { AdminServerOptions } from './server.ts'
export {
  AdminServer,
  createAdminServer,
  DEFAULT_ADMIN_HEADERS_TIMEOUT_MS,
  DEFAULT_ADMIN_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_ADMIN_MAX_CONNECTIONS,
  DEFAULT_ADMIN_MAX_HEADER_BYTES,
  DEFAULT_ADMIN_REQUEST_TIMEOUT_MS,
} from './server.ts'
