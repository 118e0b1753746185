import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { EventEmitter } from 'eventemitter3'
import { AbortError, ClosedError, InvalidArgumentError, NoGatewayError } from '../../errors.ts'
import { formatHostPort, parseHostPort } from '../../internal/address.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { optionalNumber } from '../../internal/validate.ts'
import { sleep } from './sleep.ts'

/** Consul's `primary_gateways_interval` default. */
export const PRIMARY_GATEWAYS_INTERVAL_MS = 30_000

/** What discovery feeds: a {@link FederationGatewayLocator} in practice. */
export interface FallbackTarget {
  refreshPrimaryGatewayFallbackAddresses(addresses: readonly string[]): void
  /** When replication has named a primary gateway, discovery is no longer needed. */
  readonly primaryGatewaysReady?: Promise<void>
}

export interface PrimaryGatewayDiscoveryOptions {
  /** Consul's `primary_gateways`: `host:port` entries, the host an IP literal or a DNS name. */
  addresses: readonly string[]
  target: FallbackTarget
  /** Between tries, ms. Default 30,000 (Consul's). */
  intervalMs?: number
  /** Resolves a DNS name to addresses. Default: the system resolver (`dns.lookup`, all families). */
  resolve?: (host: string) => Promise<string[]>
  /** @internal */
  clock?: Clock
}

export interface PrimaryGatewayDiscoveryEvents {
  /** A try found these addresses and gave them to the target. */
  discovered: (addresses: string[]) => void
  /** A try found nothing (every name failed to resolve); another follows after the interval. */
  failed: (err: Error) => void
}

async function systemResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true })).map((a) => a.address)
}

/**
 * Consul's mesh-gateway retry join over `primary_gateways`: resolve the configured entries (DNS
 * names again on every try), hand the addresses to the locator as the primary's fallback
 * gateways, and stop. Tries until one succeeds, every `intervalMs`; stops early once replication
 * has named a primary gateway. As in Consul, the fallback is set once per start.
 */
export class PrimaryGatewayDiscovery extends EventEmitter<PrimaryGatewayDiscoveryEvents> {
  readonly #entries: { host: string; port: number }[]
  readonly #target: FallbackTarget
  readonly #intervalMs: number
  readonly #resolve: (host: string) => Promise<string[]>
  readonly #clock: Clock
  readonly #closing = new AbortController()
  #loop: Promise<string[] | undefined> | undefined
  #attempts = 0

  constructor(options: PrimaryGatewayDiscoveryOptions) {
    super()
    if (!Array.isArray(options?.addresses) || options.addresses.length === 0)
      throw new InvalidArgumentError('primary gateways: at least one host:port is needed')
    this.#entries = options.addresses.map((a) => parseHostPort(a, 'primary gateway'))
    if (typeof options.target?.refreshPrimaryGatewayFallbackAddresses !== 'function')
      throw new InvalidArgumentError(
        'target must take fallback addresses (a FederationGatewayLocator)',
      )
    this.#target = options.target
    this.#intervalMs = optionalNumber(
      options.intervalMs,
      PRIMARY_GATEWAYS_INTERVAL_MS,
      'intervalMs',
      {
        positive: true,
        unit: 'ms',
      },
    )
    this.#resolve = options.resolve ?? systemResolve
    this.#clock = options.clock ?? systemClock
  }

  /**
   * Starts trying; the promise resolves with the addresses handed over, or undefined when it
   * stopped without (closed, or replication got there first).
   */
  start(): Promise<string[] | undefined> {
    if (this.#closing.signal.aborted) return Promise.reject(new ClosedError('discovery closed'))
    if (this.#loop === undefined) this.#loop = this.#run(this.#closing.signal)
    return this.#loop
  }

  get attempts(): number {
    return this.#attempts
  }

  async close(): Promise<void> {
    this.#closing.abort()
    await this.#loop
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** One try: every entry resolved now; the sorted, deduplicated `host:port` list (maybe empty). */
  async discover(): Promise<string[]> {
    const found = new Set<string>()
    for (const { host, port } of this.#entries) {
      if (isIP(host) !== 0) {
        found.add(formatHostPort(host, port))
        continue
      }
      try {
        for (const ip of await this.#resolve(host)) found.add(formatHostPort(ip, port))
      } catch (err) {
        debug('Refreshing mesh gateways failed for %s: %s', host, (err as Error).message)
      }
    }
    return [...found].sort()
  }

  async #run(signal: AbortSignal): Promise<string[] | undefined> {
    let replicated = false
    void this.#target.primaryGatewaysReady?.then(() => {
      replicated = true
    })
    try {
      for (;;) {
        if (replicated) return undefined
        this.#attempts++
        debug('Refreshing mesh gateways...')
        const addresses = await this.discover()
        if (signal.aborted) return undefined
        if (addresses.length > 0) {
          debug('Discovered mesh gateways: %j', addresses)
          this.#target.refreshPrimaryGatewayFallbackAddresses(addresses)
          this.emit('discovered', addresses)
          return addresses
        }
        debug('No mesh gateways found; will retry')
        this.emit('failed', new NoGatewayError('no primary mesh gateway address resolved'))
        await sleep(this.#clock, this.#intervalMs, signal)
      }
    } catch (err) {
      if (err instanceof AbortError) return undefined
      throw err
    }
  }
}
