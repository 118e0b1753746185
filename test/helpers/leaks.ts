import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock, TimerHandle } from '../../src/internal/clock.ts'
import { systemClock } from '../../src/internal/clock.ts'

const WATCHED = new Set([
  'TCPSocketWrap',
  'TCPServerWrap',
  'UDPWrap',
  'TLSWrap',
  'PipeWrap',
  'Timeout',
])

/** Counts of the handle kinds a transport can leak, as `process.getActiveResourcesInfo()` sees them. */
export function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const name of process.getActiveResourcesInfo()) {
    if (WATCHED.has(name)) counts.set(name, (counts.get(name) ?? 0) + 1)
  }
  return counts
}

/**
 * Waits (up to `timeoutMs`) until no watched handle kind has more entries than in `baseline`;
 * throws with the difference if some remain. Closing sockets takes a tick or two to show.
 */
export async function expectNoLeakedHandles(
  baseline: Map<string, number>,
  timeoutMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const extra = excess(baseline, handleCounts())
    if (extra.length === 0) return
    if (Date.now() > deadline) throw new Error(`leaked handles: ${extra.join(', ')}`)
    await sleep(20)
  }
}

function excess(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = []
  for (const [name, n] of after) {
    const b = before.get(name) ?? 0
    if (n > b) out.push(`${name} +${n - b}`)
  }
  return out
}

/**
 * A real clock that remembers which timers are live. Unref'd timers do not show in
 * `getActiveResourcesInfo()`, so this is how tests see a timer that was never cleared.
 */
export class TrackingClock implements Clock {
  readonly #live = new Set<TimerHandle>()

  now(): number {
    return systemClock.now()
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = systemClock.setTimeout(() => {
      this.#live.delete(handle)
      fn()
    }, ms)
    this.#live.add(handle)
    return handle
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const handle = systemClock.setInterval(fn, ms)
    this.#live.add(handle)
    return handle
  }

  clearTimeout(handle: TimerHandle): void {
    this.#live.delete(handle)
    systemClock.clearTimeout(handle)
  }

  clearInterval(handle: TimerHandle): void {
    this.#live.delete(handle)
    systemClock.clearInterval(handle)
  }

  /** Timers set and neither fired (one-shot) nor cleared. */
  get liveTimers(): number {
    return this.#live.size
  }
}
