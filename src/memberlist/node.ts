/** A member's state as memberlist numbers it on the wire (`NodeStateType`). */
export type NodeState = 'alive' | 'suspect' | 'dead' | 'left'

export const NODE_STATE_WIRE: Record<NodeState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 }
const FROM_WIRE: readonly NodeState[] = ['alive', 'suspect', 'dead', 'left']

/** The state for a wire number; unknown numbers are undefined (memberlist ignores them in merges). */
export function nodeStateFromWire(n: number): NodeState | undefined {
  return FROM_WIRE[n]
}

/** A member as this node sees it (memberlist's `Node`). A snapshot: it does not change later. */
export interface Node {
  readonly name: string
  /** The advertised IP, as text. */
  readonly addr: string
  readonly port: number
  /** `addr:port` (`[addr]:port` for IPv6). */
  readonly address: string
  /** Metadata from the member's delegate (Serf puts its tags here). */
  readonly meta: Buffer
  readonly state: NodeState
  readonly incarnation: number
  /** Protocol versions: min, max and current. */
  readonly pMin: number
  readonly pMax: number
  readonly pCur: number
  /** Delegate protocol versions: min, max and current. */
  readonly dMin: number
  readonly dMax: number
  readonly dCur: number
}
