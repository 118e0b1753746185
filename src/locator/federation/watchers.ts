import { ClosedError } from '../../errors.ts'
import { abortReason } from '../../internal/abort.ts'
import type { Clock, TimerHandle } from '../../internal/clock.ts'
import { optionalNumber } from '../../internal/validate.ts'

/** Consul's default blocking-query wait (`DefaultQueryTime`). */
export const DEFAULT_QUERY_TIME_MS = 300_000
/** Consul's longest blocking-query wait (`MaxQueryTime`); longer requests are clamped. */
export const MAX_QUERY_TIME_MS = 600_000
/** Consul adds up to wait/16 of random stagger so that many waiters do not all return at once. */
export const QUERY_JITTER_FRACTION = 16

/**
 * How long a blocking query waits: Consul's rule. No wait (or 0) means the default; more than the
 * maximum is clamped to it; then up to 1/16 of it is added at random.
 */
export function blockingWait(
  waitMs: number | undefined,
  random: () => number,
  defaultMs = DEFAULT_QUERY_TIME_MS,
  maxMs = MAX_QUERY_TIME_MS,
): number {
  let wait = optionalNumber(waitMs, 0, 'waitMs', { min: 0, unit: 'ms' })
  if (wait === 0) wait = defaultMs
  if (wait > maxMs) wait = maxMs
  return wait + random() * (wait / QUERY_JITTER_FRACTION)
}

/** Why a wait ended without an error. */
export type WakeReason = 'changed' | 'timeout' | 'restored'

interface Waiter {
  key: string | undefined
  settle(reason: WakeReason): void
  fail(err: Error): void
}

/**
 * The watch sets behind blocking reads: a waiter watches one record's key, or the whole table
 * (`key` undefined). Every waiter owns one timer and at most one abort listener, released on
 * whichever of change, timeout, abort or close comes first.
 */
export class Watchers {
  readonly #waiters = new Set<Waiter>()
  readonly #clock: Clock
  #closed: Error | undefined

  constructor(clock: Clock) {
    this.#clock = clock
  }

  get size(): number {
    return this.#waiters.size
  }

  wait(key: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<WakeReason> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed)
    if (signal?.aborted) return Promise.reject(abortReason(signal, 'blocking query'))
    return new Promise<WakeReason>((resolve, reject) => {
      let timer: TimerHandle | undefined
      const onAbort = () => waiter.fail(abortReason(signal as AbortSignal, 'blocking query'))
      const release = () => {
        this.#waiters.delete(waiter)
        if (timer !== undefined) this.#clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const waiter: Waiter = {
        key,
        settle: (reason) => {
          release()
          resolve(reason)
        },
        fail: (err) => {
          release()
          reject(err)
        },
      }
      this.#waiters.add(waiter)
      timer = this.#clock.setTimeout(() => waiter.settle('timeout'), timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** A record changed: wakes its watchers and the table's. */
  notify(key: string): void {
    for (const w of [...this.#waiters])
      if (w.key === undefined || w.key === key) w.settle('changed')
  }

  /** The whole table was replaced (a restore): wakes everyone. */
  notifyAll(): void {
    for (const w of [...this.#waiters]) w.settle('restored')
  }

  close(err: Error = new ClosedError('federation-state store closed')): void {
    this.#closed = err
    for (const w of [...this.#waiters]) w.fail(err)
  }
}
