/**
 * The status lines of `wanfed gateway`: a wall-clock timestamp, the rates since the previous line
 * (connections accepted and bytes each way, per second), then traffic per route and the
 * rejections by reason.
 *
 * @packageDocumentation
 */

import type { GatewayTrafficStats, MeshGatewayStats } from '../gateway/index.ts'

/** Bytes in binary units: `512B`, `800KiB`, `1.2MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let i = 0
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024
    i++
  }
  const text = i === 0 || value >= 100 ? String(Math.round(value)) : String(+value.toFixed(1))
  return `${text}${units[i]}`
}

/** Per-second rates over the time between two status lines. */
export interface StatusRates {
  connectionsPerSec: number
  bytesInPerSec: number
  bytesOutPerSec: number
}

/** What a status line says besides the counters: when, and the rates since the last line. */
export interface StatusContext {
  at: Date
  rates: StatusRates
}

function traffic(name: string, s: GatewayTrafficStats): string {
  const fail = s.connectFailures > 0 ? ` failed=${s.connectFailures}` : ''
  return `${name} conns=${s.connections} active=${s.active} in=${formatBytes(s.bytesIn)} out=${formatBytes(s.bytesOut)}${fail}`
}

function emptyTraffic(): GatewayTrafficStats {
  return { connections: 0, active: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0 }
}

function rate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : String(+n.toFixed(1))
}

/**
 * One status line: timestamp and rates (with a context), then traffic per local route kind and per
 * remote datacenter, then the rejected connections by reason (only the reasons seen), e.g.
 * `status: 2026-01-02T03:04:05.678Z open=1 rate=2conn/s in=1.2KiB/s out=800B/s | local-server conns=3 active=1 in=1.2MiB out=800KiB | local-any conns=0 ... | remote-dc:dc2 conns=... | rejected no-sni=1`.
 */
export function formatStatus(
  stats: MeshGatewayStats,
  remoteDcs: readonly string[],
  context?: StatusContext,
): string {
  const head = [`open=${stats.open}`]
  if (context !== undefined) {
    const r = context.rates
    head.unshift(context.at.toISOString())
    head.push(
      `rate=${rate(r.connectionsPerSec)}conn/s in=${formatBytes(Math.round(r.bytesInPerSec))}/s out=${formatBytes(Math.round(r.bytesOutPerSec))}/s`,
    )
  }
  const parts = [
    head.join(' '),
    traffic('local-server', stats.routes['local-server']),
    traffic('local-any', stats.routes['local-any']),
  ]
  const byDc = new Map<string, GatewayTrafficStats>()
  for (const dc of remoteDcs) byDc.set(dc, emptyTraffic())
  for (const [key, s] of Object.entries(stats.targets)) {
    if (s.kind !== 'remote-dc') continue
    // The key is server.<dc>.<domain>.
    const dc = key.split('.')[1] ?? key
    const sum = byDc.get(dc) ?? emptyTraffic()
    sum.connections += s.connections
    sum.active += s.active
    sum.bytesIn += s.bytesIn
    sum.bytesOut += s.bytesOut
    sum.connectFailures += s.connectFailures
    byDc.set(dc, sum)
  }
  for (const dc of [...byDc.keys()].sort()) {
    parts.push(traffic(`remote-dc:${dc}`, byDc.get(dc) as GatewayTrafficStats))
  }
  const rejected = Object.entries(stats.rejected)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason}=${n}`)
  parts.push(rejected.length === 0 ? 'rejected 0' : `rejected ${rejected.join(' ')}`)
  return `status: ${parts.join(' | ')}`
}

interface Sample {
  at: number
  accepted: number
  bytesIn: number
  bytesOut: number
}

function sample(stats: MeshGatewayStats, at: number): Sample {
  let bytesIn = 0
  let bytesOut = 0
  for (const s of Object.values(stats.routes)) {
    bytesIn += s.bytesIn
    bytesOut += s.bytesOut
  }
  return { at, accepted: stats.accepted, bytesIn, bytesOut }
}

/**
 * Turns successive stats into rates: each call measures from the previous one (the first from
 * the moment it was constructed, when the gateway started). Intervals use a monotonic clock.
 */
export class StatusMeter {
  readonly #now: () => number
  #last: Sample

  constructor(now: () => number = () => performance.now()) {
    this.#now = now
    this.#last = { at: now(), accepted: 0, bytesIn: 0, bytesOut: 0 }
  }

  rates(stats: MeshGatewayStats): StatusRates {
    const next = sample(stats, this.#now())
    const secs = Math.max((next.at - this.#last.at) / 1000, 1e-3)
    const rates = {
      connectionsPerSec: Math.max(0, next.accepted - this.#last.accepted) / secs,
      bytesInPerSec: Math.max(0, next.bytesIn - this.#last.bytesIn) / secs,
      bytesOutPerSec: Math.max(0, next.bytesOut - this.#last.bytesOut) / secs,
    }
    this.#last = next
    return rates
  }

  /** The next status line, stamped with the wall-clock time. */
  line(stats: MeshGatewayStats, remoteDcs: readonly string[]): string {
    return formatStatus(stats, remoteDcs, { at: new Date(), rates: this.rates(stats) })
  }
}
