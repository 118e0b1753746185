import {
  ClosedError,
  InvalidArgumentError,
  InvalidFederationStateError,
  SnapshotError,
} from '../../errors.ts'
import { type Clock, systemClock } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { optionalNumber } from '../../internal/validate.ts'
import { readFileIfExists, writeFileAtomic } from './atomic-file.ts'
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts'
import type { FederationState, MeshGatewayEntry } from './state.ts'
import { type FederationStateInput, parseFederationState } from './validate.ts'
import { blockingWait, DEFAULT_QUERY_TIME_MS, MAX_QUERY_TIME_MS, Watchers } from './watchers.ts'

/** The two writes Consul's `FederationState.Apply` accepts. */
export type FederationStateOp = 'upsert' | 'delete'

/** Consul's `FederationStateRequest`: an upsert carries the whole state, a delete only needs its datacenter. */
export interface FederationStateRequest {
  op: FederationStateOp
  state: FederationStateInput
}

export interface FederationStateStoreOptions {
  /** Wait of a blocking read that names none. Default 300,000 ms (Consul's). */
  defaultQueryTimeMs?: number
  /** Longest wait of a blocking read; longer ones are clamped. Default 600,000 ms (Consul's). */
  maxQueryTimeMs?: number
  /** @internal */
  clock?: Clock
  /** @internal Source of the blocking-query jitter. */
  random?: () => number
}

export interface OpenFederationStateStoreOptions extends FederationStateStoreOptions {
  /** The file the store is loaded from and written to (atomically, after every change). */
  path: string
}

/** Options of a blocking read (Consul's `MinQueryIndex` and `MaxQueryTime`). */
export interface BlockingQueryOptions {
  /**
   * Return once the result's index is above this. 0 or absent: return at once. If the index is
   * already above it, the read returns at once too.
   */
  minIndex?: number
  /** How long to wait for a change, ms. 0 or absent: the default (300 s); clamped to the maximum (600 s); plus up to 1/16 jitter. */
  waitMs?: number
  signal?: AbortSignal
}

export interface GetResult {
  index: number
  /** Undefined when no record exists for the datacenter. */
  state: FederationState | undefined
}

export interface ListResult {
  index: number
  states: FederationState[]
}

export interface ListMeshGatewaysResult {
  index: number
  /** Datacenter (as stored) to its gateways; only datacenters with at least one gateway. */
  gateways: Record<string, readonly MeshGatewayEntry[]>
}

export interface FederationStateStoreStats {
  index: number
  states: number
  /** Blocking reads waiting now. */
  waiting: number
  /** The file, when the store persists. */
  path: string | undefined
  /** Successful file writes. */
  writes: number
  /** Failed file writes; each is retried on the next change or `flush()`. */
  writeErrors: number
}

/**
 * The federation states of every datacenter, keyed by datacenter name compared
 * case-insensitively, with Consul's index rules: every write (an upsert, even an unchanged one,
 * or a delete of an existing record) takes the next index, which becomes the table index; a
 * record keeps its `createIndex` across upserts; an upsert with `primaryModifyIndex` 0 is the
 * primary's own write and gets the write's index. Reads return the table index, even a get of a
 * missing record. Blocking reads wait until the index passes a given one.
 *
 * The primary's store is the authoritative copy; each secondary holds one replicated from it.
 * {@link FederationStateStore.open} persists the store to a file written atomically after every
 * change, so a restarted primary serves what it had.
 *
 * Records returned are deeply frozen and shared: copy before changing.
 */
export class FederationStateStore {
  readonly #byKey = new Map<string, FederationState>()
  #sorted: FederationState[] | undefined
  #index = 0
  readonly #watchers: Watchers
  readonly #random: () => number
  readonly #defaultQueryTimeMs: number
  readonly #maxQueryTimeMs: number
  #closed = false
  // Persistence: a write runs after each change, coalesced; `flush()` waits for one that covers it.
  #path: string | undefined
  #version = 0
  #persistedVersion = 0
  #writing: Promise<void> | undefined
  #writes = 0
  #writeErrors = 0
  #lastWriteError: Error | undefined

  constructor(options: FederationStateStoreOptions = {}) {
    const clock = options.clock ?? systemClock
    this.#random = options.random ?? Math.random
    const ms = { positive: true, unit: 'ms' }
    this.#defaultQueryTimeMs = optionalNumber(
      options.defaultQueryTimeMs,
      DEFAULT_QUERY_TIME_MS,
      'defaultQueryTimeMs',
      ms,
    )
    this.#maxQueryTimeMs = optionalNumber(
      options.maxQueryTimeMs,
      MAX_QUERY_TIME_MS,
      'maxQueryTimeMs',
      ms,
    )
    this.#watchers = new Watchers(clock)
  }

  /**
   * A store backed by `path`: loaded from it when it exists (a malformed file is a
   * {@link SnapshotError}, an unreadable one a `PersistError`; neither is overwritten), and written
   * back atomically after every change.
   */
  static async open(options: OpenFederationStateStoreOptions): Promise<FederationStateStore> {
    if (typeof options?.path !== 'string' || options.path === '')
      throw new InvalidArgumentError('open() needs a path')
    const store = new FederationStateStore(options)
    const bytes = await readFileIfExists(options.path)
    if (bytes !== undefined) {
      try {
        store.restore(bytes)
      } catch (err) {
        if (err instanceof SnapshotError)
          throw new SnapshotError(`${options.path}: ${err.message}`, { cause: err })
        throw err
      }
    }
    store.#path = options.path
    store.#persistedVersion = store.#version
    return store
  }

  /**
   * Counts every change, restores included. Unlike {@link index} it never repeats a value for
   * different contents (a restore can move the index backwards), so it keys caches of encoded reads.
   */
  get generation(): number {
    return this.#version
  }

  /** The table index: the index of the last write. 0 for a store never written; the first write takes 2. */
  get index(): number {
    return this.#index
  }

  /** Consul's FSM apply: an upsert returns true, a delete false. Bad requests throw and change nothing. */
  apply(request: FederationStateRequest): boolean {
    if (typeof request !== 'object' || request === null)
      throw new InvalidFederationStateError('invalid request: not an object')
    const { op, state } = request
    if (op === 'upsert') {
      this.upsert(state)
      return true
    }
    if (op === 'delete') {
      const dc = (state as { datacenter?: unknown } | undefined)?.datacenter
      if (typeof dc !== 'string' || dc === '')
        throw new InvalidFederationStateError(
          'invalid request: missing federation state datacenter',
        )
      this.delete(dc)
      return false
    }
    throw new InvalidFederationStateError(`Invalid federation state operation: ${String(op)}`)
  }

  /** Writes a datacenter's record at the next index and returns it as stored. */
  upsert(input: FederationStateInput): FederationState {
    this.#open()
    const parsed = parseFederationState(input)
    const k = key(parsed.datacenter)
    const idx = this.#nextIndex()
    const existing = this.#byKey.get(k)
    const stored = Object.freeze({
      ...parsed,
      primaryModifyIndex: parsed.primaryModifyIndex === 0 ? idx : parsed.primaryModifyIndex,
      createIndex: existing?.createIndex ?? idx,
      modifyIndex: idx,
    })
    this.#byKey.set(k, stored)
    this.#changed(k, idx)
    return stored
  }

  /** Deletes a datacenter's record; a missing one changes nothing (no new index). True if one was deleted. */
  delete(datacenter: string): boolean {
    this.#open()
    const k = key(datacenter)
    if (!this.#byKey.delete(k)) return false
    this.#changed(k, this.#nextIndex())
    return true
  }

  get(datacenter: string): GetResult {
    return { index: this.#index, state: this.#byKey.get(key(datacenter)) }
  }

  /** Every record, ordered by lowercased datacenter (Consul's id index order). */
  list(): ListResult {
    return { index: this.#index, states: [...this.#sortedStates()] }
  }

  listMeshGateways(): ListMeshGatewaysResult {
    const gateways: [string, readonly MeshGatewayEntry[]][] = []
    for (const s of this.#sortedStates())
      if (s.meshGateways.length > 0) gateways.push([s.datacenter, s.meshGateways])
    return { index: this.#index, gateways: Object.fromEntries(gateways) }
  }

  /** {@link get}, blocking until that record changes past `minIndex` (see {@link BlockingQueryOptions}). */
  async blockingGet(datacenter: string, options: BlockingQueryOptions = {}): Promise<GetResult> {
    return await this.#blocking(key(datacenter), options, () => this.get(datacenter))
  }

  /** {@link list}, blocking until the table index passes `minIndex`. */
  blockingList(options: BlockingQueryOptions = {}): Promise<ListResult> {
    return this.#blocking(undefined, options, () => this.list())
  }

  /** {@link listMeshGateways}, blocking until the table index passes `minIndex`. */
  blockingListMeshGateways(options: BlockingQueryOptions = {}): Promise<ListMeshGatewaysResult> {
    return this.#blocking(undefined, options, () => this.listMeshGateways())
  }

  /** The whole store as msgpack bytes (see `docs/wire-protocol.md`). */
  snapshot(): Uint8Array {
    return encodeSnapshot({ index: this.#index, states: this.#sortedStates() })
  }

  /**
   * Replaces the whole store with a snapshot. The bytes are checked completely first; a malformed
   * snapshot throws {@link SnapshotError} and the store keeps what it had. Every blocking read
   * returns at once with the new contents, as Consul's do after a restore.
   */
  restore(bytes: Uint8Array): void {
    this.#open()
    const content = decodeSnapshot(bytes)
    this.#byKey.clear()
    for (const s of content.states) this.#byKey.set(s.datacenter.toLowerCase(), s)
    this.#index = content.index
    this.#sorted = undefined
    this.#version++
    this.#persistSoon()
    this.#watchers.notifyAll()
  }

  /** Resolves once every change so far is on disk; rejects with the write's `PersistError`. No-op without a file. */
  async flush(): Promise<void> {
    while (this.#path !== undefined && this.#persistedVersion < this.#version) {
      const target = this.#version
      if (this.#writing === undefined) this.#persistSoon()
      await this.#writing
      if (this.#persistedVersion < target && this.#lastWriteError !== undefined)
        throw this.#lastWriteError
    }
  }

  /** Rejects blocking reads with `ClosedError`, refuses further writes, and waits for the file to be written. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#watchers.close()
    }
    await this.flush()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  stats(): FederationStateStoreStats {
    return {
      index: this.#index,
      states: this.#byKey.size,
      waiting: this.#watchers.size,
      path: this.#path,
      writes: this.#writes,
      writeErrors: this.#writeErrors,
    }
  }

  async #blocking<T extends { index: number }>(
    key: string | undefined,
    options: BlockingQueryOptions,
    read: () => T,
  ): Promise<T> {
    this.#open()
    const minIndex = optionalNumber(options.minIndex, 0, 'minIndex', { integer: true, min: 0 })
    const wait = blockingWait(
      options.waitMs,
      this.#random,
      this.#defaultQueryTimeMs,
      this.#maxQueryTimeMs,
    )
    let result = read()
    // Index 0 would make a client that blocks on the returned index spin; Consul forces 1. Any
    // wake (a change, a restore, the timeout) returns: a restore may move the index backwards.
    if (minIndex > 0 && Math.max(1, result.index) <= minIndex) {
      await this.#watchers.wait(key, wait, options.signal)
      result = read()
    }
    if (result.index < 1) result = { ...result, index: 1 }
    return result
  }

  /**
   * Blocking reads report an empty store's index 0 as 1 (Consul's rule, so a client never spins),
   * so the first write takes 2: a reader blocked at 1 must see it, as it sees every later write.
   */
  #nextIndex(): number {
    return Math.max(this.#index, 1) + 1
  }

  #sortedStates(): FederationState[] {
    if (this.#sorted === undefined) {
      const entries = [...this.#byKey]
      entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      this.#sorted = entries.map(([, s]) => s)
    }
    return this.#sorted
  }

  #changed(k: string, idx: number): void {
    this.#index = idx
    this.#sorted = undefined
    this.#version++
    this.#persistSoon()
    this.#watchers.notify(k)
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('federation-state store closed')
  }

  #persistSoon(): void {
    if (this.#path === undefined || this.#writing !== undefined) return
    const path = this.#path
    this.#writing = (async () => {
      while (this.#persistedVersion < this.#version) {
        const version = this.#version
        try {
          await writeFileAtomic(path, this.snapshot())
          this.#persistedVersion = version
          this.#lastWriteError = undefined
          this.#writes++
        } catch (err) {
          this.#writeErrors++
          this.#lastWriteError = err as Error
          debug('federation-state store: %s', (err as Error).message)
          return
        }
      }
    })().finally(() => {
      this.#writing = undefined
    })
  }
}

function key(datacenter: string): string {
  if (typeof datacenter !== 'string' || datacenter === '')
    throw new InvalidFederationStateError('invalid request: missing federation state datacenter')
  return datacenter.toLowerCase()
}
