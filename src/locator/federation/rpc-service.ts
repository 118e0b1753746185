import type { Duplex } from 'node:stream'
import { encode } from '@msgpack/msgpack'
import { encodeFrame, FrameDecoder } from '../../alpn/frame.ts'
import type { AlpnServer } from '../../alpn/server.ts'
import { ClosedError, InvalidArgumentError, RpcError } from '../../errors.ts'
import { type Clock, systemClock, type TimerHandle } from '../../internal/clock.ts'
import { debug } from '../../internal/debug.ts'
import { optionalNumber } from '../../internal/validate.ts'
import type { FederationStateClient } from './rpc-client.ts'
import {
  ALPN_FEDERATION_STATE,
  decodeRequest,
  EncodedResult,
  encodeMessage,
  errorBody,
  MAX_IN_FLIGHT_PER_CONNECTION,
  type RpcRequest,
  type RpcResponse,
} from './rpc-protocol.ts'
import type { BlockingQueryOptions, FederationStateRequest, FederationStateStore } from './store.ts'

/** A connection with no request in flight for this long is closed. */
export const DEFAULT_RPC_IDLE_TIMEOUT_MS = 120_000

export interface FederationStateServiceOptions {
  /** The store this node serves: authoritative in the primary, the replicated copy in a secondary. */
  store: FederationStateStore
  datacenter: string
  primaryDatacenter: string
  /** In a secondary: where an `Apply` is forwarded (a client whose target is the primary). */
  forward?: FederationStateClient
  /** Idle connections are closed after this long, ms. Default 120,000. */
  idleTimeoutMs?: number
  /** @internal Wall-clock ms for `updatedAt`. */
  wallClock?: () => number
  /** @internal */
  clock?: Clock
}

interface Connection {
  socket: Duplex
  inFlight: Map<number, AbortController>
  idle: TimerHandle | undefined
}

/**
 * The federation-state service on ALPN `wanfed/federation-state/1`: `Apply`, `Get`, `List` and
 * `ListMeshGateways` over msgpack messages in length-prefixed frames (`docs/wire-protocol.md`).
 * Attach it to this node's {@link AlpnServer}; peers in other datacenters reach it through the mesh
 * gateways. An `Apply` is carried out only in the primary (after the store's file is written, when
 * it has one); a secondary forwards it to the primary.
 */
export class FederationStateService {
  readonly #store: FederationStateStore
  readonly #isPrimary: boolean
  readonly #forward: FederationStateClient | undefined
  readonly #idleTimeoutMs: number
  readonly #wallClock: () => number
  readonly #clock: Clock
  readonly #connections = new Set<Connection>()
  readonly #servers = new Set<AlpnServer>()
  // The last List and ListMeshGateways answers, encoded once per store generation.
  readonly #encoded = new Map<string, { generation: number; result: EncodedResult }>()
  #closed = false
  #requests = 0
  #errors = 0

  constructor(options: FederationStateServiceOptions) {
    if (typeof options?.store?.blockingList !== 'function')
      throw new InvalidArgumentError('store must be a FederationStateStore')
    for (const k of ['datacenter', 'primaryDatacenter'] as const)
      if (typeof options[k] !== 'string' || options[k] === '')
        throw new InvalidArgumentError(`${k} must be a non-empty string`)
    this.#store = options.store
    this.#isPrimary = options.datacenter === options.primaryDatacenter
    this.#forward = options.forward
    this.#idleTimeoutMs = optionalNumber(
      options.idleTimeoutMs,
      DEFAULT_RPC_IDLE_TIMEOUT_MS,
      'idleTimeoutMs',
      { positive: true, unit: 'ms' },
    )
    this.#wallClock = options.wallClock ?? Date.now
    this.#clock = options.clock ?? systemClock
  }

  /** Serves the protocol on `server` (registers the ALPN handler). */
  attach(server: AlpnServer): this {
    if (this.#closed) throw new ClosedError('federation-state service closed')
    server.handle(ALPN_FEDERATION_STATE, this.#onConnection)
    this.#servers.add(server)
    return this
  }

  /** Takes over one connection that negotiated {@link ALPN_FEDERATION_STATE}. */
  handleConnection(socket: Duplex): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    const conn: Connection = { socket, inFlight: new Map(), idle: undefined }
    this.#connections.add(conn)
    const decoder = new FrameDecoder()
    const onFrame = (frame: Buffer) => this.#onFrame(conn, frame)
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.write(chunk, onFrame)
      } catch (err) {
        debug('federation-state service: %s; closing connection', (err as Error).message)
        this.#errors++
        socket.destroy()
      }
    })
    socket.on('end', () => socket.end())
    socket.on('error', () => {})
    socket.on('close', () => {
      this.#connections.delete(conn)
      if (conn.idle !== undefined) this.#clock.clearTimeout(conn.idle)
      for (const ac of conn.inFlight.values()) ac.abort()
      conn.inFlight.clear()
    })
    this.#armIdle(conn)
  }

  /** Stops serving: unregisters from every server, ends blocked reads, closes connections. */
  async close(): Promise<void> {
    this.#closed = true
    for (const s of this.#servers) s.unhandle(ALPN_FEDERATION_STATE, this.#onConnection)
    this.#servers.clear()
    const closing = [...this.#connections].map(
      (c) =>
        new Promise<void>((resolve) =>
          c.socket.destroyed ? resolve() : c.socket.once('close', () => resolve()),
        ),
    )
    for (const c of this.#connections) c.socket.destroy()
    await Promise.all(closing)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  stats(): { connections: number; requests: number; errors: number } {
    return { connections: this.#connections.size, requests: this.#requests, errors: this.#errors }
  }

  readonly #onConnection = (socket: Duplex): void => this.handleConnection(socket)

  #onFrame(conn: Connection, frame: Buffer): void {
    let request: RpcRequest
    try {
      request = decodeRequest(frame)
    } catch (err) {
      this.#errors++
      const id = (err as { requestId?: number }).requestId
      if (id === undefined) {
        // Without an id no answer can be matched: the peer does not speak the protocol.
        conn.socket.destroy()
        return
      }
      this.#send(conn, { id, error: errorBody(err) })
      return
    }
    if (conn.inFlight.has(request.id) || conn.inFlight.size >= MAX_IN_FLIGHT_PER_CONNECTION) {
      this.#errors++
      this.#send(conn, {
        id: request.id,
        error: errorBody(new RpcError('request id in use, or too many requests in flight')),
      })
      return
    }
    this.#requests++
    const ac = new AbortController()
    conn.inFlight.set(request.id, ac)
    if (conn.idle !== undefined) {
      this.#clock.clearTimeout(conn.idle)
      conn.idle = undefined
    }
    this.#dispatch(request, ac.signal).then(
      (result) => this.#finish(conn, request.id, { id: request.id, result }),
      (err: unknown) => {
        if (!ac.signal.aborted) this.#errors++
        this.#finish(conn, request.id, { id: request.id, error: errorBody(err) })
      },
    )
  }

  #finish(conn: Connection, id: number, response: RpcResponse): void {
    if (!conn.inFlight.delete(id)) return
    this.#send(conn, response)
    this.#armIdle(conn)
  }

  #send(conn: Connection, response: RpcResponse): void {
    if (conn.socket.destroyed) return
    let frame: Buffer
    try {
      frame = encodeFrame(encodeMessage(response))
    } catch (err) {
      frame = encodeFrame(encodeMessage({ id: response.id, error: errorBody(err) }))
    }
    conn.socket.write(frame)
  }

  #armIdle(conn: Connection): void {
    if (conn.inFlight.size > 0 || conn.idle !== undefined || conn.socket.destroyed) return
    conn.idle = this.#clock.setTimeout(() => {
      conn.idle = undefined
      debug('federation-state service: closing idle connection')
      conn.socket.destroy()
    }, this.#idleTimeoutMs)
  }

  async #dispatch(request: RpcRequest, signal: AbortSignal): Promise<unknown> {
    const a = request.args
    const query = (): BlockingQueryOptions => ({
      ...(a['minIndex'] === undefined ? {} : { minIndex: a['minIndex'] as number }),
      ...(a['waitMs'] === undefined ? {} : { waitMs: a['waitMs'] as number }),
      signal,
    })
    switch (request.method) {
      case 'Apply':
        return await this.#apply(a as unknown as FederationStateRequest, signal)
      case 'Get': {
        const r = await this.#store.blockingGet(a['datacenter'] as string, query())
        return { index: r.index, state: r.state ?? null }
      }
      case 'List':
        await this.#store.blockingList(query())
        return this.#current('List')
      case 'ListMeshGateways':
        await this.#store.blockingListMeshGateways(query())
        return this.#current('ListMeshGateways')
      case 'Ping':
        // A client's liveness probe while its blocking reads wait: answered at once, here.
        return {}
    }
  }

  /**
   * The store's current answer, encoded once per store generation (not index: a restore can
   * repeat an index with other contents). Read now, after the blocking wait, so the cache key and
   * the contents come from the same moment; the answer is at least as new as the wait's.
   */
  #current(method: 'List' | 'ListMeshGateways'): EncodedResult {
    const generation = this.#store.generation
    const hit = this.#encoded.get(method)
    if (hit !== undefined && hit.generation === generation) return hit.result
    const r = method === 'List' ? this.#store.list() : this.#store.listMeshGateways()
    const encoded = new EncodedResult(encode({ ...r, index: Math.max(1, r.index) }))
    this.#encoded.set(method, { generation, result: encoded })
    return encoded
  }

  async #apply(
    request: FederationStateRequest,
    signal: AbortSignal,
  ): Promise<{ applied: boolean; index: number }> {
    if (!this.#isPrimary) {
      if (this.#forward === undefined)
        throw new RpcError('not the primary datacenter, and no forwarding configured', {
          remote: false,
        })
      return await this.#forward.apply(request, { signal })
    }
    let r = request
    if (request?.op === 'upsert' && typeof request.state === 'object' && request.state !== null) {
      const at = (request.state as { updatedAt?: unknown }).updatedAt
      if (at === undefined || at === 0)
        r = { ...request, state: { ...request.state, updatedAt: this.#wallClock() } }
    }
    const applied = this.#store.apply(r)
    await this.#store.flush()
    return { applied, index: this.#store.index }
  }
}
