import { EventEmitter } from 'eventemitter3'
import { AbortError, ClosedError, InvalidArgumentError } from '../../errors.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { RateLimiter } from './rate-limiter.ts'
import { sleep } from './sleep.ts'
import type { FederationState } from './state.ts'
import type { BlockingQueryOptions, FederationStateStore, ListResult } from './store.ts'

/** Consul's `FederationStateReplicationRate` and `...Burst`: rounds per second, and at once. */
export const REPLICATION_RATE = 1
export const REPLICATION_BURST = 5
/** Consul's `FederationStateReplicationApplyLimit`: local writes per second. */
export const REPLICATION_APPLY_LIMIT = 100
/** After failed rounds: 1 s doubling to 120 s, plus up to 10 % (Consul's replicator). */
export const REPLICATION_MIN_BACKOFF_MS = 1_000
export const REPLICATION_MAX_BACKOFF_MS = 120_000
export const REPLICATION_JITTER = 0.1

/** Where the primary's states come from: a {@link FederationStateClient} in practice. */
export interface FederationStateSource {
  list(options: BlockingQueryOptions): Promise<ListResult>
}

/** Who hears each round's fetch result: a {@link FederationGatewayLocator} in practice. */
export interface ReplicationListener {
  setLastReplicationError(err: Error | undefined, fromReplication: boolean): void
}

export interface FederationStateReplicatorOptions {
  /** This secondary's store, made to hold the primary's states. */
  store: FederationStateStore
  /** The primary's federation-state service. */
  source: FederationStateSource
  /** Told after each fetch how it went (Consul feeds the gateway locator). */
  locator?: ReplicationListener
  /** Blocking wait of each fetch, ms. Default: the service's (300 s). */
  waitMs?: number
  /** Rounds per second after the burst. Default 1. */
  rate?: number
  /** Rounds at once. Default 5. */
  burst?: number
  /** Local writes per second. Default 100. */
  applyLimit?: number
  /** First wait after a failed round, ms. Default 1,000. */
  minBackoffMs?: number
  /** Longest wait, ms. Default 120,000. */
  maxBackoffMs?: number
  /** @internal */
  clock?: Clock
  /** @internal */
  random?: () => number
}

/** One round's outcome. */
export interface ReplicationRound {
  ok: boolean
  error?: Error
  /** The primary's index after the round (0 after a failure: the next round is a full sync). */
  remoteIndex: number
  deleted: number
  updated: number
  /** The round was a full sync (first round, after a failure, or the index moved backwards). */
  full: boolean
}

export interface FederationStateReplicatorEvents {
  round: (round: ReplicationRound) => void
}

/**
 * Consul's federation-state replication, run in a secondary: pull the primary's states with a
 * blocking `List` from the last remote index, diff them against the local store (only local:
 * delete; only remote, or changed since the last index: update), apply deletions first and then
 * updates (each keeping the primary's `modifyIndex` as `primaryModifyIndex`), and remember the
 * remote index. A remote index that moved backwards forces a full sync. Failed rounds back off
 * 1 s doubling to 120 s with up to 10 % jitter, and reset the index so the next round is full.
 * Rates as Consul's: 1 round per second (burst 5), 100 writes per second.
 */
export class FederationStateReplicator extends EventEmitter<FederationStateReplicatorEvents> {
  readonly #store: FederationStateStore
  readonly #source: FederationStateSource
  readonly #locator: ReplicationListener | undefined
  readonly #waitMs: number | undefined
  readonly #clock: Clock
  readonly #random: () => number
  readonly #rounds: RateLimiter
  readonly #applies: RateLimiter
  readonly #minBackoffMs: number
  readonly #maxBackoffMs: number
  readonly #closing = new AbortController()
  #loop: Promise<void> | undefined
  #lastRemoteIndex = 0
  #failures = 0
  #stats = { rounds: 0, failures: 0, deleted: 0, updated: 0, fullSyncs: 0 }

  constructor(options: FederationStateReplicatorOptions) {
    super()
    if (typeof options?.store?.upsert !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    if (typeof options.source?.list !== 'function')
      throw new InvalidArgumentError('source must have a list() method')
    this.#store = options.store
    this.#source = options.source
    this.#locator = options.locator
    this.#waitMs = options.waitMs
    this.#clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
    this.#rounds = new RateLimiter(
      this.#clock,
      options.rate ?? REPLICATION_RATE,
      options.burst ?? REPLICATION_BURST,
    )
    const applyLimit = options.applyLimit ?? REPLICATION_APPLY_LIMIT
    this.#applies = new RateLimiter(this.#clock, applyLimit, Math.max(1, Math.floor(applyLimit)))
    this.#minBackoffMs = options.minBackoffMs ?? REPLICATION_MIN_BACKOFF_MS
    this.#maxBackoffMs = options.maxBackoffMs ?? REPLICATION_MAX_BACKOFF_MS
    if (!(this.#minBackoffMs > 0 && this.#maxBackoffMs >= this.#minBackoffMs))
      throw new InvalidArgumentError('replication backoff needs 0 < minBackoffMs <= maxBackoffMs')
  }

  /** Starts replicating. Idempotent. */
  start(): this {
    if (this.#closing.signal.aborted) throw new ClosedError('replicator closed')
    if (this.#loop === undefined) this.#loop = this.#run(this.#closing.signal)
    return this
  }

  /** Stops after aborting the round in progress; every timer is released. */
  async close(): Promise<void> {
    this.#closing.abort()
    await this.#loop
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  get lastRemoteIndex(): number {
    return this.#lastRemoteIndex
  }

  stats(): {
    rounds: number
    failures: number
    deleted: number
    updated: number
    fullSyncs: number
    lastRemoteIndex: number
  } {
    return { ...this.#stats, lastRemoteIndex: this.#lastRemoteIndex }
  }

  /** The wait after `failures` failed rounds in a row (1 for the first). */
  backoffMs(failures: number): number {
    const base = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.max(0, failures - 1))
    return base + this.#random() * base * REPLICATION_JITTER
  }

  async #run(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        await this.#rounds.wait(signal)
        const round = await this.#round(signal)
        if (signal.aborted) return
        this.emit('round', round)
        if (round.ok) {
          this.#failures = 0
          continue
        }
        this.#failures++
        await sleep(this.#clock, this.backoffMs(this.#failures), signal)
      }
    } catch (err) {
      if (!(err instanceof AbortError)) debug('replicator stopped: %s', (err as Error).message)
    }
  }

  async #round(signal: AbortSignal): Promise<ReplicationRound> {
    this.#stats.rounds++
    let remote: ListResult
    try {
      remote = await this.#source.list({
        minIndex: this.#lastRemoteIndex,
        ...(this.#waitMs === undefined ? {} : { waitMs: this.#waitMs }),
        signal,
      })
      this.#locator?.setLastReplicationError(undefined, true)
    } catch (err) {
      if (signal.aborted) return this.#failed(err as Error, false)
      this.#locator?.setLastReplicationError(err as Error, true)
      debug('federation state replication: fetch failed: %s', (err as Error).message)
      return this.#failed(err as Error, this.#lastRemoteIndex === 0)
    }
    let last = this.#lastRemoteIndex
    if (remote.index < last) {
      debug('replication remote index moved backwards, forcing a full sync')
      last = 0
    }
    const full = last === 0
    if (full) this.#stats.fullSyncs++
    const { deletions, updates } = diff(this.#store.list().states, remote.states, last)
    let deleted = 0
    let updated = 0
    try {
      for (const dc of deletions) {
        await this.#applies.wait(signal)
        if (this.#store.delete(dc)) deleted++
      }
      for (const s of updates) {
        await this.#applies.wait(signal)
        this.#store.upsert({ ...s, primaryModifyIndex: s.modifyIndex })
        updated++
      }
    } catch (err) {
      this.#stats.deleted += deleted
      this.#stats.updated += updated
      return this.#failed(err as Error, full)
    }
    this.#stats.deleted += deleted
    this.#stats.updated += updated
    this.#lastRemoteIndex = remote.index
    if (deleted + updated > 0)
      debug(
        'federation state replication: %d deleted, %d updated, index %d',
        deleted,
        updated,
        remote.index,
      )
    return { ok: true, remoteIndex: remote.index, deleted, updated, full }
  }

  #failed(error: Error, full: boolean): ReplicationRound {
    this.#stats.failures++
    this.#lastRemoteIndex = 0
    return { ok: false, error, remoteIndex: 0, deleted: 0, updated: 0, full }
  }
}

/**
 * Consul's merge walk over both sides sorted by datacenter: only local, delete; only remote,
 * update; both, update when the remote changed after `lastRemoteIndex`. Keys compare
 * case-insensitively, as the store's.
 */
export function diff(
  local: readonly FederationState[],
  remote: readonly FederationState[],
  lastRemoteIndex: number,
): { deletions: string[]; updates: FederationState[] } {
  const remoteByKey = new Map(remote.map((s) => [s.datacenter.toLowerCase(), s]))
  const localKeys = new Set(local.map((s) => s.datacenter.toLowerCase()))
  const deletions = local
    .filter((s) => !remoteByKey.has(s.datacenter.toLowerCase()))
    .map((s) => s.datacenter)
  const updates = remote.filter(
    (s) => !localKeys.has(s.datacenter.toLowerCase()) || s.modifyIndex > lastRemoteIndex,
  )
  return { deletions, updates }
}
