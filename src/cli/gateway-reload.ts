/**
 * Reloading `wanfed gateway`'s config file on SIGHUP, as HAProxy and nginx operators expect: the
 * servers and remote gateways are swapped for new connections while open ones keep flowing.
 *
 * @packageDocumentation
 */

import { DEFAULT_DOMAIN } from '../alpn/sni.ts'
import { type ServerRegistry, toServerRegistry } from '../gateway/index.ts'
import { StaticGatewayLocator } from '../locator/index.ts'
import { CommandError } from './args.ts'
import {
  CONFIG_KEYS,
  type ConfigKey,
  type GatewayConfig,
  type GatewaySettings,
  readGatewayConfig,
  resolveGatewaySettings,
} from './gateway-config.ts'
import type { CliIo } from './types.ts'

/** Where SIGHUP reloads from: the config file and the flags that override it. */
export interface ReloadSource {
  path: string
  shown: string
  overrides: GatewayConfig
}

/** What a reload cannot change on a running gateway: routes depend on them. */
const FIXED_ON_RELOAD = ['datacenter', 'domain'] as const
/** What a reload swaps in for new connections ({@link LiveRoutes}). */
const LIVE_ON_RELOAD = ['servers', 'remoteGateways'] as const
type RestartOnlyKey = Exclude<
  ConfigKey,
  (typeof FIXED_ON_RELOAD)[number] | (typeof LIVE_ON_RELOAD)[number]
>
/**
 * What a reload reads but applies only on restart (the listener and the gateway's options): every
 * other config key, so a key added to the file is restart-only until it is made live.
 */
const RESTART_ONLY = CONFIG_KEYS.filter(
  (key): key is RestartOnlyKey =>
    !(FIXED_ON_RELOAD as readonly string[]).includes(key) &&
    !(LIVE_ON_RELOAD as readonly string[]).includes(key),
)

export class LiveRoutes {
  #servers: ServerRegistry
  readonly locator: StaticGatewayLocator
  remoteDcs: string[]

  constructor(settings: GatewaySettings) {
    this.#servers = toServerRegistry(settings.servers)
    this.locator = new StaticGatewayLocator(settings.remoteGateways)
    this.remoteDcs = Object.keys(settings.remoteGateways).sort()
  }

  /** Asked per connection, so a reload applies to the next one. */
  readonly servers: ServerRegistry = {
    lookup: (node) => this.#servers.lookup(node),
    all: () => this.#servers.all(),
    nodes: () => this.#servers.nodes?.() ?? [],
  }

  /** Replaces servers and remote gateways; throws (changing nothing) on an invalid entry. */
  replace(settings: GatewaySettings): void {
    const servers = toServerRegistry(settings.servers)
    const next = Object.keys(settings.remoteGateways).sort()
    for (const dc of this.remoteDcs) if (!next.includes(dc)) this.locator.setGateways(dc, [])
    // Health is kept for gateways that stay.
    for (const dc of next) this.locator.setGateways(dc, settings.remoteGateways[dc] as string[])
    this.#servers = servers
    this.remoteDcs = next
  }
}

/**
 * What SIGHUP does: reads the config file again, merges the same flag overrides, and swaps the
 * servers and remote gateways in. A file that does not parse or validate, or that changes what
 * routes depend on, is refused with a line on stderr and the running config kept.
 */
export class GatewayReloader {
  readonly #live: LiveRoutes
  readonly #source: ReloadSource | undefined
  readonly #io: CliIo
  readonly #describe: (settings: GatewaySettings) => string
  #running: GatewaySettings

  constructor(
    live: LiveRoutes,
    running: GatewaySettings,
    source: ReloadSource | undefined,
    io: CliIo,
    describe: (settings: GatewaySettings) => string,
  ) {
    this.#live = live
    this.#running = running
    this.#source = source
    this.#io = io
    this.#describe = describe
  }

  async reload(): Promise<void> {
    const source = this.#source
    const io = this.#io
    if (source === undefined) {
      io.stdout.write('received SIGHUP: no --config file to reload; nothing changed\n')
      return
    }
    const running = this.#running
    let next: GatewaySettings
    try {
      const file = await readGatewayConfig(source.path, source.shown)
      next = resolveGatewaySettings(file, source.overrides, source.shown)
      for (const key of FIXED_ON_RELOAD) {
        if (next[key] !== running[key]) {
          throw new CommandError(
            `${key} cannot change on reload (${running[key] ?? DEFAULT_DOMAIN} -> ${next[key] ?? DEFAULT_DOMAIN}); restart the gateway`,
          )
        }
      }
      this.#live.replace(next)
    } catch (err) {
      io.stderr.write(
        `reload of ${source.shown} refused: ${(err as Error).message}; keeping the running config\n`,
      )
      return
    }
    const later = RESTART_ONLY.filter((key) => next[key] !== running[key])
    // The restart-only values keep running as they were.
    this.#running = { ...next, ...Object.fromEntries(later.map((key) => [key, running[key]])) }
    io.stdout.write(
      `reloaded ${source.shown}: routes: ${this.#describe(next)}${later.length === 0 ? '' : `; ${later.join(', ')} changed, applied on restart only`}\n`,
    )
  }
}
