import type { Duplex } from 'node:stream'
import { TimeoutError } from '../errors.ts'
import { StreamReader } from './stream-reader.ts'
import type { TimerSet } from './timer-set.ts'

/** How long a finished stream may take to flush before it is destroyed. */
export const STREAM_RELEASE_GRACE_MS = 1_000

/**
 * Done with a stream: end our side and destroy it once both sides have ended (or after a grace
 * period). Destroying at once would reset the connection and could lose what was just written,
 * which on a `MemoryStream`, and on TCP with unread bytes, is a reset the peer sees first.
 */
export function releaseStream(stream: Duplex, timers: TimerSet): void {
  if (stream.destroyed) return
  const timer = timers.after(STREAM_RELEASE_GRACE_MS, () => stream.destroy())
  let ended = stream.readableEnded
  let finished = stream.writableFinished
  const check = (): void => {
    if (!ended || !finished) return
    timers.cancel(timer)
    stream.destroy()
  }
  stream.once('end', () => {
    ended = true
    check()
  })
  stream.once('close', () => timers.cancel(timer))
  stream.end(() => {
    finished = true
    check()
  })
  // Drain what the peer still sends, so its end can arrive.
  stream.resume()
  check()
}

/**
 * Runs `fn` with a reader on `stream`, destroying the stream if it takes longer than `ms`
 * (memberlist's connection deadline).
 *
 * @throws {TimeoutError} the deadline passed (`cause` is what the interrupted read threw)
 */
export async function withDeadline<T>(
  stream: Duplex,
  ms: number,
  timers: TimerSet,
  fn: (reader: StreamReader) => Promise<T>,
): Promise<T> {
  const reader = new StreamReader(stream)
  let expired = false
  const timer = timers.after(Math.max(1, ms), () => {
    expired = true
    stream.destroy()
  })
  try {
    return await fn(reader)
  } catch (err) {
    if (expired) throw new TimeoutError(`stream deadline of ${ms} ms passed`, { cause: err })
    throw err
  } finally {
    timers.cancel(timer)
    reader.detach()
  }
}
