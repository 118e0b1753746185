/**
 * Mesh gateways: {@link MeshGateway}, an SNI-routing TLS passthrough proxy that behaves like
 * Consul's mesh gateways for WAN federation; {@link parseClientHello}, which reads the SNI and ALPN
 * from a connection's first bytes without terminating TLS; the route table ({@link routeTable},
 * {@link matchSni}); and {@link renderHaproxyConfig} / {@link renderNginxConfig}, which turn that
 * table into configs for real SNI-routing proxies that behave the same way.
 *
 * @example
 * ```ts
 * import { MeshGateway } from 'wanfed/gateway'
 * import { StaticGatewayLocator } from 'wanfed/locator'
 *
 * const gateway = new MeshGateway({
 *   datacenter: 'dc1',
 *   servers: { bob: '10.0.1.10:8300', alice: '10.0.1.11:8300' },
 *   locator: new StaticGatewayLocator({ dc2: ['10.0.2.1:8443'] }),
 * })
 * await gateway.listen({ host: '0.0.0.0', port: 8443 })
 * ```
 *
 * @packageDocumentation
 */

export type { ListenerStatus, ListenOptions } from '../alpn/listen-options.ts'
export type {
  ClientHelloIncomplete,
  ClientHelloParsed,
  ClientHelloResult,
} from './client-hello.ts'
export { parseClientHello } from './client-hello.ts'
export type {
  GatewayClosedMessage,
  GatewayRejectedMessage,
  GatewayRouteMessage,
  GatewaySplicedMessage,
  GatewayUpstreamErrorMessage,
} from './diagnostics.ts'
export { GATEWAY_DIAGNOSTICS_CHANNELS } from './diagnostics.ts'
export type {
  GatewayRejectInfo,
  GatewayRejectReason,
  GatewayTrafficStats,
  MeshGatewayEvents,
  MeshGatewayOptions,
  MeshGatewayStats,
} from './mesh-gateway.ts'
export {
  DEFAULT_ANSWER_TIMEOUT_MS,
  DEFAULT_CLOSE_QUIET_MS,
  DEFAULT_GATEWAY_CLOSE_GRACE_MS,
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECT_ATTEMPTS,
  DEFAULT_MAX_GATEWAY_CONNECTIONS,
  DEFAULT_MAX_HELLO_BYTES,
  DEFAULT_WRITE_STALL_TIMEOUT_MS,
  MeshGateway,
} from './mesh-gateway.ts'
export type { NginxConfigOptions, ProxyConfigOptions } from './proxy-config.ts'
export { renderHaproxyConfig, renderNginxConfig } from './proxy-config.ts'
export type {
  NoRouteReason,
  RouteEntry,
  RouteKind,
  RouteTable,
  RouteTableOptions,
  ServerRegistry,
  ServerSource,
  SniMatch,
  SniMatchOptions,
} from './routes.ts'
export { matchSni, resolveRoute, routeTable, toServerRegistry } from './routes.ts'
