import { setTimeout as sleep } from 'node:timers/promises'

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
 * Waits (up to `timeoutMs`) until no watched handle kind has more entries than in `baseline`, and
 * throws naming the surplus if some remain. Closed sockets take a tick or two to disappear.
 * Unref'd timers are invisible to Node's resource list; check those with a tracking clock.
 */
export async function expectNoLeakedHandles(
  baseline: Map<string, number>,
  timeoutMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const extra: string[] = []
    for (const [name, n] of handleCounts()) {
      const before = baseline.get(name) ?? 0
      if (n > before) extra.push(`${name} +${n - before}`)
    }
    if (extra.length === 0) return
    if (Date.now() > deadline) throw new Error(`leaked handles: ${extra.join(', ')}`)
    await sleep(20)
  }
}
