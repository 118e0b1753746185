/**
 * Transports: the memberlist-style `Transport` contract, `NetTransport` (UDP packets and TCP
 * streams), `MemoryNetwork` (in-memory transports for tests), node-name parsing, and
 * `WanfedTransport`, which sends same-DC traffic through a wrapped transport and cross-DC traffic
 * through mesh gateways.
 *
 * @example
 * ```ts
 * import { NetTransport, WanfedTransport } from 'wanfed/transport'
 * import { StaticGatewayLocator } from 'wanfed/locator'
 *
 * const transport = new WanfedTransport({
 *   transport: new NetTransport({ bindAddrs: ['0.0.0.0'], bindPort: 8302 }),
 *   datacenter: 'dc1',
 *   locator: new StaticGatewayLocator({ dc2: ['10.0.2.1:8443'] }),
 *   tls: { ca, cert, key },
 * }).attach(alpnServer)
 * transport.on('packet', (packet) => { ... })
 * await transport.listen()
 * ```
 *
 * @packageDocumentation
 */

export type { Clock, TimerHandle } from '../clock.ts'
export type { BaseTransportOptions } from './base-transport.ts'
export { BaseTransport, transportSymbol } from './base-transport.ts'
export { DEFAULT_HIGH_WATER_MARK } from './bounded-iterator.ts'
export type { MemoryNetworkOptions } from './memory-network.ts'
export { MEMORY_MAX_PACKET_SIZE, MemoryNetwork, MemoryTransport } from './memory-network.ts'
export type { NetTransportOptions, NetTransportStats } from './net-transport.ts'
export { DEFAULT_UDP_RECV_BUFFER_SIZE, MAX_UDP_PAYLOAD, NetTransport } from './net-transport.ts'
export type { NodeNameRule, SplitNodeName } from './node-name.ts'
export { splitNodeName } from './node-name.ts'
export type { PacketPoolOptions, PacketPoolStats } from './packet-pool.ts'
export { DEFAULT_POOL_IDLE_TIMEOUT_MS, DEFAULT_POOL_REAP_INTERVAL_MS } from './packet-pool.ts'
export { DEFAULT_FRAME_BODY_TIMEOUT_MS, DEFAULT_FRAME_IDLE_TIMEOUT_MS } from './packet-receiver.ts'
export type {
  Address,
  DialOptions,
  IteratorOptions,
  Packet,
  PacketCounters,
  StreamCounters,
  Transport,
  TransportCapabilities,
  TransportEvents,
  TransportIterator,
  TransportStats,
  TransportStatus,
} from './types.ts'
export type { WanfedTransportOptions, WanfedTransportStats } from './wanfed-transport.ts'
export { WanfedTransport } from './wanfed-transport.ts'
