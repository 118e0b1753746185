import type { TLSSocket } from 'node:tls'
import { dialViaGateway } from '../../alpn/dial.ts'
import { encodeFrame, FrameDecoder } from '../../alpn/frame.ts'
import { type TlsCredentials, validateTlsCredentials } from '../../alpn/tls-options.ts'
import {
  ClosedError,
  InvalidArgumentError,
  NoGatewayError,
  RpcError,
  TimeoutError,
} from '../../errors.ts'
import { abortReason } from '../../internal/abort.ts'
import { type Clock, systemClock, type TimerHandle } from '../../internal/clock.ts'
import { optionalNumber } from '../../internal/validate.ts'
import type { GatewayLocator } from '../types.ts'
import { ConnectionLiveness } from './liveness.ts'
import {
  ALPN_FEDERATION_STATE,
  decodeResponse,
  encodeMessage,
  type RpcMethod,
  remoteError,
} from './rpc-protocol.ts'
import type { FederationState, MeshGatewayEntry } from './state.ts'
import type {
  BlockingQueryOptions,
  FederationStateRequest,
  GetResult,
  ListMeshGatewaysResult,
  ListResult,
} from './store.ts'
import { parseFederationState, parseMeshGateway } from './validate.ts'
import { DEFAULT_QUERY_TIME_MS, MAX_QUERY_TIME_MS, QUERY_JITTER_FRACTION } from './watchers.ts'

/** Time a non-blocking request may take, and the slack a blocking one gets beyond its wait. */
export const DEFAULT_RPC_TIMEOUT_MS = 30_000

/**
 * Silence, with requests in flight, after which the client probes the connection (a `Ping`), and
 * then the time the probe gets: a blocking read over a connection that died silently (a
 * partition, a black-holed gateway) fails in 2 × this, not at its deadline (the wait, up to 10
 * minutes, plus `requestTimeoutMs`). Consul's RPC connections notice in about 30 s too (yamux
 * keepalives).
 */
export const DEFAULT_LIVENESS_INTERVAL_MS = 15_000
const MIN_LIVENESS_INTERVAL_MS = 50

export interface FederationStateClientOptions {
  /** The datacenter whose federation-state service is called (the primary, for replication). */
  datacenter: string
  /** Picks the gateway to dial for `datacenter`; told how each dial went. */
  locator: GatewayLocator
  /** This node's certificate and the CA. */
  tls: TlsCredentials
  /** A server's node name in that datacenter; default any server (`server.<dc>.<domain>`). */
  node?: string
  domain?: string
  connectTimeoutMs?: number
  handshakeTimeoutMs?: number
  /** See {@link DEFAULT_RPC_TIMEOUT_MS}. */
  requestTimeoutMs?: number
  /** See {@link DEFAULT_LIVENESS_INTERVAL_MS}; 0 turns the probes off. */
  livenessIntervalMs?: number
  /** @internal */
  clock?: Clock
}

interface Pending {
  socket: TLSSocket
  resolve(value: unknown): void
  reject(err: Error): void
}

/**
 * Calls a datacenter's federation-state service through the mesh gateways, over one TLS connection
 * dialled on first use (and again after it fails), with requests multiplexed by id. Every result is
 * validated as untrusted input.
 */
export class FederationStateClient {
  readonly datacenter: string
  readonly #options: FederationStateClientOptions
  readonly #clock: Clock
  readonly #timeoutMs: number
  readonly #livenessMs: number
  #socket: TLSSocket | undefined
  #connecting: Promise<TLSSocket> | undefined
  readonly #pending = new Map<number, Pending>()
  readonly #liveness = new Map<TLSSocket, ConnectionLiveness>()
  #nextId = 1
  #closed = false
  // A dial is shared by every caller waiting for it, so it stops only on close, never on one
  // caller's signal; each caller stops waiting on its own.
  readonly #closing = new AbortController()

  constructor(options: FederationStateClientOptions) {
    if (typeof options?.datacenter !== 'string' || options.datacenter === '')
      throw new InvalidArgumentError('datacenter must be a non-empty string')
    if (typeof options.locator?.pickGateway !== 'function')
      throw new InvalidArgumentError('locator must have a pickGateway(dc) method')
    // Fails closed here, not at the first dial: no CA would mean trusting Node's default store.
    validateTlsCredentials(options.tls, 'FederationStateClient')
    this.datacenter = options.datacenter
    this.#options = options
    this.#clock = options.clock ?? systemClock
    this.#timeoutMs = optionalNumber(
      options.requestTimeoutMs,
      DEFAULT_RPC_TIMEOUT_MS,
      'requestTimeoutMs',
      { positive: true, unit: 'ms' },
    )
    this.#livenessMs = optionalNumber(
      options.livenessIntervalMs,
      DEFAULT_LIVENESS_INTERVAL_MS,
      'livenessIntervalMs',
      { min: 0, unit: 'ms' },
    )
    // Below a few round trips every request would look dead; 0 is the only small value: off.
    if (this.#livenessMs > 0 && this.#livenessMs < MIN_LIVENESS_INTERVAL_MS)
      throw new InvalidArgumentError(
        `livenessIntervalMs must be 0 (off) or at least ${MIN_LIVENESS_INTERVAL_MS} ms, got ${this.#livenessMs}`,
      )
  }

  /** `Apply` (upsert or delete), carried out by the primary. */
  async apply(
    request: FederationStateRequest,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ applied: boolean; index: number }> {
    const r = (await this.#call('Apply', { ...request }, undefined, options.signal)) as Record<
      string,
      unknown
    >
    if (typeof r?.['applied'] !== 'boolean') throw malformed('Apply')
    return { applied: r['applied'], index: index(r['index'], 'Apply') }
  }

  async get(datacenter: string, options: BlockingQueryOptions = {}): Promise<GetResult> {
    const r = await this.#query('Get', { datacenter }, options)
    const state = r?.['state']
    return {
      index: index(r?.['index'], 'Get'),
      state:
        state === null || state === undefined
          ? undefined
          : parse(() => parseFederationState(state), 'Get'),
    }
  }

  async list(options: BlockingQueryOptions = {}): Promise<ListResult> {
    const r = await this.#query('List', {}, options)
    const states = r?.['states']
    if (!Array.isArray(states)) throw malformed('List')
    return {
      index: index(r['index'], 'List'),
      states: states.map((s: unknown) =>
        parse(() => parseFederationState(s), 'List'),
      ) as FederationState[],
    }
  }

  async listMeshGateways(options: BlockingQueryOptions = {}): Promise<ListMeshGatewaysResult> {
    const r = await this.#query('ListMeshGateways', {}, options)
    const g = r?.['gateways']
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw malformed('ListMeshGateways')
    const gateways: [string, readonly MeshGatewayEntry[]][] = []
    for (const [dc, list] of Object.entries(g as Record<string, unknown>)) {
      if (!Array.isArray(list)) throw malformed('ListMeshGateways')
      gateways.push([
        dc,
        list.map((e: unknown) => parse(() => parseMeshGateway(e), 'ListMeshGateways')),
      ])
    }
    return { index: index(r['index'], 'ListMeshGateways'), gateways: Object.fromEntries(gateways) }
  }

  /** Closes the connection; pending requests reject with `ClosedError`. */
  async close(): Promise<void> {
    this.#closed = true
    this.#closing.abort()
    const socket = this.#socket
    this.#fail(new ClosedError('federation-state client closed'))
    if (socket !== undefined && !socket.destroyed) {
      const closed = new Promise<void>((r) => socket.once('close', () => r()))
      socket.destroy()
      await closed
    }
    await this.#connecting?.catch(() => {})
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** A read that may block: the query options travel in the request and set its deadline. */
  async #query(
    method: RpcMethod,
    args: Record<string, unknown>,
    options: BlockingQueryOptions,
  ): Promise<Record<string, unknown>> {
    return (await this.#call(
      method,
      { ...args, ...query(options) },
      options.waitMs,
      options.signal,
      options.minIndex,
    )) as Record<string, unknown>
  }

  async #call(
    method: RpcMethod,
    args: Record<string, unknown>,
    waitMs: number | undefined,
    signal: AbortSignal | undefined,
    minIndex?: number,
  ): Promise<unknown> {
    if (this.#closed) throw new ClosedError('federation-state client closed')
    if (signal?.aborted) throw abortReason(signal, `federation-state ${method}`)
    const socket = await this.#connect(signal, method)
    const id = this.#nextId++
    const blocking = minIndex !== undefined && minIndex > 0
    let wait = waitMs === undefined || waitMs === 0 ? DEFAULT_QUERY_TIME_MS : waitMs
    if (wait > MAX_QUERY_TIME_MS) wait = MAX_QUERY_TIME_MS
    const deadline = blocking
      ? wait + wait / QUERY_JITTER_FRACTION + this.#timeoutMs
      : this.#timeoutMs
    return await new Promise<unknown>((resolve, reject) => {
      let timer: TimerHandle | undefined
      const onAbort = () => settle(abortReason(signal as AbortSignal, `federation-state ${method}`))
      const settle = (err: Error | undefined, value?: unknown) => {
        if (!this.#pending.delete(id)) return
        if (timer !== undefined) this.#clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve(value)
        else reject(err)
      }
      this.#pending.set(id, {
        socket,
        resolve: (v) => settle(undefined, v),
        reject: (e) => settle(e),
      })
      timer = this.#clock.setTimeout(() => {
        settle(
          new TimeoutError(`federation-state ${method}: no answer in ${Math.round(deadline)} ms`),
        )
        // A connection that let a request's deadline pass is taken for dead (a partition, a
        // black-holed gateway): the next request dials again, through the route the locator
        // picks then, instead of waiting on the same silent connection again.
        this.#drop(socket)
      }, deadline)
      signal?.addEventListener('abort', onAbort, { once: true })
      socket.write(encodeFrame(encodeMessage({ id, method, args })))
      this.#liveness.get(socket)?.arm()
    })
  }

  async #connect(signal: AbortSignal | undefined, method: string): Promise<TLSSocket> {
    if (this.#socket !== undefined && !this.#socket.destroyed) return this.#socket
    if (this.#connecting === undefined) {
      this.#connecting = this.#dial(this.#closing.signal).finally(() => {
        this.#connecting = undefined
      })
    }
    const connecting = this.#connecting
    if (signal === undefined) return await connecting
    let onAbort: (() => void) | undefined
    try {
      return await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(abortReason(signal, `federation-state ${method}`))
          signal.addEventListener('abort', onAbort, { once: true })
        }),
      ])
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
    }
  }

  async #dial(signal: AbortSignal): Promise<TLSSocket> {
    const o = this.#options
    const gateway = o.locator.pickGateway(this.datacenter)
    if (gateway === undefined)
      throw new NoGatewayError(`no gateway reachable for ${this.datacenter}`)
    let socket: TLSSocket
    try {
      socket = await dialViaGateway({
        gateway,
        datacenter: this.datacenter,
        alpn: ALPN_FEDERATION_STATE,
        tls: o.tls,
        ...(o.node === undefined ? {} : { node: o.node }),
        ...(o.domain === undefined ? {} : { domain: o.domain }),
        ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
        ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
        signal,
        ...(o.clock === undefined ? {} : { clock: o.clock }),
      })
    } catch (err) {
      o.locator.reportFailure?.(this.datacenter, gateway, err as Error)
      throw err
    }
    o.locator.reportSuccess?.(this.datacenter, gateway)
    if (this.#closed) {
      socket.destroy()
      throw new ClosedError('federation-state client closed')
    }
    this.#socket = socket
    const decoder = new FrameDecoder()
    const liveness = this.#watchLiveness(socket)
    socket.on('data', (chunk: Buffer) => {
      liveness?.heard()
      try {
        decoder.write(chunk, (frame) => {
          const response = decodeResponse(frame)
          const p = this.#pending.get(response.id)
          if (p === undefined) return
          if ('error' in response) p.reject(remoteError(response.error))
          else p.resolve(response.result)
        })
      } catch (err) {
        socket.destroy(err as Error)
      }
    })
    socket.on('error', () => {})
    // The service never half-closes: an end means the connection is gone.
    socket.on('end', () => socket.destroy())
    socket.on('close', () => {
      liveness?.stop()
      this.#liveness.delete(socket)
      if (this.#socket === socket) this.#socket = undefined
      this.#fail(
        new RpcError('federation-state connection closed with the request pending'),
        socket,
      )
    })
    return socket
  }

  /** The connection's {@link ConnectionLiveness}, or none when probes are off. */
  #watchLiveness(socket: TLSSocket): ConnectionLiveness | undefined {
    if (this.#livenessMs === 0) return undefined
    const liveness = new ConnectionLiveness({
      intervalMs: this.#livenessMs,
      clock: this.#clock,
      busy: () => [...this.#pending.values()].some((p) => p.socket === socket),
      // Not a pending request: its answer is matched by no one and only counts as heard.
      probe: () =>
        socket.write(encodeFrame(encodeMessage({ id: this.#nextId++, method: 'Ping', args: {} }))),
      dead: (silentMs) => {
        this.#fail(
          new TimeoutError(
            `federation-state connection silent for ${Math.round(silentMs)} ms, liveness probe unanswered`,
          ),
          socket,
        )
        this.#drop(socket)
      },
    })
    this.#liveness.set(socket, liveness)
    return liveness
  }

  #drop(socket: TLSSocket): void {
    if (this.#socket === socket) this.#socket = undefined
    socket.destroy()
  }

  #fail(err: Error, socket?: TLSSocket): void {
    for (const p of [...this.#pending.values()])
      if (socket === undefined || p.socket === socket) p.reject(err)
  }
}

function query(o: BlockingQueryOptions): Record<string, unknown> {
  return {
    ...(o.minIndex === undefined ? {} : { minIndex: o.minIndex }),
    ...(o.waitMs === undefined ? {} : { waitMs: o.waitMs }),
  }
}

function index(v: unknown, method: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw malformed(method)
  return v
}

function parse<T>(fn: () => T, method: string): T {
  try {
    return fn()
  } catch (cause) {
    throw new RpcError(`malformed ${method} response: ${(cause as Error).message}`, { cause })
  }
}

function malformed(method: string): RpcError {
  return new RpcError(`malformed ${method} response`)
}
