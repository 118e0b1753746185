/**
 * The demo's command-line options: parsed strictly (an unknown flag or a bad value is refused with
 * a message naming it), so a typo never silently runs a different demo.
 */
import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { InvalidArgumentError } from 'wanfed'
import { hasCommand } from '../lib/processes.ts'

export type GatewayKind = 'ours' | 'haproxy' | 'nginx'

export interface DemoOptions {
  /** Datacenters; dc1 is the primary. */
  dcs: number
  /** Nodes per datacenter. */
  nodes: number
  /** Which program routes cross-DC traffic: wanfed's MeshGateway, or HAProxy / nginx from rendered configs. */
  gateway: GatewayKind
  /** Memberlist gossip encryption (AES-GCM, one keyring for the federation). */
  encrypt: boolean
  /** `host:port` to serve the admin endpoint on for the whole demo. */
  admin?: string
  /** Keep running after the failure act, until interrupted. */
  follow: boolean
}

export const DEFAULT_OPTIONS: DemoOptions = {
  dcs: 3,
  nodes: 3,
  gateway: 'ours',
  encrypt: false,
  follow: false,
}

/** Bounds kept to what two cores run well within the demo's deadlines. */
export const LIMITS = { dcs: { min: 2, max: 8 }, nodes: { min: 2, max: 12 } } as const

export const USAGE = `Usage: npm start -- [options]   (or: npm run example -- federation [options])

A live federation on loopback: dc1 (primary) with two mesh gateways, every other DC with one,
memberlist nodes in each, then a failure act (one dc1 node stops, one dc1 gateway is killed).

Options:
  --dcs N                  datacenters, ${LIMITS.dcs.min}..${LIMITS.dcs.max} (default ${DEFAULT_OPTIONS.dcs})
  --nodes N                nodes per datacenter, ${LIMITS.nodes.min}..${LIMITS.nodes.max} (default ${DEFAULT_OPTIONS.nodes})
  --gateway ours|haproxy|nginx
                           the gateways: wanfed's MeshGateway (default), or HAProxy / nginx
                           running configs rendered from the topology (must be installed)
  --encrypt                encrypt memberlist gossip (a keyring made at start)
  --admin HOST:PORT        serve the admin endpoint (/v1/status, /metrics, ...) there
  --follow                 keep running after the failure act, until Ctrl-C
  -h, --help               this text

Exit status: 0 after the summary, 1 if the federation did not converge or recover in time,
2 for bad options, 130 when interrupted (Ctrl-C).`

export type ParsedArgs = { help: true } | { help: false; options: DemoOptions }

/** @throws {InvalidArgumentError} an unknown flag, a missing or malformed value */
export function parseDemoArgs(argv: readonly string[]): ParsedArgs {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    // node:util's messages name the flag; keep them, under wanfed's error class.
    throw new InvalidArgumentError((err as Error).message, { cause: err })
  }
  const v = parsed.values
  if (v.help === true) return { help: true }
  if (parsed.positionals.length > 0)
    throw new InvalidArgumentError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  const options: DemoOptions = {
    dcs: count(v.dcs, '--dcs', DEFAULT_OPTIONS.dcs, LIMITS.dcs),
    nodes: count(v.nodes, '--nodes', DEFAULT_OPTIONS.nodes, LIMITS.nodes),
    gateway: gatewayKind(v.gateway),
    encrypt: v.encrypt === true,
    follow: v.follow === true,
  }
  if (v.admin !== undefined) options.admin = hostPort(v.admin, '--admin')
  return { help: false, options }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      dcs: { type: 'string' },
      nodes: { type: 'string' },
      gateway: { type: 'string' },
      encrypt: { type: 'boolean' },
      admin: { type: 'string' },
      follow: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function count(
  raw: string | undefined,
  flag: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  if (raw === undefined) return fallback
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max)
    throw new InvalidArgumentError(
      `${flag} must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(raw)}`,
    )
  return n
}

function gatewayKind(raw: string | undefined): GatewayKind {
  if (raw === undefined) return DEFAULT_OPTIONS.gateway
  if (raw !== 'ours' && raw !== 'haproxy' && raw !== 'nginx')
    throw new InvalidArgumentError(
      `--gateway must be ours, haproxy or nginx, got ${JSON.stringify(raw)}`,
    )
  // Checked here, before anything starts, so a missing program is a usage error and not a crash.
  if (raw !== 'ours' && !hasCommand(raw, ['-v']))
    throw new InvalidArgumentError(
      `--gateway ${raw}: ${raw} is not installed here (apt-get install ${raw === 'nginx' ? 'nginx-light libnginx-mod-stream' : 'haproxy'})`,
    )
  return raw
}

function hostPort(raw: string, flag: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw)
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (host === undefined || isIP(host) === 0 || !(port >= 0 && port <= 65_535))
    throw new InvalidArgumentError(
      `${flag} must be IP:PORT (IPv6 in brackets), got ${JSON.stringify(raw)}`,
    )
  return raw
}
