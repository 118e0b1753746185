import type { Socket } from 'node:net'
import type { Clock, TimerHandle } from '../internal/clock.ts'
import type { GatewayConn } from './connection.ts'

/** Which way the bytes that stopped were going. */
export type StalledSide = 'upstream' | 'client'

/** What a socket had flushed to its kernel when last seen, and since when that stood still. */
interface Progress {
  flushed: number
  since: number
}

/**
 * Notices a splice whose writes stopped: bytes wait in a socket's buffer and none of them has
 * reached the kernel for `ms`. That is how a black-holed link or a hung peer shows from user
 * space once the kernel's send buffer is full (Node has no `TCP_USER_TIMEOUT`, and the kernel
 * would retransmit for about 15 minutes): on a packet connection nothing ever comes back, so
 * neither the dialling node nor the idle timer, which steady traffic keeps resetting, sees it.
 * A slow but moving reader is progress and never stalls.
 *
 * One timer per gateway, not per splice: it runs only while splices are watched.
 */
export class WriteStallWatch {
  readonly #clock: Clock
  readonly #ms: number
  readonly #onStall: (conn: GatewayConn, side: StalledSide) => void
  readonly #conns = new Map<GatewayConn, { upstream: Progress; client: Progress }>()
  #timer: TimerHandle | undefined

  /** `ms` 0 watches nothing. */
  constructor(clock: Clock, ms: number, onStall: (conn: GatewayConn, side: StalledSide) => void) {
    this.#clock = clock
    this.#ms = ms
    this.#onStall = onStall
  }

  add(conn: GatewayConn): void {
    if (this.#ms <= 0) return
    const now = this.#clock.now()
    this.#conns.set(conn, {
      upstream: { flushed: 0, since: now },
      client: { flushed: 0, since: now },
    })
    // A quarter of the timeout between looks: a stall is seen between `ms` and 1.25 × `ms`.
    this.#timer ??= this.#clock.setInterval(() => this.#check(), Math.max(25, this.#ms / 4))
  }

  delete(conn: GatewayConn): void {
    if (!this.#conns.delete(conn) || this.#conns.size > 0) return
    this.stop()
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearInterval(this.#timer)
    this.#timer = undefined
    this.#conns.clear()
  }

  #check(): void {
    const now = this.#clock.now()
    // Deleting the entry being visited is safe while iterating a Map.
    for (const [conn, p] of this.#conns) {
      if (conn.phase !== 'spliced' || conn.upstream === undefined) continue
      const side = stalled(conn.upstream, p.upstream, now, this.#ms)
        ? 'upstream'
        : stalled(conn.client, p.client, now, this.#ms)
          ? 'client'
          : undefined
      if (side === undefined) continue
      this.delete(conn)
      this.#onStall(conn, side)
    }
  }
}

function stalled(socket: Socket, p: Progress, now: number, ms: number): boolean {
  if (socket.destroyed) return false
  const pending = socket.writableLength
  // bytesWritten counts what is still buffered too; the rest has been handed to the kernel.
  const flushed = socket.bytesWritten - pending
  if (pending === 0 || flushed !== p.flushed) {
    p.flushed = flushed
    p.since = now
    return false
  }
  return now - p.since >= ms
}
