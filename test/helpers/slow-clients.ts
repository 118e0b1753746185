import { connect, type Socket } from 'node:net'
import { median, percentile } from '../../bench/lib/percentiles.ts'
import type { Cleanup } from './leaks.ts'

export interface SlowClients {
  /** Connections the far side has closed so far. */
  closed(): number
  /** Connections that connected. */
  readonly connected: number
}

/**
 * `count` TCP connections to `port` on 127.0.0.1, spread over `sources` source addresses
 * (127.0.1.1, 127.0.1.2, ...: loopback accepts any 127/8 address, and a server's per-IP limit
 * then sees an attacker on several hosts). Even-numbered ones send nothing; odd ones send the next
 * byte of `trickle` every `everyMs` (one byte a second by default). Connected in batches, so the
 * listen backlog never overflows and no SYN waits for a retry. The sockets and the timer are
 * released by `cleanups`, and by `stop()`.
 */
export async function slowClients(options: {
  port: number
  count: number
  sources: number
  trickle: Buffer
  everyMs?: number
  cleanups: Cleanup[]
}): Promise<SlowClients & { stop(): void }> {
  const sockets: Socket[] = []
  let closed = 0
  let connected = 0
  const batch = 100
  for (let i = 0; i < options.count; i += batch) {
    const pending: Promise<void>[] = []
    for (let j = i; j < Math.min(options.count, i + batch); j++) {
      const s = connect({
        host: '127.0.0.1',
        port: options.port,
        localAddress: `127.0.1.${1 + (j % options.sources)}`,
      })
      s.on('error', () => {})
      s.once('close', () => closed++)
      // Read whatever the server sends (an alert), so its close is seen.
      s.resume()
      sockets.push(s)
      pending.push(
        new Promise<void>((resolve) => {
          s.once('connect', () => {
            connected++
            resolve()
          })
          s.once('close', () => resolve())
        }),
      )
    }
    await Promise.all(pending)
  }
  let sent = 0
  const timer = setInterval(() => {
    const byte = options.trickle.subarray(
      sent % options.trickle.length,
      (sent % options.trickle.length) + 1,
    )
    sent++
    for (let k = 1; k < sockets.length; k += 2) {
      const s = sockets[k] as Socket
      if (!s.destroyed && s.writable) s.write(byte)
    }
  }, options.everyMs ?? 1_000)
  const stop = () => {
    clearInterval(timer)
    for (const s of sockets) s.destroy()
  }
  options.cleanups.push(stop)
  return {
    closed: () => closed,
    get connected() {
      return connected
    },
    stop,
  }
}

/** Median and 99th percentile of `samples`, in the samples' unit. */
export function percentiles(samples: readonly number[]): { median: number; p99: number } {
  return { median: median(samples), p99: percentile(samples, 99) }
}
