/**
 * `wanfed/memberlist`: a gossip layer that speaks Go memberlist's protocol (SWIM with Lifeguard,
 * msgpack bodies, compound, LZW, CRC, AES-GCM keyring, labels, push/pull), so a Node process is a
 * member of the same pool as Consul servers and Serf agents, over any wanfed `Transport`.
 *
 * @example
 * ```ts
 * import { DefaultLANConfig, Memberlist } from 'wanfed/memberlist'
 * import { NetTransport } from 'wanfed/transport'
 *
 * const transport = new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: 7946 })
 * const ml = await Memberlist.create({ ...DefaultLANConfig(), name: 'node-a', transport })
 * ml.on('join', (node) => console.log(node.name, node.address))
 * await ml.join(['127.0.0.1:7947'])
 * ```
 *
 * @packageDocumentation
 */

export type { MemberlistConfig, MemberlistOptions } from './config.ts'
export { DefaultLANConfig, DefaultLocalConfig, DefaultWANConfig } from './config.ts'
export type {
  AliveDelegate,
  ConflictDelegate,
  Delegate,
  MergeDelegate,
  PingDelegate,
} from './delegates.ts'
export type { MemberEvent, MemberEventType, MemberlistEvents, MemberlistStats } from './events.ts'
export { Keyring } from './keyring.ts'
export { Memberlist } from './memberlist.ts'
export type { Node, NodeState } from './node.ts'
export {
  decodeSerfTags,
  encodeSerfLeaveIntent,
  encodeSerfTags,
  serfLamportTime,
} from './serf-tags.ts'
export type { Broadcast } from './transmit-limited-queue.ts'
export { TransmitLimitedQueue } from './transmit-limited-queue.ts'
