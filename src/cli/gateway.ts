/**
 * `wanfed gateway`: runs a {@link MeshGateway} from a JSON config file and/or flags, prints a
 * startup line, a status line at an interval and a line per rejected connection, reloads its config
 * file on SIGHUP, and closes gracefully on SIGINT / SIGTERM (a second signal destroys every
 * connection at once). `--render haproxy|nginx` prints the
 * equivalent HAProxy or nginx config instead of starting anything.
 *
 * @packageDocumentation
 */

import { isAbsolute, relative, resolve } from 'node:path'
import { type AdminComponents, createAdminServer } from '../admin/index.ts'
import { DEFAULT_DOMAIN } from '../alpn/sni.ts'
import {
  type GatewayRejectInfo,
  MeshGateway,
  type RouteTable,
  renderHaproxyConfig,
  renderNginxConfig,
  routeTable,
} from '../gateway/index.ts'
import {
  DEFAULT_GATEWAY_CLOSE_GRACE_MS,
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_GATEWAY_CONNECTIONS,
} from '../gateway/options.ts'
import { formatHostPort, parseHostPort } from '../internal/address.ts'
import { CommandError, formatFlags, parseArgs, UsageError } from './args.ts'
import {
  checkAddress,
  DEFAULT_GATEWAY_LISTEN,
  DEFAULT_STATUS_INTERVAL_MS,
  type GatewayConfig,
  type GatewaySettings,
  parseGatewayFlags,
  readGatewayConfig,
  resolveGatewaySettings,
} from './gateway-config.ts'
import {
  type FederationSettings,
  GatewayFederation,
  resolveFederation,
} from './gateway-federation.ts'
import { GatewayReloader, LiveRoutes, type ReloadSource } from './gateway-reload.ts'
import { StatusMeter } from './status.ts'
import type { CliIo, Command } from './types.ts'

export { formatBytes, formatStatus } from './status.ts'

/** `5000` as `5s`, `600000` as `10m`: how `--help` shows a default duration. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0'
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

const d = formatDuration

export const gatewayFlags = {
  config: {
    kind: 'string',
    valueName: '<path>',
    description: 'JSON config file (see below); flags override its values; SIGHUP reloads it',
  },
  datacenter: {
    kind: 'string',
    valueName: '<dc>',
    description: "The gateway's own datacenter (required, here or in the config)",
  },
  dc: { kind: 'string', valueName: '<dc>', description: 'Same as --datacenter' },
  domain: {
    kind: 'string',
    valueName: '<domain>',
    description: `Consul domain (default ${DEFAULT_DOMAIN})`,
  },
  listen: {
    kind: 'string',
    valueName: '<host:port>',
    description: `Listen address (default ${DEFAULT_GATEWAY_LISTEN}; port 0 picks a free one)`,
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
    description: `Time a client has to send its ClientHello (default ${d(DEFAULT_HELLO_TIMEOUT_MS)})`,
  },
  'connect-timeout': {
    kind: 'string',
    valueName: '<duration>',
    description: `Upstream TCP connect timeout per attempt (default ${d(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)})`,
  },
  'idle-timeout': {
    kind: 'string',
    valueName: '<duration>',
    description: `Close a connection idle both ways this long; 0 disables (default ${d(DEFAULT_IDLE_TIMEOUT_MS)})`,
  },
  'close-grace': {
    kind: 'string',
    valueName: '<duration>',
    description: `On shutdown, how long connections with bytes in flight may finish (default ${d(DEFAULT_GATEWAY_CLOSE_GRACE_MS)})`,
  },
  'max-connections': {
    kind: 'string',
    valueName: '<n>',
    description: `Open client connections allowed; 0 means no limit (default ${DEFAULT_MAX_GATEWAY_CONNECTIONS})`,
  },
  'status-interval': {
    kind: 'string',
    valueName: '<duration>',
    description: `Print a status line this often; 0 disables (default ${d(DEFAULT_STATUS_INTERVAL_MS)})`,
  },
  admin: {
    kind: 'string',
    valueName: '<host:port>',
    description:
      'Serve the admin endpoint here (/metrics, /v1/status, /health, /v1/internal/federation-states); off by default',
  },
  'primary-datacenter': {
    kind: 'string',
    valueName: '<dc>',
    description: "The primary DC: route by federation states (every DC's gateways, no config edit)",
  },
  'primary-gateway': {
    kind: 'strings',
    valueName: '<host:port>',
    description:
      "A gateway of the primary DC, where a secondary's gateway first fetches federation states",
  },
  'ca-file': {
    kind: 'string',
    valueName: '<path>',
    description: 'CA certificate (PEM) for the federation-state connection to the servers',
  },
  'cert-file': {
    kind: 'string',
    valueName: '<path>',
    description: "This gateway's client certificate (PEM) for that connection",
  },
  'key-file': {
    kind: 'string',
    valueName: '<path>',
    description: 'Its private key (PEM)',
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
  Prints a startup line, then a status line every --status-interval (a
  timestamp, connections/s and bytes/s since the previous line, traffic per
  route), and a line for each rejected connection (reason and SNI). SIGINT or
  SIGTERM closes it gracefully (exit 0); a second signal closes at once. SIGHUP
  reloads the --config file: servers and remote gateways change for new
  connections, open connections keep flowing; a bad file is refused and the
  running config kept.

  $ wanfed gateway --dc dc1 --listen 0.0.0.0:8443 \\
      --server bob=10.0.1.10:8300 --remote dc2=10.0.2.1:8443
  gateway dc1 listening on 0.0.0.0:8443 (domain consul); routes: ...

  --admin <host:port> serves the admin endpoint (Prometheus /metrics, /v1/status,
  /health, and Consul's /v1/internal/federation-state(s) APIs); give a loopback
  address unless the network in between is trusted.

  With --primary-datacenter the gateway routes other DCs by federation states,
  as Consul's -expose-servers mesh gateways do, so a new DC needs no config
  edit: in a secondary it replicates the primary's states through the
  --primary-gateway addresses (then through its own DC's gateways), in the
  primary it reads them from the local servers; --ca-file, --cert-file and
  --key-file give its mutual-TLS identity. Config remoteGateways stay as the
  fallback for DCs the states do not route.

  Durations are milliseconds (1500) or a number with a unit: ms, s, m, h (5s, 2m).

Options:
${formatFlags(gatewayFlags)}
  ${'--help'.padEnd(HELP_WIDTH)}  Show this help

Config file (JSON; every time in milliseconds):
  {
    "datacenter": "dc1",                     required (here or --datacenter)
    "domain": "${DEFAULT_DOMAIN}",
    "listen": "${DEFAULT_GATEWAY_LISTEN}",
    "servers": { "bob": "10.0.1.10:8300" },  required (here or --server)
    "remoteGateways": { "dc2": ["10.0.2.1:8443"] },
    "helloTimeoutMs": ${DEFAULT_HELLO_TIMEOUT_MS}, "connectTimeoutMs": ${DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS}, "idleTimeoutMs": ${DEFAULT_IDLE_TIMEOUT_MS},
    "maxConnections": ${DEFAULT_MAX_GATEWAY_CONNECTIONS}, "closeGraceMs": ${DEFAULT_GATEWAY_CLOSE_GRACE_MS}, "statusIntervalMs": ${DEFAULT_STATUS_INTERVAL_MS}
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
  // A reader that went away (`wanfed gateway | head`: EPIPE on stdout) stops the gateway
  // gracefully too, instead of killing it mid-connection. SIGHUP reloads (see serve()), as it
  // does for HAProxy and nginx.
  const onStdoutError = () => request('SIGPIPE')
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.on('error', onStdoutError)
  return {
    stopped,
    onForce,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      process.stdout.off('error', onStdoutError)
    },
  }
}

function describeReject(info: GatewayRejectInfo): string {
  const sni = info.sni === undefined ? '(none)' : info.sni
  const error = info.error === undefined ? '' : ` (${info.error.message})`
  return `${new Date().toISOString()} rejected ${info.remote}: reason=${info.reason} sni=${sni}${error}`
}

/** What `serve` runs besides the gateway: the admin endpoint and federation-state routing. */
interface ServeExtras {
  admin?: string
  federation?: FederationSettings
}

/** The gateway's servers and remote gateways, swapped as a whole when the config is reloaded. */
async function serve(
  settings: GatewaySettings,
  io: CliIo,
  source: ReloadSource | undefined,
  extras: ServeExtras,
): Promise<number> {
  const live = new LiveRoutes(settings)
  const federation =
    extras.federation === undefined
      ? undefined
      : new GatewayFederation(extras.federation, settings, live.locator, () => live.servers.all())
  const remoteDcs = () =>
    federation === undefined
      ? live.remoteDcs
      : [...new Set([...live.remoteDcs, ...federation.routes.datacenters()])].sort()
  const gateway = new MeshGateway({
    datacenter: settings.datacenter,
    ...(settings.domain === undefined ? {} : { domain: settings.domain }),
    servers: live.servers,
    locator: federation?.routes ?? live.locator,
    ...(settings.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: settings.helloTimeoutMs }),
    ...(settings.connectTimeoutMs === undefined
      ? {}
      : { connectTimeoutMs: settings.connectTimeoutMs }),
    ...(settings.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: settings.idleTimeoutMs }),
    ...(settings.maxConnections === undefined ? {} : { maxConnections: settings.maxConnections }),
    ...(settings.closeGraceMs === undefined ? {} : { closeGraceMs: settings.closeGraceMs }),
  })

  const reloader = new GatewayReloader(live, settings, source, io, (next) =>
    describeRoutes(table(next)),
  )

  const stop = watchStop(io)
  let reloading = Promise.resolve()
  // One reload at a time, in the order the signals came.
  const onHangup = () => {
    reloading = reloading.then(() => reloader.reload())
  }
  if (io.signal === undefined) process.on('SIGHUP', onHangup)
  const meter = new StatusMeter()
  let timer: NodeJS.Timeout | undefined
  const components: AdminComponents = {
    gateways: { [settings.datacenter]: gateway },
    ...(federation === undefined ? {} : { locators: { federation: federation.locator } }),
  }
  const admin =
    extras.admin === undefined
      ? undefined
      : createAdminServer({
          datacenter: settings.datacenter,
          ...(federation === undefined ? {} : { federationStates: federation.store }),
          components,
        })
  try {
    const { host, port } = parseHostPort(settings.listen, 'listen')
    const bound = await gateway.listen({ host, port })
    // Attached after listen(), whose own failure is the rejection above, not an event to report.
    gateway.on('error', (err) => io.stderr.write(`gateway error: ${err.message}\n`))
    gateway.on('rejected', (info) => io.stdout.write(`${describeReject(info)}\n`))
    if (admin !== undefined && extras.admin !== undefined) {
      const a = parseHostPort(extras.admin, '--admin')
      const at = await admin.listen({ host: a.host, port: a.port })
      io.stdout.write(`admin endpoint listening on http://${formatHostPort(at.address, at.port)}\n`)
    }
    if (federation !== undefined && extras.federation !== undefined) {
      federation.start()
      const f = extras.federation
      io.stdout.write(
        f.primaryDatacenter === settings.datacenter
          ? `federation states: primary ${f.primaryDatacenter}, read from the local servers\n`
          : `federation states: primary ${f.primaryDatacenter}, replicated through ${f.primaryGateways.join(',')}\n`,
      )
    }
    io.stdout.write(
      `gateway ${gateway.datacenter} listening on ${formatHostPort(bound.address, bound.port)} (domain ${gateway.domain}); routes: ${describeRoutes(table(settings))}\n`,
    )
    if (settings.statusIntervalMs > 0) {
      timer = setInterval(() => {
        io.stdout.write(`${meter.line(gateway.stats(), remoteDcs())}\n`)
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
    await admin?.close()
    await federation?.close()
    await gateway.close()
    await reloading
    io.stdout.write(`${meter.line(gateway.stats(), remoteDcs())}\n`)
    io.stdout.write('closed\n')
    return 0
  } finally {
    clearInterval(timer)
    stop.dispose()
    process.off('SIGHUP', onHangup)
    // Only reached without a close when listen() failed or a write threw: release everything.
    if (gateway.status !== 'closed') gateway.destroy()
    await admin?.close()
    await federation?.close()
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
  let source: ReloadSource | undefined
  if (flags.config !== undefined) {
    const path = resolve(io.cwd, flags.config)
    source = { path, shown: display(path, io.cwd), overrides }
    file = await readGatewayConfig(path, source.shown)
  }
  const settings = resolveGatewaySettings(file, overrides, source?.shown)
  if (renderKind !== undefined) {
    io.stdout.write(render(renderKind, settings))
    return 0
  }
  if (flags.admin !== undefined)
    checkAddress(
      flags.admin,
      '--admin',
      (field, problem) => {
        throw new UsageError(`${field}: ${problem}`)
      },
      true,
    )
  const federation = await resolveFederation(
    {
      primaryDatacenter: flags['primary-datacenter'],
      primaryGateways: flags['primary-gateway'],
      caFile: flags['ca-file'],
      certFile: flags['cert-file'],
      keyFile: flags['key-file'],
    },
    settings.datacenter,
    io.cwd,
  )
  return serve(settings, io, source, {
    ...(flags.admin === undefined ? {} : { admin: flags.admin }),
    ...(federation === undefined ? {} : { federation }),
  })
}

export const gatewayCommand: Command = {
  summary: 'Run a mesh gateway (SNI routing to local servers and other DCs)',
  usage: USAGE,
  run,
}
