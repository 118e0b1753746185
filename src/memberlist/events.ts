import type { Node } from './node.ts'

/** Events of a `Memberlist`; each carries a snapshot of the member. */
export interface MemberlistEvents {
  /** A member joined (or came back from dead or left). memberlist's `NotifyJoin`. */
  join: (node: Node) => void
  /** A member left or was declared dead (`node.state` says which). memberlist's `NotifyLeave`. */
  leave: (node: Node) => void
  /** A member's meta changed. memberlist's `NotifyUpdate`. */
  update: (node: Node) => void
  /** A member became alive: joined, or refuted a suspicion. */
  alive: (node: Node) => void
  /** A member is suspected of having failed. */
  suspect: (node: Node) => void
  /** A member was declared dead or left. */
  dead: (node: Node) => void
  /** Emitted once, after `close()` released everything. */
  close: () => void
}

export type MemberEventType = 'join' | 'leave' | 'update' | 'alive' | 'suspect' | 'dead'

/** What `Memberlist.events()` yields. */
export interface MemberEvent {
  type: MemberEventType
  node: Node
}

/** Counters in `Memberlist.stats()`. */
export interface MemberlistStats {
  status: 'running' | 'left' | 'closed'
  members: number
  healthScore: number
  packets: { received: number; sent: number; sendErrors: number }
  streams: { accepted: number; dialed: number; errors: number }
  /** Messages handled, by type. */
  messages: Record<string, number>
  /** Inbound messages dropped, by reason (`GossipDecodeError.reason`, `decrypt`, `wrong-node`, ...). */
  dropped: Record<string, number>
  probes: { sent: number; acked: number; indirect: number; failed: number }
  broadcastsQueued: number
}
