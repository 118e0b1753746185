/**
 * wanfed: WAN federation through mesh gateways for Node gossip apps. Same-DC traffic goes through
 * your transport unchanged; traffic to another datacenter travels as TLS with SNI
 * `<node>.server.<dc>.<domain>` and ALPN `consul/wan-gossip/packet` or `consul/wan-gossip/stream`
 * through gateways that route on SNI, wire-compatible with Consul.
 *
 * This entry point re-exports every public module except `wanfed/testing` (which needs vitest), and
 * the error classes. The list is explicit so that nothing internal leaks out by accident; a test keeps
 * it equal to the submodules' exports.
 *
 * @example
 * ```ts
 * import { AlpnServer, NetTransport, StaticGatewayLocator, WanfedTransport } from 'wanfed'
 *
 * const server = new AlpnServer({ tls })
 * const transport = new WanfedTransport({
 *   transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
 *   datacenter: 'dc1',
 *   locator: new StaticGatewayLocator({ dc2: ['127.0.0.1:8443'] }),
 *   tls,
 * }).attach(server)
 * await server.listen({ port: 8300 })
 * await transport.listen()
 * ```
 *
 * @packageDocumentation
 * @module wanfed
 */

export type {
  AlpnConnectionInfo,
  AlpnHandler,
  AlpnServerEvents,
  AlpnServerOptions,
  AlpnServerStats,
  DialConnectedMessage,
  DialErrorMessage,
  DialStartMessage,
  DialViaGatewayOptions,
  FrameDecoderOptions,
  FrameHandler,
  LegacyConnectionInfo,
  LegacyHandler,
  ListenerStatus,
  ListenOptions,
  ParsedServerSni,
  Pem,
  RejectReason,
  ServerAcceptedMessage,
  ServerLegacyMessage,
  ServerRejectedMessage,
  TlsCredentials,
} from './alpn/index.ts'
export {
  ALPN_DIAGNOSTICS_CHANNELS,
  ALPN_RPC_CONSUL,
  ALPN_RPC_GOSSIP,
  ALPN_RPC_GRPC,
  ALPN_RPC_MULTIPLEX_V2,
  ALPN_RPC_RAFT,
  ALPN_RPC_RAFT_FORWARDING,
  ALPN_RPC_SNAPSHOT,
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DOMAIN,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_CONNS_PER_CLIENT,
  DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
  dialViaGateway,
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  isNativeTlsFirstByte,
  MAX_PACKET_SIZE,
  parseServerSni,
  RPC_MAX_TYPE_VALUE,
  RPC_NEXT_PROTOS,
  RpcType,
  serverSni,
  TlsSessionCache,
} from './alpn/index.ts'
export type {
  CertificateAuthority,
  CertificateAuthorityOptions,
  CertificateKeyPair,
  ClientCertificateOptions,
  KeyType,
  LabelRule,
  LeafCertificateOptions,
  NormalizeDomainOptions,
  ServerCertificateOptions,
  ValidityOptions,
} from './certs/index.ts'
export {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  loadCertificateAuthority,
  normalizeDomain,
} from './certs/index.ts'
export type {
  WanfedErrorCode,
  WanfedErrorOptions,
} from './errors.ts'
export {
  AbortError,
  AlpnMismatchError,
  CertificateError,
  ClientHelloError,
  ClosedError,
  ConnectTimeoutError,
  DestroyedError,
  FrameEmptyError,
  FrameStalledError,
  FrameTooLargeError,
  FrameTruncatedError,
  HandshakeTimeoutError,
  InvalidArgumentError,
  InvalidNodeNameError,
  isWanfedError,
  NoGatewayError,
  NoRouteError,
  NotListeningError,
  PacketTooLargeError,
  SocketError,
  TimeoutError,
  TlsError,
  WanfedError,
} from './errors.ts'
export type {
  ClientHelloIncomplete,
  ClientHelloParsed,
  ClientHelloResult,
  GatewayClosedMessage,
  GatewayRejectedMessage,
  GatewayRejectInfo,
  GatewayRejectReason,
  GatewayRouteMessage,
  GatewaySplicedMessage,
  GatewayTrafficStats,
  GatewayUpstreamErrorMessage,
  MeshGatewayEvents,
  MeshGatewayOptions,
  MeshGatewayStats,
  NginxConfigOptions,
  NoRouteReason,
  ProxyConfigOptions,
  RouteEntry,
  RouteKind,
  RouteTable,
  RouteTableOptions,
  ServerRegistry,
  ServerSource,
  SniMatch,
  SniMatchOptions,
} from './gateway/index.ts'
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
  GATEWAY_DIAGNOSTICS_CHANNELS,
  MeshGateway,
  matchSni,
  parseClientHello,
  renderHaproxyConfig,
  renderNginxConfig,
  resolveRoute,
  routeTable,
  toServerRegistry,
} from './gateway/index.ts'
export type {
  BackoffOptions,
  GatewayHealth,
  GatewayLocator,
  StaticGatewayLocatorOptions,
} from './locator/index.ts'
export { StaticGatewayLocator } from './locator/index.ts'
export type {
  Address,
  BaseTransportOptions,
  Clock,
  DialOptions,
  IteratorOptions,
  MemoryNetworkOptions,
  NetTransportOptions,
  NetTransportStats,
  NodeNameRule,
  Packet,
  PacketCounters,
  PacketPoolOptions,
  PacketPoolStats,
  SplitNodeName,
  StreamCounters,
  TimerHandle,
  Transport,
  TransportCapabilities,
  TransportEvents,
  TransportIterator,
  TransportStats,
  TransportStatus,
  WanfedTransportOptions,
  WanfedTransportStats,
} from './transport/index.ts'
export {
  BaseTransport,
  DEFAULT_FRAME_BODY_TIMEOUT_MS,
  DEFAULT_FRAME_IDLE_TIMEOUT_MS,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_POOL_IDLE_TIMEOUT_MS,
  DEFAULT_POOL_REAP_INTERVAL_MS,
  DEFAULT_UDP_RECV_BUFFER_SIZE,
  MAX_UDP_PAYLOAD,
  MEMORY_MAX_PACKET_SIZE,
  MemoryNetwork,
  MemoryTransport,
  NetTransport,
  splitNodeName,
  transportSymbol,
  WanfedTransport,
} from './transport/index.ts'
