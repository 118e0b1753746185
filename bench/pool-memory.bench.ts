/**
 * Memory per pooled idle packet connection: one WanfedTransport sends one packet to each of 1,000
 * nodes of dc2 (`n0.dc2` ... `n999.dc2`) through dc2's MeshGateway, so its pool holds 1,000 idle TLS
 * connections; heap and RSS are read after forced GC before and after. Baselines: 1,000 raw
 * `tls.connect` client sockets through the same gateway, the same way (SNI, ALPN, client
 * certificate, one frame each), with the per-connect options dialViaGateway uses and with one
 * shared SecureContext.
 *
 * Only the client side is in the measured process (a fresh one per variant, started with
 * --expose-gc); the gateway and the receiving server are in another child process.
 */

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { makeCerts } from './lib/fixtures.ts'
import { BenchChild } from './lib/ipc.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const FAR_SIDE = fileURLToPath(new URL('./lib/far-side.ts', import.meta.url))
const CLIENT = fileURLToPath(new URL('./lib/pool-client.ts', import.meta.url))
const NODES = 1_000
const CONCURRENCY = 32
const OPEN_TIME_MS = 15_000
const KiB = 1024

type Mode = 'wanfed' | 'raw' | 'raw-shared'

interface Mem {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

interface Variant {
  mode: Mode
  opened: number
  openMs: number
  before: Mem
  after: Mem
  info: unknown
  perConn: { heapKiB: number; rssKiB: number; externalKiB: number }
}

function fdLimit(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

function openFds(): number {
  try {
    return Number(/Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1])
  } catch {
    return Number.NaN
  }
}

async function variant(
  mode: Mode,
  gateway: string,
  far: BenchChild,
  tls: unknown,
): Promise<Variant> {
  const client = await BenchChild.start(CLIENT, ['--expose-gc'])
  try {
    await far.request('reset')
    await client.request('setup', { mode, gateway, tls })
    const before = await client.request<Mem>('measure')
    const { opened, ms } = await client.request<{ opened: number; ms: number }>(
      'open',
      { count: NODES, concurrency: CONCURRENCY, timeMs: OPEN_TIME_MS },
      OPEN_TIME_MS + 30_000,
    )
    // Every packet (the warm-up one included) must have reached the far side: the connections are
    // up and idle.
    const got = await far.request<{ count: number }>(
      'await',
      { target: opened + 1, timeoutMs: 10_000 },
      20_000,
    )
    if (got.count !== opened + 1)
      throw new Error(`${mode}: ${got.count} packets arrived, expected ${opened + 1}`)
    const after = await client.request<Mem>('measure')
    const info = await client.request('info')
    const per = (k: keyof Mem) => (after[k] - before[k]) / opened / KiB
    return {
      mode,
      opened,
      openMs: ms,
      before,
      after,
      info,
      perConn: { heapKiB: per('heapUsed'), rssKiB: per('rss'), externalKiB: per('external') },
    }
  } finally {
    await client.close()
  }
}

export async function run(): Promise<BenchReport> {
  const certs = await makeCerts()
  const far = await BenchChild.start(FAR_SIDE)
  const results: Variant[] = []
  try {
    const { address: serverAddr } = await far.request<{ address: string }>('receiver', {
      tls: certs.dc2,
    })
    const servers: Record<string, string> = { warm: serverAddr }
    for (let i = 0; i < NODES; i++) servers[`n${i}`] = serverAddr
    const { address: gateway } = await far.request<{ address: string }>('gateway', {
      datacenter: 'dc2',
      servers,
    })
    for (const mode of ['raw', 'raw-shared', 'wanfed'] as const)
      results.push(await variant(mode, gateway, far, certs.dc1))
  } finally {
    await far.close()
  }
  const by = (m: Mode) => results.find((r) => r.mode === m) as Variant
  const w = by('wanfed')
  const r = by('raw')
  const s = by('raw-shared')
  const metrics: BenchMetric[] = [
    {
      key: 'wanfed_heap_kib',
      label: 'WanfedTransport pool: heap per connection',
      value: w.perConn.heapKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'wanfed_rss_kib',
      label: 'WanfedTransport pool: RSS per connection',
      value: w.perConn.rssKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'raw_heap_kib',
      label: 'raw tls.connect (per-connect options): heap per connection',
      value: r.perConn.heapKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'raw_rss_kib',
      label: 'raw tls.connect (per-connect options): RSS per connection',
      value: r.perConn.rssKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'shared_heap_kib',
      label: 'raw tls.connect (shared SecureContext): heap per connection',
      value: s.perConn.heapKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'shared_rss_kib',
      label: 'raw tls.connect (shared SecureContext): RSS per connection',
      value: s.perConn.rssKiB,
      unit: 'KiB',
      digits: 1,
    },
    {
      key: 'ratio_heap',
      label: 'heap ratio WanfedTransport / raw (per-connect options)',
      value: w.perConn.heapKiB / r.perConn.heapKiB,
      unit: 'x',
      digits: 2,
    },
    {
      key: 'ratio_rss',
      label: 'RSS ratio WanfedTransport / raw (per-connect options)',
      value: w.perConn.rssKiB / r.perConn.rssKiB,
      unit: 'x',
      digits: 2,
    },
    {
      key: 'wanfed_open_s',
      label: 'WanfedTransport: time to open the 1,000 connections',
      value: w.openMs / 1000,
      unit: 's',
      digits: 2,
    },
    {
      key: 'raw_open_s',
      label: 'raw tls.connect (per-connect options): time to open 1,000',
      value: r.openMs / 1000,
      unit: 's',
      digits: 2,
    },
    {
      key: 'shared_open_s',
      label: 'raw tls.connect (shared SecureContext): time to open 1,000',
      value: s.openMs / 1000,
      unit: 's',
      digits: 2,
    },
  ]
  return {
    title: 'memory per pooled idle packet connection, 1,000 remote nodes',
    description: [
      `- Client side (measured): a fresh Node process per variant, started with \`--expose-gc\`; the`,
      '  figures are (after - before) / connections of `process.memoryUsage()` read after four forced',
      '  GCs, where "before" is taken once the variant is set up and has one warm-up connection open',
      '  (so OpenSSL, JIT and pool start-up costs are not counted) and "after" once every packet has',
      '  arrived at the far side and all connections are idle.',
      `- Far side (not measured): one child process with dc2's \`MeshGateway\` (routing`,
      `  \`n<i>.server.dc2.consul\` for 1,000 nodes) and dc2's \`AlpnServer\` (\`maxConnsPerClient: 0\`, since`,
      "  every tunnelled connection comes from the gateway's address) with a `WanfedTransport`",
      '  attached that counts the packets. Connections go THROUGH the gateway (one hop), as in production.',
      `- WanfedTransport (dc1, over a \`MemoryNetwork\` transport, pool idle timeout raised to 10 min):`,
      `  one 1,400-byte packet to each of \`n0.dc2\` ... \`n${NODES - 1}.dc2\`, ${CONCURRENCY} sends in flight; its pool`,
      '  dials one TLS connection per node (`consul/wan-gossip/packet`, SNI `n<i>.server.dc2.consul`).',
      '- Baselines: the same 1,000 connections with `tls.connect` (same SNI, ALPN, client certificate,',
      '  one encoded frame each), once with `ca`/`cert`/`key` per connect as `dialViaGateway` passes them',
      '  (Node builds a SecureContext per connection) and once with one shared `tls.createSecureContext`.',
      `- File descriptors: the measured process holds ~1,000 sockets, the far side ~3,000 (client side`,
      `  and upstream of the gateway, the server's); \`ulimit -n\` here is ${fdLimit()} (this process: ${openFds()}); nothing is raised.`,
      '- RSS deltas include memory the allocator keeps after GC; heap deltas are JS objects only',
      "  (OpenSSL's per-connection state is outside the V8 heap and shows in RSS only).",
    ].join('\n'),
    metrics,
    raw: results,
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  const heap = m['wanfed_heap_kib'] ?? Number.NaN
  const rss = m['wanfed_rss_kib'] ?? Number.NaN
  const rawRss = m['raw_rss_kib'] ?? Number.NaN
  return [
    `A pooled idle packet connection costs about ${heap.toFixed(1)} KiB of heap and ${rss.toFixed(1)} KiB of RSS in the sending process (raw TLS socket made the same way: ${rawRss.toFixed(1)} KiB RSS); 1,000 remote nodes ≈ ${((rss * 1000) / 1024).toFixed(0)} MiB RSS.`,
  ]
}
