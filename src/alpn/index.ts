/**
 * The wire: Consul's protocol ids and first-byte rule, the packet frame codec, SNI names, dialing
 * a server through a mesh gateway (TCP, then mutual TLS with SNI and one ALPN protocol), and
 * {@link AlpnServer}, the port that sniffs the first byte and dispatches on ALPN.
 *
 * @example
 * ```ts
 * import { ALPN_WAN_GOSSIP_PACKET, dialViaGateway, encodeFrame } from 'wanfed/alpn'
 *
 * const socket = await dialViaGateway({
 *   gateway: '10.0.2.1:8443', datacenter: 'dc2', node: 'bob',
 *   alpn: ALPN_WAN_GOSSIP_PACKET, tls: { ca, cert, key },
 * })
 * socket.write(encodeFrame(packet))
 * ```
 *
 * @packageDocumentation
 */

export type {
  DialConnectedMessage,
  DialErrorMessage,
  DialStartMessage,
  ServerAcceptedMessage,
  ServerLegacyMessage,
  ServerRejectedMessage,
} from './diagnostics.ts'
export { ALPN_DIAGNOSTICS_CHANNELS } from './diagnostics.ts'
export type { DialViaGatewayOptions } from './dial.ts'
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, dialViaGateway } from './dial.ts'
export type { FrameDecoderOptions, FrameHandler } from './frame.ts'
export {
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  MAX_PACKET_SIZE,
} from './frame.ts'
export type { ListenerStatus, ListenOptions } from './listen-options.ts'
export {
  ALPN_RPC_CONSUL,
  ALPN_RPC_GOSSIP,
  ALPN_RPC_GRPC,
  ALPN_RPC_MULTIPLEX_V2,
  ALPN_RPC_RAFT,
  ALPN_RPC_RAFT_FORWARDING,
  ALPN_RPC_SNAPSHOT,
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  isNativeTlsFirstByte,
  RPC_MAX_TYPE_VALUE,
  RPC_NEXT_PROTOS,
  RpcType,
} from './protocols.ts'
export type {
  AlpnConnectionInfo,
  AlpnHandler,
  AlpnHandlerOptions,
  AlpnServerEvents,
  AlpnServerOptions,
  AlpnServerStats,
  LegacyConnectionInfo,
  LegacyHandler,
  RejectReason,
} from './server.ts'
export {
  AlpnServer,
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_MAX_CONNS_PER_CLIENT,
  DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
} from './server.ts'
export { TlsSessionCache } from './session-cache.ts'
export type { ParsedServerSni } from './sni.ts'
export { DEFAULT_DOMAIN, parseServerSni, serverSni } from './sni.ts'
export type { Pem, TlsCredentials } from './tls-options.ts'
