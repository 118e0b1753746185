/**
 * `wanfed gateway`: runs a {@link MeshGateway} from a JSON config file and/or flags, prints a
 * startup line and a status line at an interval, and closes gracefully on SIGINT / SIGTERM (a
 * second signal destroys every connection at once). `--render haproxy|nginx` prints the
 * equivalent HAProxy or nginx config instead of starting anything.
 *
 * @packageDocumentation
 */

import { isAbsolute, relative, resolve } from 'node:path'
import {
  type GatewayTrafficStats,
  MeshGateway,
  type MeshGatewayStats,
  type RouteTable,
  renderHaproxyConfig,
  renderNginxConfig,
  routeTable,
} from '../gateway/index.ts'
import { formatHostPort, parseHostPort } from '../internal/address.ts'
import { StaticGatewayLocator } from '../locator/index.ts'
import { CommandError, formatFlags, parseArgs, UsageError } from './args.ts'
import {
  type GatewayConfig,
  type GatewaySettings,
  parseGatewayFlags,
  readGatewayConfig,
  resolveGatewaySettings,
} from './gateway-config.ts'
import type { CliIo, Command } from './types.ts'

export const gatewayFlags = {
  config: {
    kind: 'string',
    valueName: '<path>',
    description: 'JSON config file (see below); flags override its values',
  },
  datacenter: {
    kind: 'string',
    valueName: '<dc>',
    description: "The gateway's own datacenter (required, here or in the config)",
  },
  dc: { kind: 'string', valueName: '<dc>', description: 'Same as --datacenter' },
  domain: { kind: 'string', valueName: '<domain>', description: 'Consul domain (default consul)' },
  listen: {
    kind: 'string',
    valueName: '<host:port>',
    description: 'Listen address (default 127.0.0.1:8443; port 0 picks a free one)',
  },
  server: {
    kind: 'strings',
    valueName: '<node=host:port>',
    description: 'A local server (overrides that node in the config)',
  },
  remote: {
    kind: 'strings',
    valueName: '<dc=host:port>',
    description: "A gateway of another DC (replaces that DC's list in the config)",
  },
  'hello-timeout': {
    kind: 'string',
    valueName: '<duration>',
    description: 'Time a client has to send its ClientHello (default 5s)',
  },
  'connect-timeout': {
    kind: 'string',
    valueName: '<duration>',
    description: 'Upstream TCP connect timeout per attempt (default 10s)',
  },
  'idle-timeout': {
    kind: 'string',
    valueName: '<duration>',
    description: 'Close a connection idle both ways this long; 0 disables (default 10m)',
  },
  'close-grace': {
    kind: 'string',
    valueName: '<duration>',
    description: 'On shutdown, how long open connections may finish (default 5s)',
  },
  'max-connections': {
    kind: 'string',
    valueName: '<n>',
    description: 'Open client connections allowed; 0 means no limit (default 0)',
  },
  'status-interval': {
    kind: 'string',
    valueName: '<duration>',
    description: 'Print a status line this often; 0 disables (default 10s)',
  },
  render: {
    kind: 'string',
    valueName: 'haproxy|nginx',
    description: 'Print the equivalent HAProxy or nginx config and exit; starts nothing',
  },
} as const

const HELP_WIDTH = Math.max(
  ...Object.entries(gatewayFlags).map(
    ([name, spec]) => name.length + 2 + ('valueName' in spec ? spec.valueName.length + 1 : 0),
  ),
)

const USAGE = `Usage: wanfed gateway [--config <path>] [options]

  Runs a mesh gateway for WAN federation: TLS connections are routed on their
  SNI without being decrypted, as Consul's mesh gateways do:
    <node>.server.<dc>.<domain>  to that local server   (local-server)
    server.<dc>.<domain>         to any local server     (local-any)
    *.server.<other>.<domain>    to a gateway of <other> (remote-dc)
  Prints a startup line, then a status line every --status-interval. SIGINT or
  SIGTERM closes it gracefully (exit 0); a second signal closes at once.

  $ wanfed gateway --dc dc1 --listen 0.0.0.0:8443 \\
      --server bob=10.0.1.10:8300 --remote dc2=10.0.2.1:8443
  gateway dc1 listening on 0.0.0.0:8443 (domain consul); routes: ...

  Durations are milliseconds (1500) or a number with a unit: ms, s, m, h (5s, 2m).

Options:
${formatFlags(gatewayFlags)}
  ${'--help'.padEnd(HELP_WIDTH)}  Show this help

Config file (JSON; every time in milliseconds):
  {
    "datacenter": "dc1",                     required (here or --datacenter)
    "domain": "consul",
    "listen": "127.0.0.1:8443",
    "servers": { "bob": "10.0.1.10:8300" },  required (here or --server)
    "remoteGateways": { "dc2": ["10.0.2.1:8443"] },
    "helloTimeoutMs": 5000, "connectTimeoutMs": 10000, "idleTimeoutMs": 600000,
    "maxConnections": 0, "closeGraceMs": 5000, "statusIntervalMs": 10000
  }
`

type RenderKind = 'haproxy' | 'nginx'

function parseRender(value: string | undefined): RenderKind | undefined {
  if (value === undefined || value === 'haproxy' || value === 'nginx') return value
  throw new UsageError(`--render must be haproxy or nginx, got ${JSON.stringify(value)}`)
}

/** `path` as the user would type it: relative to the working directory when inside it. */
function display(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel
}

function table(settings: GatewaySettings): RouteTable {
  return routeTable({
    datacenter: settings.datacenter,
    ...(settings.domain === undefined ? {} : { domain: settings.domain }),
    servers: settings.servers,
    remoteGateways: settings.remoteGateways,
  })
}

function render(kind: RenderKind, settings: GatewaySettings): string {
  if (parseHostPort(settings.listen, 'listen').port === 0) {
    throw new CommandError(
      `--render needs a fixed listen port, got ${settings.listen} (pass --listen host:port)`,
    )
  }
  if (settings.idleTimeoutMs === 0) {
    throw new CommandError(
      `--render ${kind}: an idle timeout of 0 (disabled) has no ${kind} equivalent; give a positive --idle-timeout`,
    )
  }
  const options = {
    bind: settings.listen,
    ...(settings.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: settings.helloTimeoutMs }),
    ...(settings.connectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: settings.connectTimeoutMs }),
    ...(settings.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: settings.idleTimeoutMs }),
    // 0 (no limit) has no equivalent: the renderers' default (4,096) applies.
    ...(settings.maxConnections === undefined || settings.maxConnections === 0
      ? {}
      : { maxConnections: settings.maxConnections }),
  }
  return kind === 'haproxy'
    ? renderHaproxyConfig(table(settings), options)
    : renderNginxConfig(table(settings), options)
}

function describeRoutes(t: RouteTable): string {
  return t.routes
    .map((r) => {
      const name = r.kind === 'remote-dc' ? `*.${r.key}` : r.key
      return `${name} -> ${r.targets.length === 0 ? '(none)' : r.targets.join(',')}`
    })
    .join('; ')
}

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

function traffic(name: string, s: GatewayTrafficStats): string {
  const fail = s.connectFailures > 0 ? ` failed=${s.connectFailures}` : ''
  return `${name} conns=${s.connections} active=${s.active} in=${formatBytes(s.bytesIn)} out=${formatBytes(s.bytesOut)}${fail}`
}

/**
 * One status line: traffic per local route kind and per remote datacenter, then the rejected
 * connections by reason (only the reasons seen), e.g.
 * `status: open=1 | local-server conns=3 active=1 in=1.2MiB out=800KiB | local-any conns=0 ... | remote-dc:dc2 conns=... | rejected no-sni=1`.
 */
export function formatStatus(stats: MeshGatewayStats, remoteDcs: readonly string[]): string {
  const parts = [
    `open=${stats.open}`,
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

function emptyTraffic(): GatewayTrafficStats {
  return { connections: 0, active: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0 }
}

/** Resolves with the stop request: a process signal's name, or `abort`. */
interface StopWatch {
  readonly stopped: Promise<string>
  /** Registers what a second stop request does (at once, if one already came). */
  onForce(fn: () => void): void
  dispose(): void
}

function watchStop(io: CliIo): StopWatch {
  let resolveStop!: (why: string) => void
  const stopped = new Promise<string>((r) => {
    resolveStop = r
  })
  let requests = 0
  let force: (() => void) | undefined
  let forced = false
  const request = (why: string) => {
    requests++
    if (requests === 1) {
      resolveStop(why)
      return
    }
    forced = true
    force?.()
  }
  const onForce = (fn: () => void) => {
    force = fn
    // A second request that came before the close began still counts.
    if (forced) fn()
  }
  const { signal } = io
  if (signal !== undefined) {
    const onAbort = () => request('abort')
    if (signal.aborted) request('abort')
    else signal.addEventListener('abort', onAbort, { once: true })
    return { stopped, onForce, dispose: () => signal.removeEventListener('abort', onAbort) }
  }
  const onSignal = (name: NodeJS.Signals) => request(name)
  // A closed terminal (SIGHUP) or a reader that went away (`wanfed gateway | head`: EPIPE on
  // stdout) stop the gateway gracefully too, instead of killing it mid-connection.
  const onStdoutError = () => request('SIGPIPE')
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', onSignal)
  process.stdout.on('error', onStdoutError)
  return {
    stopped,
    onForce,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.off('SIGHUP', onSignal)
      process.stdout.off('error', onStdoutError)
    },
  }
}

async function serve(settings: GatewaySettings, io: CliIo): Promise<number> {
  const remoteDcs = Object.keys(settings.remoteGateways).sort()
  const routes = table(settings)
  const gateway = new MeshGateway({
    datacenter: settings.datacenter,
    ...(settings.domain === undefined ? {} : { domain: settings.domain }),
    servers: settings.servers,
    ...(remoteDcs.length === 0
      ? {}
      : { locator: new StaticGatewayLocator(settings.remoteGateways) }),
    ...(settings.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: settings.helloTimeoutMs }),
    ...(settings.connectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: settings.connectTimeoutMs }),
    ...(settings.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: settings.idleTimeoutMs }),
    ...(settings.maxConnections === undefined ? {} : { maxConnections: settings.maxConnections }),
    ...(settings.closeGraceMs === undefined ? {} : { closeGraceMs: settings.closeGraceMs }),
  })

  const stop = watchStop(io)
  let timer: NodeJS.Timeout | undefined
  try {
    const { host, port } = parseHostPort(settings.listen, 'listen')
    const bound = await gateway.listen({ host, port })
    // Attached after listen(), whose own failure is the rejection above, not an event to report.
    gateway.on('error', (err) => io.stderr.write(`gateway error: ${err.message}\n`))
    io.stdout.write(
      `gateway ${gateway.datacenter} listening on ${formatHostPort(bound.address, bound.port)} (domain ${gateway.domain}); routes: ${describeRoutes(routes)}\n`,
    )
    if (settings.statusIntervalMs > 0) {
      timer = setInterval(() => {
        io.stdout.write(`${formatStatus(gateway.stats(), remoteDcs)}\n`)
      }, settings.statusIntervalMs)
    }
    const why = await stop.stopped
    clearInterval(timer)
    timer = undefined
    const open = gateway.stats().open
    io.stdout.write(
      `${why === 'abort' ? 'stopping' : `received ${why}`}: closing${open > 0 ? `, ${open} connection(s) open (send the signal again to close at once)` : ''}\n`,
    )
    stop.onForce(() => {
      io.stdout.write('closing at once\n')
      gateway.destroy()
    })
    await gateway.close()
    io.stdout.write(`${formatStatus(gateway.stats(), remoteDcs)}\n`)
    io.stdout.write('closed\n')
    return 0
  } finally {
    clearInterval(timer)
    stop.dispose()
    // Only reached without a close when listen() failed or a write threw: release everything.
    if (gateway.status !== 'closed') gateway.destroy()
  }
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals, help } = parseArgs(argv, gatewayFlags)
  if (help) {
    io.stdout.write(USAGE)
    return 0
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`)
  if (flags.datacenter !== undefined && flags.dc !== undefined) {
    throw new UsageError('give --datacenter or --dc, not both')
  }
  const renderKind = parseRender(flags.render)
  const overrides = parseGatewayFlags({
    datacenter: flags.datacenter ?? flags.dc,
    domain: flags.domain,
    listen: flags.listen,
    server: flags.server,
    remote: flags.remote,
    helloTimeout: flags['hello-timeout'],
    connectTimeout: flags['connect-timeout'],
    idleTimeout: flags['idle-timeout'],
    closeGrace: flags['close-grace'],
    maxConnections: flags['max-connections'],
    statusInterval: flags['status-interval'],
  })
  let file: GatewayConfig | undefined
  let shown: string | undefined
  if (flags.config !== undefined) {
    const path = resolve(io.cwd, flags.config)
    shown = display(path, io.cwd)
    file = await readGatewayConfig(path, shown)
  }
  const settings = resolveGatewaySettings(file, overrides, shown)
  if (renderKind !== undefined) {
    io.stdout.write(render(renderKind, settings))
    return 0
  }
  return serve(settings, io)
}

export const gatewayCommand: Command = {
  summary: 'Run a mesh gateway (SNI routing to local servers and other DCs)',
  usage: USAGE,
  run,
}
