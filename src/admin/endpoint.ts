import type { IncomingMessage, ServerResponse } from 'node:http'
import { ClosedError, InvalidArgumentError, isWanfedError } from '../errors.ts'
import { debug } from '../internal/debug.ts'
import {
  type BlockingQueryOptions,
  type FederationStateStore,
  type GetResult,
  type ListMeshGatewaysResult,
  type ListResult,
  toConsulCheckServiceNodeJson,
  toConsulFederationStateJson,
} from '../locator/index.ts'
import {
  type AdminComponents,
  type ComponentGroup,
  ComponentRegistry,
  type LocatorSource,
  type StatsSource,
} from './components.ts'
import { type ComponentKind, familiesOf } from './metrics.ts'
import { type MetricFamily, PROMETHEUS_CONTENT_TYPE, renderExposition } from './prometheus.ts'
import { type BlockingParams, parseBlockingParams } from './query.ts'

/** Consul's three read-only federation-state debug APIs. */
export const ADMIN_FEDERATION_STATES_PATH = '/v1/internal/federation-states'
export const ADMIN_FEDERATION_STATE_PATH = '/v1/internal/federation-state/'
export const ADMIN_MESH_GATEWAYS_PATH = '/v1/internal/federation-states/mesh-gateways'
export const ADMIN_STATUS_PATH = '/v1/status'
export const ADMIN_HEALTH_PATH = '/health'
export const ADMIN_METRICS_PATH = '/metrics'

/** Longest request target (path and query) served; a longer one gets 414. */
export const DEFAULT_ADMIN_MAX_URL_LENGTH = 2_048

/** The name the store serving `/v1/internal/*` has among the stores in `/v1/status` and `/metrics`. */
export const FEDERATION_STATES_COMPONENT = 'federation-states'

export interface AdminEndpointOptions {
  /**
   * This node's datacenter, reported by `/v1/status`; a federation-state query naming another one
   * with `?dc=` gets Consul's answer for a datacenter it cannot reach (500 `No path to datacenter`),
   * since this endpoint serves its own store only.
   */
  datacenter?: string
  /** The store `/v1/internal/federation-state(s)` read. Without one those paths answer 404. */
  federationStates?: FederationStateStore
  /** Components `/v1/status`, `/health` and `/metrics` report; more with {@link AdminEndpoint.register}. */
  components?: AdminComponents
  /** See {@link DEFAULT_ADMIN_MAX_URL_LENGTH}. */
  maxUrlLength?: number
}

export interface AdminEndpointStats {
  /** Requests answered, by status code. */
  responses: Record<string, number>
  /** Blocking federation-state queries waiting now. */
  blocking: number
}

type Route = 'states' | 'state' | 'mesh-gateways' | 'status' | 'health' | 'metrics'

/**
 * The admin endpoint's request handling, for any `node:http` server: Consul's federation-state
 * debug APIs (`/v1/internal/federation-states`, `/v1/internal/federation-state/<dc>`,
 * `/v1/internal/federation-states/mesh-gateways`, with Consul's JSON, `X-Consul-Index` and
 * `?index=&wait=` blocking), `/v1/status` (JSON of every registered component), `/health`, and
 * `/metrics` (Prometheus text format). Read-only: only GET and HEAD, and no request body.
 *
 * Use {@link createAdminServer} for a server of its own, or mount it in yours:
 *
 * @example
 * ```ts
 * const admin = new AdminEndpoint({ datacenter: 'dc1', federationStates: store })
 * admin.register({ transports: { wan: transport }, servers: { rpc: alpnServer } })
 * const server = createServer((req, res) => {
 *   if (!admin.handle(req, res)) myApp(req, res)
 * })
 * ```
 */
export class AdminEndpoint {
  readonly datacenter: string | undefined
  readonly #store: FederationStateStore | undefined
  readonly #registry = new ComponentRegistry()
  readonly #maxUrlLength: number
  readonly #blocking = new Set<AbortController>()
  readonly #inFlight = new Set<Promise<void>>()
  readonly #responses = new Map<number, number>()
  #closed = false

  constructor(options: AdminEndpointOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('AdminEndpoint options must be an object')
    if (
      options.datacenter !== undefined &&
      (typeof options.datacenter !== 'string' || options.datacenter === '')
    )
      throw new InvalidArgumentError('datacenter must be a non-empty string')
    const store = options.federationStates
    if (store !== undefined && typeof store?.blockingList !== 'function')
      throw new InvalidArgumentError('federationStates must be a FederationStateStore')
    const max = options.maxUrlLength ?? DEFAULT_ADMIN_MAX_URL_LENGTH
    if (!Number.isInteger(max) || max < 64 || max > 65_536)
      throw new InvalidArgumentError('maxUrlLength must be an integer in 64..65536')
    this.datacenter = options.datacenter
    this.#store = store
    this.#maxUrlLength = max
    if (store !== undefined)
      this.#registry.add({ stores: { [FEDERATION_STATES_COMPONENT]: store } })
    if (options.components !== undefined) this.#registry.add(options.components)
  }

  /**
   * Adds components to report (a name already taken in its group, or a value without `stats()`,
   * throws and adds none). Returns a function that removes them again.
   */
  register(components: AdminComponents): () => void {
    this.#registry.add(components)
    return () => {
      for (const [group, entries] of Object.entries(components)) {
        if (entries === undefined) continue
        for (const name of Object.keys(entries))
          this.#registry.remove(group as ComponentGroup, name)
      }
    }
  }

  /**
   * Answers `req` if its path is one of the admin endpoint's, and returns true; otherwise writes
   * nothing and returns false, so the caller can serve it.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const target = req.url ?? ''
    const q = target.indexOf('?')
    const rawPath = q === -1 ? target : target.slice(0, q)
    const route = routeOf(rawPath)
    if (route === undefined) return false
    const serving = this.#serve(req, res, route, rawPath, q === -1 ? '' : target.slice(q + 1))
      .catch((err: unknown) => {
        debug('admin %s %s failed: %s', req.method, rawPath, (err as Error).message)
        if (!res.headersSent) this.#text(res, 500, 'Internal error')
        else res.destroy()
      })
      .finally(() => this.#inFlight.delete(serving))
    this.#inFlight.add(serving)
    return true
  }

  /** A `node:http` request listener: {@link handle}, and 404 for every other path. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.handle(req, res)) {
      if (this.#refuseBadRequest(req, res)) return
      this.#text(res, 404, 'Not found')
    }
  }

  stats(): AdminEndpointStats {
    return {
      responses: Object.fromEntries([...this.#responses].map(([k, v]) => [String(k), v])),
      blocking: this.#blocking.size,
    }
  }

  /**
   * Ends every blocking query at once (answered 503), resolves once every answer in progress is
   * written, and answers every later request 503. The components are not closed: they belong to
   * the caller. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true
    for (const c of this.#blocking) c.abort(new ClosedError('admin endpoint closed'))
    this.#blocking.clear()
    await Promise.all([...this.#inFlight])
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #serve(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    rawPath: string,
    rawQuery: string,
  ): Promise<void> {
    if (this.#refuseBadRequest(req, res)) return
    if (this.#closed) {
      this.#text(res, 503, 'admin endpoint closed')
      return
    }
    const query = new URLSearchParams(rawQuery)
    switch (route) {
      case 'status':
        this.#json(res, 200, this.#status(), query.has('pretty'))
        return
      case 'health': {
        const health = this.#health()
        this.#json(res, health.status === 'passing' ? 200 : 503, health, query.has('pretty'))
        return
      }
      case 'metrics':
        this.#count(200)
        res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' })
        res.end(renderExposition(this.#families()))
        return
      default:
        await this.#federation(res, route, rawPath, query)
    }
  }

  /** 405, 413 or 414 when the request is not a bounded read; true if it was answered. */
  #refuseBadRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      this.#text(res, 405, 'Method not allowed', true)
      return true
    }
    const length = req.headers['content-length']
    if (
      req.headers['transfer-encoding'] !== undefined ||
      (length !== undefined && length !== '0')
    ) {
      // Never read: the connection is closed after the answer instead.
      this.#text(res, 413, 'Request body not accepted', true)
      return true
    }
    if ((req.url ?? '').length > this.#maxUrlLength) {
      this.#text(res, 414, 'URI too long', true)
      return true
    }
    return false
  }

  async #federation(
    res: ServerResponse,
    route: 'states' | 'state' | 'mesh-gateways',
    rawPath: string,
    query: URLSearchParams,
  ): Promise<void> {
    const store = this.#store
    if (store === undefined) {
      this.#text(res, 404, 'No federation-state store is served here')
      return
    }
    let datacenter = ''
    if (route === 'state') {
      try {
        datacenter = decodeURIComponent(rawPath.slice(ADMIN_FEDERATION_STATE_PATH.length))
      } catch {
        this.#text(res, 400, 'Invalid URL path encoding')
        return
      }
      if (datacenter === '') {
        this.#text(res, 400, 'Missing datacenter name')
        return
      }
    }
    let params: BlockingParams
    try {
      params = parseBlockingParams(query)
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err
      this.#text(res, 400, err.message)
      return
    }
    if (
      params.datacenter !== undefined &&
      this.datacenter !== undefined &&
      params.datacenter.toLowerCase() !== this.datacenter.toLowerCase()
    ) {
      this.#text(res, 500, 'No path to datacenter')
      return
    }
    const controller = new AbortController()
    const onClose = () => controller.abort()
    res.once('close', onClose)
    this.#blocking.add(controller)
    const options: BlockingQueryOptions = {
      minIndex: params.minIndex,
      ...(params.waitMs === undefined ? {} : { waitMs: params.waitMs }),
      signal: controller.signal,
    }
    let result: ListResult | GetResult | ListMeshGatewaysResult
    try {
      if (route === 'states') result = await store.blockingList(options)
      else if (route === 'mesh-gateways') result = await store.blockingListMeshGateways(options)
      else result = await store.blockingGet(datacenter, options)
    } catch (err) {
      if (res.destroyed || res.writableEnded) return
      if (this.#closed || err instanceof ClosedError || isWanfedError(err, 'WANFED_ERR_CLOSED')) {
        this.#text(res, 503, 'Federation-state store closed')
        return
      }
      throw err
    } finally {
      this.#blocking.delete(controller)
      res.off('close', onClose)
    }
    if (res.destroyed) return
    setConsulMeta(res, result.index)
    if (route === 'states') {
      this.#json(
        res,
        200,
        (result as ListResult).states.map(toConsulFederationStateJson),
        params.pretty,
      )
    } else if (route === 'mesh-gateways') {
      const byDc = (result as ListMeshGatewaysResult).gateways
      const body: Record<string, unknown[]> = {}
      for (const [dc, gws] of Object.entries(byDc)) body[dc] = gws.map(toConsulCheckServiceNodeJson)
      this.#json(res, 200, body, params.pretty)
    } else {
      const { state, index } = result as GetResult
      if (state === undefined) {
        this.#text(res, 404, '')
        return
      }
      // Consul answers the whole FederationStateResponse: the state and the query meta.
      this.#json(
        res,
        200,
        { State: toConsulFederationStateJson(state), ...queryMetaJson(index) },
        params.pretty,
      )
    }
  }

  #status(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    if (this.datacenter !== undefined) out['datacenter'] = this.datacenter
    const pools: Record<string, unknown> = {}
    for (const group of this.#registry.groups()) {
      const entries: Record<string, unknown> = {}
      for (const [name, component] of this.#registry.entries(group)) {
        const view = safely(() => statusView(group, component), name)
        entries[name] = view
        const pool = (view as { pool?: unknown } | undefined)?.pool
        if (group === 'transports' && pool !== undefined) pools[name] = pool
      }
      out[group] = entries
    }
    out['pools'] = pools
    out['admin'] = this.stats()
    return out
  }

  #health(): { status: 'passing' | 'critical'; checks: Record<string, string> } {
    const checks: Record<string, string> = {}
    let passing = !this.#closed
    for (const group of ['transports', 'servers', 'gateways'] as const) {
      for (const [name, component] of this.#registry.entries(group)) {
        const s = safely(() => (component as StatsSource).stats(), name) as
          | { status?: unknown }
          | undefined
        const status = typeof s?.status === 'string' ? s.status : 'unknown'
        checks[`${this.#registry.kindOf(group)}/${name}`] = status
        if (status !== 'listening') passing = false
      }
    }
    return { status: passing ? 'passing' : 'critical', checks }
  }

  #families(): MetricFamily[] {
    const families: MetricFamily[] = []
    for (const group of this.#registry.groups()) {
      const kind: ComponentKind = this.#registry.kindOf(group)
      for (const [name, component] of this.#registry.entries(group)) {
        const view = safely(() => statusView(group, component), name)
        if (view === undefined) continue
        // A locator's view nests its decision; metrics read its fields flat.
        const flat =
          group === 'locators'
            ? { ...(view as { stats?: object }).stats, ...(view as { decision?: object }).decision }
            : view
        families.push(...familiesOf(kind, name, flat))
      }
    }
    const responses = Object.entries(this.stats().responses).map(([code, value]) => ({
      labels: { code },
      value,
    }))
    families.push({
      name: 'wanfed_admin_responses_total',
      type: 'counter',
      help: 'Admin endpoint requests answered, by status code.',
      samples: responses,
    })
    return families
  }

  #count(status: number): void {
    this.#responses.set(status, (this.#responses.get(status) ?? 0) + 1)
  }

  #json(res: ServerResponse, status: number, body: unknown, pretty: boolean): void {
    this.#count(status)
    const text = pretty ? `${JSON.stringify(body, null, 4)}\n` : JSON.stringify(body)
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    })
    res.end(text)
  }

  #text(res: ServerResponse, status: number, message: string, close = false): void {
    this.#count(status)
    const headers: Record<string, string | number> = {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(message),
    }
    if (close) headers['Connection'] = 'close'
    res.writeHead(status, headers)
    res.end(message)
  }
}

function routeOf(path: string): Route | undefined {
  if (path === ADMIN_FEDERATION_STATES_PATH) return 'states'
  if (path === ADMIN_MESH_GATEWAYS_PATH) return 'mesh-gateways'
  if (path.startsWith(ADMIN_FEDERATION_STATE_PATH)) return 'state'
  if (path === ADMIN_STATUS_PATH) return 'status'
  if (path === ADMIN_HEALTH_PATH) return 'health'
  if (path === ADMIN_METRICS_PATH) return 'metrics'
  return undefined
}

function statusView(group: ComponentGroup, component: StatsSource | LocatorSource): unknown {
  if (group !== 'locators') return (component as StatsSource).stats()
  const l = component as LocatorSource
  return {
    ...(typeof l.decision === 'function' ? { decision: l.decision() } : {}),
    ...(typeof l.stats === 'function' ? { stats: l.stats() } : {}),
  }
}

/** A component whose `stats()` throws is reported as missing, not as a failed page. */
function safely(fn: () => unknown, name: string): unknown {
  try {
    return fn()
  } catch (err) {
    debug('admin: stats of %s failed: %s', name, (err as Error).message)
    return undefined
  }
}

/** Consul's `setMeta` headers for a blocking-query answer from a server that is its own leader. */
function setConsulMeta(res: ServerResponse, index: number): void {
  res.setHeader('X-Consul-Index', String(index))
  res.setHeader('X-Consul-KnownLeader', 'true')
  res.setHeader('X-Consul-LastContact', '0')
  res.setHeader('X-Consul-Effective-Consistency', 'default')
  res.setHeader('X-Consul-Query-Backend', 'blocking-query')
}

/** Consul's `structs.QueryMeta` as embedded in a response body. */
function queryMetaJson(index: number): Record<string, unknown> {
  return {
    Index: index,
    LastContact: 0,
    KnownLeader: true,
    ConsistencyLevel: 'default',
    NotModified: false,
    Backend: 0,
    ResultsFilteredByACLs: false,
  }
}
