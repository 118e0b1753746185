/**
 * A custom `GatewayLocator`: each datacenter's mesh gateways come from a DNS SRV name (say
 * `_mesh-gateway._tcp.dc2.example.com`), resolved in the background and re-resolved every
 * `refreshMs`. `pickGateway` is called at dial time and must answer at once, so it never waits
 * on DNS: it picks from the last answer. Choosing among the answer, and avoiding a gateway whose
 * dial failed for a backoff window, is `StaticGatewayLocator`'s job, which this wraps.
 */
import { Resolver } from 'node:dns/promises'
import { isIP } from 'node:net'
import { type GatewayLocator, StaticGatewayLocator } from 'wanfed'

export interface DnsGatewayLocatorOptions {
  /** The datacenters to resolve, and the SRV name of each one's gateways. */
  srvNames: Readonly<Record<string, string>>
  /** DNS servers (`host` or `host:port`); default the system's. */
  servers?: readonly string[]
  /** Re-resolve this often, ms. Default 30,000. */
  refreshMs?: number
  /** A resolution failed; the last known gateways stay in use. Default: ignored. */
  onError?: (datacenter: string, err: Error) => void
}

export class DnsGatewayLocator implements GatewayLocator {
  readonly #options: DnsGatewayLocatorOptions
  readonly #resolver = new Resolver({ timeout: 2_000, tries: 2 })
  readonly #picks = new StaticGatewayLocator({})
  #timer: NodeJS.Timeout | undefined

  constructor(options: DnsGatewayLocatorOptions) {
    this.#options = options
    if (options.servers !== undefined) this.#resolver.setServers([...options.servers])
  }

  /** Resolves every datacenter once, then keeps them fresh until {@link close}. */
  async start(): Promise<void> {
    await this.refresh()
    this.#timer = setInterval(() => void this.refresh(), this.#options.refreshMs ?? 30_000)
    // A locator never keeps a process alive on its own.
    this.#timer.unref()
  }

  /** Resolves every datacenter now. A datacenter whose lookup fails keeps its last gateways. */
  async refresh(): Promise<void> {
    await Promise.all(
      Object.entries(this.#options.srvNames).map(async ([dc, name]) => {
        try {
          this.#picks.setGateways(dc, await this.resolve(name))
        } catch (err) {
          this.#options.onError?.(dc, err as Error)
        }
      }),
    )
  }

  /** `host:port` of each target of `srvName`'s best (lowest) priority, its name resolved to IPv4. */
  async resolve(srvName: string): Promise<string[]> {
    const records = await this.#resolver.resolveSrv(srvName)
    const best = Math.min(...records.map((r) => r.priority))
    const targets = records.filter((r) => r.priority === best)
    const lists = await Promise.all(
      targets.map(async (r) => {
        const ips = isIP(r.name) ? [r.name] : await this.#resolver.resolve4(r.name)
        return ips.map((ip) => `${ip}:${r.port}`)
      }),
    )
    return [...new Set(lists.flat())].sort()
  }

  pickGateway(datacenter: string): string | undefined {
    return this.#picks.pickGateway(datacenter)
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    this.#picks.reportFailure(datacenter, gateway, err)
  }

  reportSuccess(datacenter: string, gateway: string): void {
    this.#picks.reportSuccess(datacenter, gateway)
  }

  close(): void {
    clearInterval(this.#timer)
    this.#resolver.cancel()
  }
}
