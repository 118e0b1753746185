import type { Clock } from '../internal/clock.ts'
import { parseClientHello } from './client-hello.ts'
import type { GatewayConn } from './connection.ts'
import type { GatewayRejectReason } from './stats.ts'

const TLS_HANDSHAKE_BYTE = 22

export interface HelloLimits {
  readonly helloTimeoutMs: number
  readonly maxHelloBytes: number
  readonly clock: Clock
}

/** How reading a ClientHello ended: its SNI, or why the connection must be refused. */
export type HelloOutcome =
  | { readonly ok: true; readonly serverName: string | undefined }
  | { readonly ok: false; readonly reason: GatewayRejectReason; readonly error?: Error }

/**
 * Reads the ClientHello of a new connection into `conn.buf`, at most `maxHelloBytes`, within
 * `helloTimeoutMs` (the timer is `conn.timer`, so whoever ends the connection clears it). Calls
 * `done` once, with the SNI (the client is then paused: what follows the hello stays in the
 * socket until the splice reads it) or with the reason to refuse. Nothing is called once the
 * connection has left the `hello` phase.
 */
export function readHello(
  conn: GatewayConn,
  limits: HelloLimits,
  done: (outcome: HelloOutcome) => void,
): void {
  const { client } = conn
  const { clock } = limits
  const finish = (outcome: HelloOutcome) => {
    client.off('data', onData)
    client.off('end', onEnd)
    if (conn.timer !== undefined) clock.clearTimeout(conn.timer)
    conn.timer = undefined
    if (conn.phase === 'hello') done(outcome)
  }
  const onData = (chunk: Buffer) => {
    if (conn.phase !== 'hello') return
    if (conn.size === 0 && chunk[0] !== TLS_HANDSHAKE_BYTE) {
      finish({ ok: false, reason: 'not-tls' })
      return
    }
    append(conn, chunk)
    let result: ReturnType<typeof parseClientHello>
    try {
      result = parseClientHello(conn.buf.subarray(0, conn.size))
    } catch (err) {
      finish({ ok: false, reason: 'malformed', error: err as Error })
      return
    }
    if (result.status === 'incomplete') {
      // `need` is a lower bound, so this refuses a hello that cannot fit before it all arrives.
      if (conn.size + (result.need ?? 1) > limits.maxHelloBytes) {
        finish({ ok: false, reason: 'hello-too-large' })
      }
      return
    }
    if (result.bytes > limits.maxHelloBytes) {
      finish({ ok: false, reason: 'hello-too-large' })
      return
    }
    client.pause()
    finish({ ok: true, serverName: result.serverName })
  }
  const onEnd = () => finish({ ok: false, reason: 'client-closed' })
  conn.timer = clock.setTimeout(() => {
    conn.timer = undefined
    finish({ ok: false, reason: 'hello-timeout' })
  }, limits.helloTimeoutMs)
  client.on('data', onData)
  client.once('end', onEnd)
}

/** Appends to the connection's buffer, doubling it, so a trickled hello costs linear copying. */
function append(conn: GatewayConn, chunk: Buffer): void {
  const needed = conn.size + chunk.length
  if (needed > conn.buf.length) {
    // One chunk may carry the hello and more (TLS 1.3 early data): keep all of it.
    const grown = Buffer.allocUnsafe(Math.max(needed, conn.buf.length * 2))
    conn.buf.copy(grown, 0, 0, conn.size)
    conn.buf = grown
  }
  chunk.copy(conn.buf, conn.size)
  conn.size = needed
}
