import type { Node } from './node.ts'

/**
 * The application's hooks (memberlist's `Delegate`). Every method is optional.
 */
export interface Delegate {
  /** Metadata gossiped with this node's `alive`, at most `limit` (512) bytes. Serf puts its tags here. */
  nodeMeta?(limit: number): Uint8Array
  /** A user message arrived (best-effort or reliable). */
  notifyMsg?(msg: Buffer): void
  /** User broadcasts to piggyback on gossip: each at most `limit` bytes with `overhead` each. */
  getBroadcasts?(overhead: number, limit: number): Uint8Array[]
  /** State sent with a push/pull (`join` on a join). */
  localState?(join: boolean): Uint8Array
  /** A peer's state from a push/pull. */
  mergeRemoteState?(buf: Buffer, join: boolean): void
}

/** Vets every `alive` before it changes anything (`AliveDelegate`). Throw to refuse the member. */
export interface AliveDelegate {
  notifyAlive(peer: Node): void
}

/** Vets the whole state of a cluster being joined (`MergeDelegate`). Throw to refuse the merge. */
export interface MergeDelegate {
  notifyMerge(peers: Node[]): void
}

/** Told when another node claims a known node's name from another address (`ConflictDelegate`). */
export interface ConflictDelegate {
  notifyConflict(existing: Node, other: Node): void
}

/** Custom ack payloads and round-trip times of probes (`PingDelegate`). */
export interface PingDelegate {
  ackPayload(): Uint8Array
  notifyPingComplete(other: Node, rttMs: number, payload: Buffer): void
}
