/** Polling for a condition, bounded by a deadline and by the demo's interrupt signal. */
import { setTimeout as sleep } from 'node:timers/promises'
import { TimeoutError } from 'wanfed'

/**
 * Resolves when `condition()` holds, checking every `intervalMs`. Rejects with a `TimeoutError`
 * naming `what` once `deadlineMs` has passed, or with the signal's reason when interrupted.
 */
export async function waitFor(
  condition: () => boolean,
  o: { what: string; deadlineMs: number; signal: AbortSignal; intervalMs?: number },
): Promise<void> {
  const deadline = performance.now() + o.deadlineMs
  for (;;) {
    o.signal.throwIfAborted()
    if (condition()) return
    if (performance.now() > deadline)
      throw new TimeoutError(`${o.what}: not reached within ${Math.round(o.deadlineMs / 1000)} s`)
    await sleep(o.intervalMs ?? 50, undefined, { signal: o.signal })
  }
}

/** Milliseconds since `start`, as `1.23 s`. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}
