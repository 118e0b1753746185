import { connect, type Socket } from 'node:net'
import { TimeoutError } from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import type { Clock, TimerHandle } from '../internal/clock.ts'
import { connectError } from '../internal/socket-errors.ts'
import { checkNumber } from '../internal/validate.ts'

export interface DialTcpOptions {
  host: string
  port: number
  /** Connect deadline in ms; `Infinity` for none. */
  timeoutMs: number
  clock: Clock
  /** The caller's signal: rejects with `AbortError` (or `TimeoutError` for `AbortSignal.timeout`). */
  signal?: AbortSignal | undefined
  /** The owner's lifetime: when it aborts the dial rejects with its reason as is (`ClosedError`, `DestroyedError`). */
  lifetime?: AbortSignal | undefined
  /** The local address to connect from. Default: the system's choice. */
  localAddress?: string | undefined
  /** Names the dial in error messages. */
  what: string
}

/**
 * Checks a dial timeout: a positive number of ms, `Infinity` meaning none. Zero and negative values
 * are refused rather than treated as "already expired" so a caller's arithmetic bug is loud.
 * @internal
 */
export function checkTimeout(timeoutMs: number, what: string): void {
  checkNumber(timeoutMs, `${what}: timeoutMs`, { positive: true, infinite: true, unit: 'ms' })
}

/**
 * A plain TCP connect with no-delay and half-open set, bounded by a timeout through the injected clock, the
 * caller's signal and the owner's lifetime. Every failure path destroys the socket and removes every
 * listener and timer it added; nothing is opened when a signal has already fired.
 *
 * @throws {TimeoutError} (remote) the connect did not complete within `timeoutMs`
 * @throws {SocketError} the connect failed; `cause.code` keeps Node's code (`ECONNREFUSED`, …).
 *   Remote, except when `host` did not resolve or `localAddress` cannot be bound
 * @internal
 */
export function dialTcp(options: DialTcpOptions): Promise<Socket> {
  const { host, port, timeoutMs, clock, signal, lifetime, localAddress, what } = options
  if (lifetime?.aborted) return Promise.reject(lifetime.reason)
  if (signal?.aborted) return Promise.reject(abortReason(signal, what))

  return new Promise<Socket>((resolve, reject) => {
    // Half-open: the far side's FIN must not end our writable side; memberlist conns can CloseWrite.
    const socket = connect({
      host,
      port,
      noDelay: true,
      allowHalfOpen: true,
      ...(localAddress === undefined ? {} : { localAddress }),
    })
    let timer: TimerHandle | undefined
    let settled = false

    const onConnect = () => done(undefined)
    const onError = (err: Error) => done(connectError(err, what, host))
    const onAbort = () => done(abortReason(signal as AbortSignal, what))
    const onLifetime = () => done((lifetime as AbortSignal).reason as Error)

    function done(err: Error | undefined) {
      if (settled) return
      settled = true
      if (timer !== undefined) clock.clearTimeout(timer)
      socket.off('connect', onConnect)
      socket.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
      lifetime?.removeEventListener('abort', onLifetime)
      if (err === undefined) {
        resolve(socket)
        return
      }
      socket.destroy()
      reject(err)
    }

    if (Number.isFinite(timeoutMs)) {
      timer = clock.setTimeout(
        () => done(new TimeoutError(`${what}: connect timed out after ${timeoutMs} ms`)),
        timeoutMs,
      )
    }
    socket.once('connect', onConnect)
    socket.on('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
    lifetime?.addEventListener('abort', onLifetime, { once: true })
  })
}
