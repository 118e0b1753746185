/**
 * Memberlist timing for a federation on one host: memberlist's local config, quickened so that a
 * failure is seen in seconds, yet slow enough that two cores running 50 nodes and their TLS
 * connections do not make healthy nodes look dead. Printed at start so the figures can be judged.
 */
import { DefaultLocalConfig, type MemberlistConfig } from 'wanfed/memberlist'

export function memberlistTiming(): Partial<MemberlistConfig> {
  return {
    ...DefaultLocalConfig(),
    probeIntervalMs: 1_000,
    // Two gateway hops, and at start a TLS connection per destination still opening while every
    // node opens its own (50 nodes open ~2,000 at once): far more than a LAN ping.
    probeTimeoutMs: 500,
    suspicionMult: 3,
    // The LAN default: the local config's 2 lets a join's news miss a node until push/pull.
    retransmitMult: 4,
    gossipIntervalMs: 100,
    pushPullIntervalMs: 10_000,
    tcpTimeoutMs: 3_000,
    gossipToTheDeadTimeMs: 10_000,
  }
}

export function describeTiming(t: Partial<MemberlistConfig>): string {
  return (
    `probe every ${t.probeIntervalMs} ms (timeout ${t.probeTimeoutMs} ms), ` +
    `gossip every ${t.gossipIntervalMs} ms to ${t.gossipNodes}, suspicion ×${t.suspicionMult}, ` +
    `push/pull every ${t.pushPullIntervalMs} ms`
  )
}

/** How long each phase may take before the demo gives up (exit 1): generous, for a loaded host. */
export function deadlines(members: number) {
  const scale = Math.max(1, members / 9)
  return {
    convergenceMs: Math.min(75_000, 30_000 * Math.sqrt(scale)),
    detectionMs: 30_000,
    failoverMs: 30_000,
    membershipMs: 45_000,
  }
}
