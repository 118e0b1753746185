import { EventEmitter } from 'eventemitter3'
import { AbortError, ClosedError, InvalidArgumentError } from '../../errors.ts'
import { abortReason } from '../../internal/abort.ts'
import { parseHostPort } from '../../internal/address.ts'
import type { BackoffOptions } from '../../internal/backoff.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { optionalNumber } from '../../internal/validate.ts'
import { type GatewayHealth, GatewayHealthTracker } from '../gateway-health.ts'
import type { GatewayLocator } from '../types.ts'
import {
  compareStrings,
  renderGatewayAddresses,
  sameList,
  unionSorted,
} from './gateway-addresses.ts'
import { RateLimiter } from './rate-limiter.ts'
import { ReplicationSignal } from './replication-signal.ts'
import { RetryLoopBackoff } from './retry-backoff.ts'
import { sleep } from './sleep.ts'
import type { FederationState } from './state.ts'
import type { FederationStateStore } from './store.ts'

/** Consul's `retryLoopBackoff` rate: 0.2 runs per second... */
export const LOCATOR_REFRESH_RATE = 0.2
/** ...with a burst of 5. */
export const LOCATOR_REFRESH_BURST = 5
/** Consul's `retryLoopBackoff` longest error sleep (2, 4, 8, ... s). */
export const LOCATOR_MAX_ERROR_BACKOFF_MS = 256_000

export interface FederationGatewayLocatorOptions {
  /** This node's store: the authoritative one in the primary, the replicated copy in a secondary. */
  store: FederationStateStore
  /** This node's datacenter. */
  datacenter: string
  /** The primary datacenter (equal to `datacenter` on the primary's nodes). */
  primaryDatacenter: string
  /**
   * True on the node that replicates federation states from the primary (Consul's secondary
   * leader): its route to the primary follows replication's health. Default false: a node that
   * does not replicate (Consul's follower) always dials the primary through local gateways.
   * Switch later with {@link FederationGatewayLocator.setUseReplicationSignal}.
   */
  replicates?: boolean
  /** Initial fallback addresses of the primary's gateways (`host:port`), as from `primary_gateways`. */
  fallbackAddresses?: readonly string[]
  /** How long a gateway whose dial failed is avoided (exponential in its consecutive failures). */
  backoff?: BackoffOptions
  /** Store reads per second after the burst. Default 0.2 (Consul's). */
  refreshRate?: number
  /** Store reads allowed at once before the rate applies. Default 5 (Consul's). */
  refreshBurst?: number
  /** Longest sleep after failed reads (2 s doubling). Default 256,000 ms (Consul's). */
  maxErrorBackoffMs?: number
  /** @internal */
  clock?: Clock
  /** @internal Source of randomness for the pick and the backoff jitter. */
  random?: () => number
}

/** What the locator currently believes, for status pages and tests. */
export interface LocatorDecision {
  datacenter: string
  primaryDatacenter: string
  isPrimary: boolean
  /** False until the first successful read of the store; nothing is returned before. */
  populated: boolean
  /** From a secondary: whether the primary is dialled through local gateways (else its own). */
  dialPrimaryThroughLocalGateway: boolean
  useReplicationSignal: boolean
  consecutiveReplicationFailures: number
  consecutiveReplicationSuccesses: number
  /** WAN addresses of the primary's usable gateways, sorted. */
  primaryGateways: string[]
  /** LAN addresses of this datacenter's usable gateways, sorted. */
  localGateways: string[]
  /** Fallback addresses of the primary's gateways, sorted. */
  fallbackAddresses: string[]
  /** What a pick for the primary chooses among now. */
  primaryRoute: string[]
}

export interface FederationGatewayLocatorEvents {
  /** The primary or local gateway lists changed. */
  update: (decision: LocatorDecision) => void
  /** The route to the primary switched between local gateways and the primary's own. */
  decision: (dialPrimaryThroughLocalGateway: boolean) => void
}

/**
 * A {@link GatewayLocator} fed by federation states: Consul's gateway locator (current version)
 * plus the failure-aware choice of {@link StaticGatewayLocator}.
 *
 * It reads this node's {@link FederationStateStore} with blocking queries (rate-limited as
 * Consul's: 0.2 reads per second, burst 5; failures back off 2 s doubling to 256 s). Of each read
 * it keeps the gateways marked `consul-wan-federation: "1"` with no critical check: the primary
 * datacenter's as WAN addresses, this datacenter's as LAN addresses, each as sorted `host:port`.
 *
 * `pickGateway(dc)` returns nothing before the first successful read. For the primary it chooses
 * among: in the primary itself, its own gateways; in a secondary, the local gateways while
 * {@link dialPrimaryThroughLocalGateway} holds and local gateways exist, else the union of the
 * primary's gateways and the fallback addresses. For any other datacenter it chooses among the
 * local gateways. Among those, a gateway whose dial failed is avoided for a backoff window while
 * another remains.
 *
 * Call {@link start} to begin reading the store, {@link close} to stop.
 */
export class FederationGatewayLocator
  extends EventEmitter<FederationGatewayLocatorEvents>
  implements GatewayLocator
{
  readonly datacenter: string
  readonly primaryDatacenter: string
  /** Settles (never rejects) when replicated federation states first name a primary gateway. */
  readonly primaryGatewaysReady: Promise<void>
  readonly #store: FederationStateStore
  readonly #clock: Clock
  readonly #health: GatewayHealthTracker
  readonly #signal = new ReplicationSignal()
  readonly #limiter: RateLimiter
  readonly #maxErrorBackoffMs: number
  #primary: string[] = []
  #local: string[] = []
  #fallback: string[] = []
  #populated = false
  #markReady!: () => void
  #ready = false
  #lastIndex = 0
  #reads = 0
  #readErrors = 0
  readonly #closing = new AbortController()
  #loop: Promise<void> | undefined

  constructor(options: FederationGatewayLocatorOptions) {
    super()
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('FederationGatewayLocator needs options')
    for (const k of ['datacenter', 'primaryDatacenter'] as const)
      if (typeof options[k] !== 'string' || options[k] === '')
        throw new InvalidArgumentError(`${k} must be a non-empty string`)
    if (typeof options.store?.blockingList !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    this.datacenter = options.datacenter
    this.primaryDatacenter = options.primaryDatacenter
    this.#store = options.store
    this.#clock = options.clock ?? systemClock
    const random = options.random ?? Math.random
    this.#health = new GatewayHealthTracker(this.#clock, random, options.backoff)
    this.#limiter = new RateLimiter(
      this.#clock,
      options.refreshRate ?? LOCATOR_REFRESH_RATE,
      options.refreshBurst ?? LOCATOR_REFRESH_BURST,
    )
    this.#maxErrorBackoffMs = optionalNumber(
      options.maxErrorBackoffMs,
      LOCATOR_MAX_ERROR_BACKOFF_MS,
      'maxErrorBackoffMs',
      { min: 2_000, unit: 'ms' },
    )
    this.primaryGatewaysReady = new Promise<void>((resolve) => {
      this.#markReady = resolve
    })
    if (options.fallbackAddresses !== undefined)
      this.refreshPrimaryGatewayFallbackAddresses(options.fallbackAddresses)
    // As Consul since #9528: start out dialling the primary through local gateways.
    if (options.replicates === true) this.#signal.setUseReplicationSignal(true)
    this.#signal.record(undefined, false)
  }

  get isPrimary(): boolean {
    return this.datacenter === this.primaryDatacenter
  }

  /** Starts reading the store. Idempotent. */
  start(): this {
    if (this.#closing.signal.aborted) throw new ClosedError('locator closed')
    if (this.#loop === undefined) this.#loop = this.#run(this.#closing.signal)
    return this
  }

  /** Stops reading the store and releases every timer. The lists stay as they were. */
  async close(): Promise<void> {
    this.#closing.abort()
    await this.#loop
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  pickGateway(datacenter: string): string | undefined {
    const candidates = this.listGateways(datacenter === this.primaryDatacenter)
    return this.#health.pick(datacenter, candidates)
  }

  reportFailure(datacenter: string, gateway: string, err: Error): void {
    if (this.listGateways(datacenter === this.primaryDatacenter).includes(gateway))
      this.#health.reportFailure(datacenter, gateway, err)
  }

  reportSuccess(datacenter: string, gateway: string): void {
    this.#health.reportSuccess(datacenter, gateway)
  }

  /** Health of the gateways a pick for `datacenter` chooses among now. */
  health(datacenter: string): GatewayHealth[] {
    return this.#health.health(datacenter, this.listGateways(datacenter === this.primaryDatacenter))
  }

  /** Consul's `listGateways(primary)` (current): what a pick chooses among, before health. */
  listGateways(primary: boolean): string[] {
    if (!this.#populated) return []
    if (!primary) return [...this.#local]
    if (this.isPrimary) return [...this.#primary]
    if (this.dialPrimaryThroughLocalGateway() && this.#local.length > 0) return [...this.#local]
    return unionSorted(this.#primary, this.#fallback)
  }

  /** WAN addresses of the primary's usable gateways, sorted. */
  primaryGateways(): string[] {
    return [...this.#primary]
  }

  /** LAN addresses of this datacenter's usable gateways, sorted. */
  localGateways(): string[] {
    return [...this.#local]
  }

  fallbackAddresses(): string[] {
    return [...this.#fallback]
  }

  /**
   * Consul's `RefreshPrimaryGatewayFallbackAddresses`: the primary's gateways as discovered from
   * configuration (`primary_gateways`), used alongside the replicated ones when dialling the
   * primary directly. Each must be `host:port` (IPv6 in brackets).
   */
  refreshPrimaryGatewayFallbackAddresses(addresses: readonly string[]): void {
    if (!Array.isArray(addresses))
      throw new InvalidArgumentError('fallback addresses must be an array of host:port')
    for (const a of addresses) parseHostPort(a, 'primary gateway fallback address')
    const next = [...new Set(addresses)].sort(compareStrings)
    if (sameList(next, this.#fallback)) return
    this.#fallback = next
    debug('updated fallback list of primary mesh gateways: %j', next)
  }

  /** Consul's `DialPrimaryThroughLocalGateway` (current). Always false in the primary. */
  dialPrimaryThroughLocalGateway(): boolean {
    if (this.isPrimary) return false
    return this.#signal.dialPrimaryThroughLocalGateway()
  }

  /**
   * Consul's `SetLastFederationStateReplicationError`: the replicator reports each round here (an
   * error, or undefined for success, with `fromReplication` true).
   */
  setLastReplicationError(err: Error | undefined, fromReplication = true): void {
    const before = this.dialPrimaryThroughLocalGateway()
    this.#signal.record(err, fromReplication)
    this.#decisionMaybeChanged(before)
  }

  /**
   * Consul's `SetUseReplicationSignal`: on when this node starts replicating (a secondary's leader),
   * off when it stops. Then, as Consul, a neutral success is recorded.
   */
  setUseReplicationSignal(use: boolean): void {
    const before = this.dialPrimaryThroughLocalGateway()
    this.#signal.setUseReplicationSignal(use)
    this.#signal.record(undefined, false)
    this.#decisionMaybeChanged(before)
  }

  /** Resolves with the primary's gateways once known; rejects on abort or close. */
  async waitForPrimaryGateways(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const { signal } = options
    if (!this.#ready) {
      if (signal?.aborted) throw abortReason(signal, 'waiting for primary gateways')
      const close = this.#closing.signal
      if (close.aborted) throw new ClosedError('locator closed')
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          signal?.removeEventListener('abort', onAbort)
          close.removeEventListener('abort', onClose)
        }
        const onAbort = () => {
          done()
          reject(abortReason(signal as AbortSignal, 'waiting for primary gateways'))
        }
        const onClose = () => {
          done()
          reject(new ClosedError('locator closed'))
        }
        signal?.addEventListener('abort', onAbort, { once: true })
        close.addEventListener('abort', onClose, { once: true })
        void this.primaryGatewaysReady.then(() => {
          done()
          resolve()
        })
      })
    }
    return this.primaryGateways()
  }

  decision(): LocatorDecision {
    const s = this.#signal.state()
    return {
      datacenter: this.datacenter,
      primaryDatacenter: this.primaryDatacenter,
      isPrimary: this.isPrimary,
      populated: this.#populated,
      dialPrimaryThroughLocalGateway: this.dialPrimaryThroughLocalGateway(),
      useReplicationSignal: s.useReplicationSignal,
      consecutiveReplicationFailures: s.consecutiveFailures,
      consecutiveReplicationSuccesses: s.consecutiveSuccesses,
      primaryGateways: this.primaryGateways(),
      localGateways: this.localGateways(),
      fallbackAddresses: this.fallbackAddresses(),
      primaryRoute: this.listGateways(true),
    }
  }

  stats(): { reads: number; readErrors: number; lastIndex: number } {
    return { reads: this.#reads, readErrors: this.#readErrors, lastIndex: this.#lastIndex }
  }

  /** Consul's `updateFromState`: one read of the store becomes the two lists. */
  #update(states: readonly FederationState[]): void {
    let primary: string[] = []
    let local: string[] = []
    for (const s of states) {
      if (s.datacenter === this.datacenter) local = renderGatewayAddresses(s.meshGateways, false)
      if (s.datacenter === this.primaryDatacenter)
        primary = renderGatewayAddresses(s.meshGateways, true)
    }
    this.#populated = true
    let changed = false
    if (!sameList(primary, this.#primary)) {
      this.#primary = primary
      changed = true
    }
    if (!sameList(local, this.#local)) {
      this.#local = local
      changed = true
    }
    if (changed) {
      debug('new cached locations of mesh gateways: primary=%j local=%j', primary, local)
      this.emit('update', this.decision())
    }
    if (!this.#ready && this.#primary.length > 0) {
      this.#ready = true
      this.#markReady()
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const backoff = new RetryLoopBackoff(this.#maxErrorBackoffMs)
    try {
      for (;;) {
        await this.#limiter.wait(signal)
        const retryMs = backoff.next()
        try {
          const r = await this.#store.blockingList({ minIndex: this.#lastIndex, signal })
          this.#reads++
          this.#update(r.states)
          this.#lastIndex = Math.max(1, r.index)
          backoff.reset()
        } catch (err) {
          if (signal.aborted) return
          if (err instanceof ClosedError) {
            debug('gateway locator: store closed, no more refreshes')
            return
          }
          this.#readErrors++
          debug('error tracking primary and local mesh gateways: %s', (err as Error).message)
          await sleep(this.#clock, retryMs, signal)
        }
      }
    } catch (err) {
      // Only the limiter's and the sleep's AbortError on close end up here.
      if (!(err instanceof AbortError)) debug('gateway locator stopped: %s', (err as Error).message)
    }
  }

  #decisionMaybeChanged(before: boolean): void {
    const after = this.dialPrimaryThroughLocalGateway()
    if (after === before || this.isPrimary) return
    debug(
      after
        ? 'will dial the primary datacenter using our local mesh gateways if possible'
        : 'will dial the primary datacenter through its mesh gateways',
    )
    this.emit('decision', after)
  }
}
