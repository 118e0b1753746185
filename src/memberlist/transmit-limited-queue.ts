import { retransmitLimit } from './timing.ts'

/**
 * Something to gossip (memberlist's `Broadcast`). Give it a `name` to make it replace any queued
 * broadcast of the same name (`NamedBroadcast`), or `unique: true` to never replace or be
 * replaced (`UniqueBroadcast`); otherwise `invalidates` decides.
 */
export interface Broadcast {
  /** True when this broadcast makes `other` obsolete (then `other` is dropped). */
  invalidates(other: Broadcast): boolean
  message(): Uint8Array
  /** Called once, when it was sent often enough or was replaced. */
  finished(): void
  readonly name?: string
  readonly unique?: boolean
}

interface Entry {
  transmits: number
  msgLen: number
  id: number
  b: Broadcast
  name: string
}

/** The queue's order: fewest transmits first, then longest, then newest. */
function before(a: Entry, b: Entry): boolean {
  if (a.transmits !== b.transmits) return a.transmits < b.transmits
  if (a.msgLen !== b.msgLen) return a.msgLen > b.msgLen
  return a.id > b.id
}

/**
 * memberlist's `TransmitLimitedQueue` (`queue.go`): broadcasts piggybacked on gossip and probes,
 * least-sent first, each sent `retransmitMult * ceil(log10(n + 1))` times for a cluster of `n`,
 * and dropped early when a newer broadcast invalidates it.
 */
export class TransmitLimitedQueue {
  readonly #entries: Entry[] = []
  readonly #byName = new Map<string, Entry>()
  #idGen = 0

  constructor(
    /** The cluster size the transmit limit scales with. */
    readonly numNodes: () => number,
    readonly retransmitMult: number,
  ) {}

  queueBroadcast(b: Broadcast): void {
    this.#idGen = this.#idGen >= Number.MAX_SAFE_INTEGER ? 1 : this.#idGen + 1
    const e: Entry = {
      transmits: 0,
      msgLen: b.message().length,
      id: this.#idGen,
      b,
      name: b.name ?? '',
    }
    if (e.name !== '') {
      const old = this.#byName.get(e.name)
      if (old !== undefined) {
        old.b.finished()
        this.#delete(old)
      }
    } else if (b.unique !== true) {
      for (const cur of this.#entries.slice()) {
        if ((cur.b.name ?? '') !== '' || cur.b.unique === true) continue
        if (b.invalidates(cur.b)) {
          cur.b.finished()
          this.#delete(cur)
        }
      }
    }
    this.#insert(e)
  }

  #insert(e: Entry): void {
    let i = this.#entries.findIndex((x) => before(e, x))
    if (i < 0) i = this.#entries.length
    this.#entries.splice(i, 0, e)
    if (e.name !== '') this.#byName.set(e.name, e)
  }

  #delete(e: Entry): void {
    const i = this.#entries.indexOf(e)
    if (i >= 0) this.#entries.splice(i, 1)
    if (e.name !== '' && this.#byName.get(e.name) === e) this.#byName.delete(e.name)
    if (this.#entries.length === 0) this.#idGen = 0
  }

  /**
   * Broadcasts that fit in `limit` bytes with `overhead` bytes each, least-sent first and, within
   * a transmit count, the largest that fits.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.#entries.length === 0) return []
    const transmitLimit = retransmitLimit(this.retransmitMult, this.numNodes())
    let bytesUsed = 0
    const toSend: Uint8Array[] = []
    const reinsert: Entry[] = []
    // The entries are in queue order: the first one that fits is the one Go's B-tree walk picks.
    for (let i = 0; i < this.#entries.length; ) {
      const free = limit - bytesUsed - overhead
      if (free <= 0) break
      const cur = this.#entries[i] as Entry
      if (cur.msgLen > free) {
        i++
        continue
      }
      const msg = cur.b.message()
      bytesUsed += overhead + msg.length
      toSend.push(msg)
      this.#delete(cur)
      if (cur.transmits + 1 >= transmitLimit) cur.b.finished()
      else {
        cur.transmits++
        reinsert.push(cur)
      }
    }
    for (const e of reinsert) this.#insert(e)
    return toSend
  }

  numQueued(): number {
    return this.#entries.length
  }

  /** Drops everything, telling each broadcast it finished. */
  reset(): void {
    for (const e of this.#entries) e.b.finished()
    this.#entries.length = 0
    this.#byName.clear()
    this.#idGen = 0
  }

  /** Keeps at most `maxRetain` broadcasts, dropping the most-sent first. */
  prune(maxRetain: number): void {
    while (this.#entries.length > maxRetain) {
      const e = this.#entries[this.#entries.length - 1] as Entry
      e.b.finished()
      this.#delete(e)
    }
  }
}
