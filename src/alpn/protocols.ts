/**
 * Consul's protocol identifiers: the legacy RPC type bytes of its server port and the ALPN ids
 * that replace them on native-TLS connections. Values are exactly Consul's (`agent/pool/conn.go`).
 */

/** `consul/rpc-single`: type byte 0, one msgpack RPC per connection. */
export const ALPN_RPC_CONSUL = 'consul/rpc-single'
/** `consul/raft`: type byte 1. */
export const ALPN_RPC_RAFT = 'consul/raft'
/** `consul/rpc-multi`: type byte 4, yamux-multiplexed RPC. */
export const ALPN_RPC_MULTIPLEX_V2 = 'consul/rpc-multi'
/** `consul/rpc-snapshot`: type byte 5. */
export const ALPN_RPC_SNAPSHOT = 'consul/rpc-snapshot'
/** `consul/rpc-gossip`: type byte 6 (network areas). */
export const ALPN_RPC_GOSSIP = 'consul/rpc-gossip'
/** `consul/rpc-grpc`: type byte 8. */
export const ALPN_RPC_GRPC = 'consul/rpc-grpc'
/** `consul/raft-forwarding`: type byte 9. */
export const ALPN_RPC_RAFT_FORWARDING = 'consul/raft-forwarding'
/** `consul/wan-gossip/packet`: length-prefixed gossip packets; no type byte exists for it. */
export const ALPN_WAN_GOSSIP_PACKET = 'consul/wan-gossip/packet'
/** `consul/wan-gossip/stream`: one gossip stream per TLS connection; no type byte exists for it. */
export const ALPN_WAN_GOSSIP_STREAM = 'consul/wan-gossip/stream'

/**
 * The ALPN list a Consul server advertises, in its order (current upstream).
 */
export const RPC_NEXT_PROTOS: readonly string[] = Object.freeze([
  ALPN_RPC_CONSUL,
  ALPN_RPC_RAFT,
  ALPN_RPC_MULTIPLEX_V2,
  ALPN_RPC_SNAPSHOT,
  ALPN_RPC_GOSSIP,
  ALPN_RPC_GRPC,
  ALPN_RPC_RAFT_FORWARDING,
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
])

/** Consul's legacy RPC type bytes (the first byte of a plain TCP connection to its server port). */
export const RpcType = Object.freeze({
  Consul: 0,
  Raft: 1,
  Multiplex: 2,
  TLS: 3,
  MultiplexV2: 4,
  Snapshot: 5,
  Gossip: 6,
  TLSInsecure: 7,
  GRPC: 8,
  RaftForwarding: 9,
} as const)

/**
 * The highest legacy type byte (9 since Consul 1.15; it was 7 originally and 8 from 2020).
 * A first byte above it is native TLS. TLS records start at content type 20 (a ClientHello is
 * 0x16) and 0..19 are unassigned (RFC 7983), so the two ranges never collide.
 */
export const RPC_MAX_TYPE_VALUE = 9

/** True when a connection whose first byte is `byte` carries native TLS rather than a type byte. */
export function isNativeTlsFirstByte(
  byte: number,
  maxTypeValue: number = RPC_MAX_TYPE_VALUE,
): boolean {
  return byte > maxTypeValue
}
