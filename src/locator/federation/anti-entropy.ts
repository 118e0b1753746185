import { EventEmitter } from 'eventemitter3'
import { AbortError, ClosedError, InvalidArgumentError } from '../../errors.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import {
  LOCATOR_MAX_ERROR_BACKOFF_MS,
  LOCATOR_REFRESH_BURST,
  LOCATOR_REFRESH_RATE,
} from './gateway-locator.ts'
import { RateLimiter } from './rate-limiter.ts'
import { RetryLoopBackoff } from './retry-backoff.ts'
import { sleep } from './sleep.ts'
import { isSameFederationState } from './state.ts'
import type { FederationStateRequest, FederationStateStore } from './store.ts'
import { type MeshGatewayInput, parseFederationState } from './validate.ts'

/**
 * Where a datacenter's own mesh gateways come from (Consul reads its catalog): a fixed list, a
 * function asked on every round (call {@link FederationStateAntiEntropy.notify} when its answer
 * changes), or an async iterable whose every value is the new list.
 */
export type GatewaySource =
  | readonly MeshGatewayInput[]
  | (() => readonly MeshGatewayInput[] | Promise<readonly MeshGatewayInput[]>)
  | AsyncIterable<readonly MeshGatewayInput[]>

/** Where a secondary sends its record: the primary's service (a {@link FederationStateClient}). */
export interface FederationStateWriter {
  apply(request: FederationStateRequest, options: { signal?: AbortSignal }): Promise<unknown>
}

export interface FederationStateAntiEntropyOptions {
  datacenter: string
  primaryDatacenter: string
  /** This node's store: in a secondary the copy replicated from the primary, in the primary the authoritative one. */
  store: FederationStateStore
  gateways: GatewaySource
  /** Required in a secondary: the primary's federation-state service, reached through the gateways. */
  primary?: FederationStateWriter
  /** Blocking wait on the stored copy before re-checking anyway, ms. Default: the store's (300 s). */
  waitMs?: number
  /** Rounds per second after the burst. Default 0.2 (Consul's). */
  rate?: number
  /** Default 5 (Consul's). */
  burst?: number
  /** Longest sleep after failed rounds (2 s doubling). Default 256,000 ms (Consul's). */
  maxErrorBackoffMs?: number
  /** @internal Wall-clock ms for `updatedAt`. */
  wallClock?: () => number
  /** @internal */
  clock?: Clock
}

export interface AntiEntropyRound {
  /** `synced`: the record was written; `skipped`: the stored copy was already the same. */
  outcome: 'synced' | 'skipped' | 'failed'
  error?: Error
}

export interface FederationStateAntiEntropyEvents {
  round: (round: AntiEntropyRound) => void
}

/**
 * Consul's federation-state anti-entropy, run in every datacenter: whenever this datacenter's
 * gateways differ from the stored copy of its record (Consul's `IsSame`, order and check output
 * included), write the record with the current time: in the primary into its own store, from a
 * secondary as an `Apply` to the primary through the gateways. It wakes when the gateway source
 * changes, when the stored copy changes (in a secondary: when replication brings it back), and
 * after each blocking wait; rounds are rate-limited as Consul's (0.2/s, burst 5; failures back off
 * 2 s doubling to 256 s).
 */
export class FederationStateAntiEntropy extends EventEmitter<FederationStateAntiEntropyEvents> {
  readonly #datacenter: string
  readonly #isPrimary: boolean
  readonly #store: FederationStateStore
  readonly #primary: FederationStateWriter | undefined
  readonly #waitMs: number | undefined
  readonly #clock: Clock
  readonly #wallClock: () => number
  readonly #limiter: RateLimiter
  readonly #maxErrorBackoffMs: number
  readonly #closing = new AbortController()
  #read: () => Promise<readonly MeshGatewayInput[]>
  #iterable: AsyncIterable<readonly MeshGatewayInput[]> | undefined
  #latest: readonly MeshGatewayInput[] | undefined
  #kick: (() => void) | undefined
  #kicked = false
  #loop: Promise<void> | undefined
  #feed: Promise<void> | undefined

  constructor(options: FederationStateAntiEntropyOptions) {
    super()
    for (const k of ['datacenter', 'primaryDatacenter'] as const)
      if (typeof options?.[k] !== 'string' || options[k] === '')
        throw new InvalidArgumentError(`${k} must be a non-empty string`)
    if (typeof options.store?.blockingGet !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    this.#datacenter = options.datacenter
    this.#isPrimary = options.datacenter === options.primaryDatacenter
    if (!this.#isPrimary && typeof options.primary?.apply !== 'function')
      throw new InvalidArgumentError(
        'a secondary needs primary: the primary federation-state service',
      )
    this.#store = options.store
    this.#primary = options.primary
    this.#waitMs = options.waitMs
    this.#clock = options.clock ?? systemClock
    this.#wallClock = options.wallClock ?? Date.now
    this.#limiter = new RateLimiter(
      this.#clock,
      options.rate ?? LOCATOR_REFRESH_RATE,
      options.burst ?? LOCATOR_REFRESH_BURST,
    )
    this.#maxErrorBackoffMs = options.maxErrorBackoffMs ?? LOCATOR_MAX_ERROR_BACKOFF_MS
    const source = options.gateways
    if (Array.isArray(source)) {
      const fixed = source as readonly MeshGatewayInput[]
      this.#read = async () => fixed
    } else if (typeof source === 'function') {
      this.#read = async () => await source()
    } else if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
      this.#iterable = source
      this.#read = async () => {
        if (this.#latest === undefined) throw new InvalidArgumentError('no gateway list yet')
        return this.#latest
      }
    } else {
      throw new InvalidArgumentError('gateways must be a list, a function or an async iterable')
    }
  }

  /** Starts the loop. Idempotent. */
  start(): this {
    if (this.#closing.signal.aborted) throw new ClosedError('anti-entropy closed')
    if (this.#loop === undefined) {
      if (this.#iterable !== undefined) this.#feed = this.#consume(this.#iterable)
      this.#loop = this.#run(this.#closing.signal)
    }
    return this
  }

  /** The gateway source's answer changed: run a round soon. */
  notify(): void {
    this.#kicked = true
    this.#kick?.()
  }

  async close(): Promise<void> {
    this.#closing.abort()
    this.notify()
    await this.#loop
    await this.#feed
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #consume(source: AsyncIterable<readonly MeshGatewayInput[]>): Promise<void> {
    const it = source[Symbol.asyncIterator]()
    const closed = new Promise<IteratorResult<readonly MeshGatewayInput[]>>((resolve) =>
      this.#closing.signal.addEventListener(
        'abort',
        () => resolve({ done: true, value: undefined }),
        { once: true },
      ),
    )
    try {
      for (;;) {
        const next = await Promise.race([it.next(), closed])
        if (next.done === true) break
        this.#latest = next.value
        this.notify()
      }
    } catch (err) {
      debug('anti-entropy gateway source failed: %s', (err as Error).message)
    } finally {
      // A generator suspended in an await finishes its return() only when it resumes: never wait.
      void it.return?.()?.catch(() => {})
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    const backoff = new RetryLoopBackoff(this.#maxErrorBackoffMs)
    try {
      for (;;) {
        await this.#limiter.wait(signal)
        const retryMs = backoff.next()
        let index: number
        try {
          this.#kicked = false
          index = await this.#round(signal)
          backoff.reset()
        } catch (err) {
          if (signal.aborted) return
          debug(
            'error performing anti-entropy sync of federation state: %s',
            (err as Error).message,
          )
          this.emit('round', { outcome: 'failed', error: err as Error })
          await sleep(this.#clock, retryMs, signal)
          continue
        }
        await this.#waitForChange(index, signal)
        if (signal.aborted) return
      }
    } catch (err) {
      if (!(err instanceof AbortError)) debug('anti-entropy stopped: %s', (err as Error).message)
    }
  }

  /** One comparison and, when needed, one write. Returns the stored copy's index to block on. */
  async #round(signal: AbortSignal): Promise<number> {
    const gateways =
      this.#iterable !== undefined && this.#latest === undefined ? undefined : await this.#read()
    const prev = this.#store.get(this.#datacenter)
    if (gateways === undefined) return prev.index
    const curr = parseFederationState({ datacenter: this.#datacenter, meshGateways: gateways })
    if (prev.state !== undefined && isSameFederationState(prev.state, curr)) {
      debug('federation state anti-entropy sync skipped; already up to date')
      this.emit('round', { outcome: 'skipped' })
      return prev.index
    }
    const state = { ...curr, updatedAt: this.#wallClock() }
    if (this.#isPrimary) this.#store.upsert(state)
    else await (this.#primary as FederationStateWriter).apply({ op: 'upsert', state }, { signal })
    debug('federation state anti-entropy synced')
    this.emit('round', { outcome: 'synced' })
    // Block from the index read before the write, as Consul does: in a secondary the copy may
    // come back from the primary before this round even returns, and must still wake the next.
    return prev.index
  }

  /** Until the stored copy changes past `index`, the source changes, or the blocking wait ends. */
  async #waitForChange(index: number, signal: AbortSignal): Promise<void> {
    if (this.#kicked) return
    const ac = new AbortController()
    const onClose = () => ac.abort()
    signal.addEventListener('abort', onClose, { once: true })
    this.#kick = () => ac.abort()
    try {
      await this.#store.blockingGet(this.#datacenter, {
        minIndex: Math.max(1, index),
        ...(this.#waitMs === undefined ? {} : { waitMs: this.#waitMs }),
        signal: ac.signal,
      })
    } catch (err) {
      if (!(err instanceof AbortError)) throw err
    } finally {
      this.#kick = undefined
      signal.removeEventListener('abort', onClose)
    }
  }
}
