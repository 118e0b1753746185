/**
 * memberlist's scaling rules (`util.go`), in milliseconds.
 */

/** `suspicionTimeout`: `mult * max(1, log10(max(1, n))) * interval`, truncated to whole ms as Go does. */
export function suspicionTimeout(suspicionMult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor((suspicionMult * Math.floor(nodeScale * 1000) * intervalMs) / 1000)
}

/** `retransmitLimit`: `mult * ceil(log10(n + 1))`. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1))
}

const PUSH_PULL_SCALE_THRESHOLD = 32

/** `pushPullScale`: the push/pull interval grows with log2 of the cluster size past 32 nodes. */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
  return multiplier * intervalMs
}

/** `remainingSuspicionTime`: Lifeguard's timeout, shrinking from max to min as confirmations arrive. */
export function remainingSuspicionTime(
  n: number,
  k: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  const frac = Math.log(n + 1) / Math.log(k + 1)
  const raw = maxMs / 1000 - frac * (maxMs / 1000 - minMs / 1000)
  let timeout = Math.floor(1000 * raw)
  if (timeout < minMs) timeout = minMs
  return timeout - elapsedMs
}

/** Fisher-Yates with an injectable source of randomness. */
export function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
}

/** `kRandomNodes`: up to `k` distinct items not excluded, chosen at random. */
export function kRandom<T extends { name: string }>(
  k: number,
  items: readonly T[],
  exclude: (item: T) => boolean,
  random: () => number,
): T[] {
  const copy = items.slice()
  shuffle(copy, random)
  const out: T[] = []
  for (const item of copy) {
    if (out.length >= k) break
    if (!exclude(item)) out.push(item)
  }
  return out
}
