import type { Socket } from 'node:net'
import { type GatewayConn, helloBytes } from './connection.ts'

export interface SpliceOptions {
  /** A splice idle both ways this long (ms) is closed; 0 disables. */
  readonly idleTimeoutMs: number
  /**
   * The upstream's first bytes, when the ClientHello was already sent upstream while waiting for
   * them; otherwise the ClientHello is sent now.
   */
  readonly answer: Buffer | undefined
  /** The idle timeout fired (the connection is then destroyed). */
  readonly onIdle: (conn: GatewayConn) => void
  /** The upstream side closed. */
  readonly onUpstreamClosed: (conn: GatewayConn) => void
}

/**
 * Joins the client and the upstream both ways with backpressure and half-close in both
 * directions: the buffered ClientHello goes upstream first, then bytes flow untouched.
 */
export function splice(conn: GatewayConn, upstream: Socket, options: SpliceOptions): void {
  const { client } = conn
  conn.phase = 'spliced'
  conn.upstream = upstream
  if (options.answer === undefined) upstream.write(helloBytes(conn))
  else client.write(options.answer)
  conn.buf = Buffer.alloc(0)
  conn.size = 0

  upstream.once('close', () => {
    conn.upstreamClosed = true
    options.onUpstreamClosed(conn)
  })
  // pipe() carries backpressure and turns one side's FIN into end() on the other. Bytes are
  // counted by the sockets themselves (bytesRead), not by a listener per chunk: the splice is
  // the hot path and a JavaScript callback per chunk each way costs throughput.
  client.pipe(upstream)
  upstream.pipe(client)
  // Every byte either way is read from or written to the client socket, so its own idle timer
  // (refreshed natively on each read and write) is the connection's.
  if (options.idleTimeoutMs > 0) {
    onClientTimeout(conn, options.idleTimeoutMs, () => {
      if (conn.phase !== 'spliced') return
      conn.endReason = 'idle-timeout'
      options.onIdle(conn)
      destroyBoth(conn)
    })
  }
}

/**
 * While the gateway closes: ends the splice once it has been quiet both ways for `ms` (nothing in
 * flight, so nothing is cut), instead of letting an idle pooled connection hold the close for the
 * whole grace period. Replaces the idle timeout, which no longer matters.
 */
export function endWhenQuiet(conn: GatewayConn, ms: number): void {
  if (conn.phase !== 'spliced') return
  onClientTimeout(conn, ms, () => {
    if (conn.phase !== 'spliced') return
    // Bytes still queued towards a slow reader are in flight: the grace deadline decides those.
    if (conn.client.writableLength > 0 || (conn.upstream?.writableLength ?? 0) > 0) {
      endWhenQuiet(conn, ms)
      return
    }
    conn.endReason = 'closing'
    // Nothing is unread or unsent, so the kernel closes both with a FIN, not a reset.
    destroyBoth(conn)
  })
}

function onClientTimeout(conn: GatewayConn, ms: number, fn: () => void): void {
  const { client } = conn
  if (conn.onTimeout !== undefined) client.off('timeout', conn.onTimeout)
  conn.onTimeout = fn
  client.setTimeout(ms)
  client.on('timeout', fn)
}

/**
 * One side of a spliced connection closed. After a clean end both ways the other side closes on
 * its own once its writes are flushed; after an error or a reset it is destroyed now. Returns
 * whether both sides are closed.
 */
export function sideClosed(conn: GatewayConn, side: Socket, other: Socket | undefined): boolean {
  const clean = !side.errored && side.readableEnded && side.writableFinished
  if (!clean) {
    if (conn.endReason === 'closed') conn.endReason = 'reset'
    other?.destroy()
  }
  return conn.clientClosed && conn.upstreamClosed
}

export function destroyBoth(conn: GatewayConn): void {
  conn.client.destroy()
  conn.upstream?.destroy()
}
