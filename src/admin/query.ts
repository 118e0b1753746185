import { InvalidArgumentError } from '../errors.ts'
import { parseGoDuration } from './go-duration.ts'

/** A request's blocking-query parameters, as Consul's HTTP API reads them. */
export interface BlockingParams {
  /** `?index=`: 0 when absent. */
  minIndex: number
  /** `?wait=` in ms; undefined when absent (the store's default, 5 minutes, applies). */
  waitMs: number | undefined
  /** `?dc=`; undefined when absent or empty. */
  datacenter: string | undefined
  pretty: boolean
}

const UINT = /^\d+$/

/**
 * Consul's `parseWait`, `parseDC` and `parseConsistency` over `URLSearchParams` (the first value of
 * a repeated parameter counts, as Go's `Query().Get`). Other parameters are ignored, as Consul
 * ignores those an endpoint does not use.
 *
 * @throws {InvalidArgumentError} with Consul's message: `Invalid wait time`, `Invalid index`, or both `?stale` and `?consistent`.
 */
export function parseBlockingParams(query: URLSearchParams): BlockingParams {
  let waitMs: number | undefined
  const wait = query.get('wait')
  if (wait !== null && wait !== '') {
    const ms = parseGoDuration(wait)
    if (ms === undefined) throw new InvalidArgumentError('Invalid wait time')
    // Consul's RPC layer gives a zero or negative wait the default.
    waitMs = ms > 0 ? ms : undefined
  }
  let minIndex = 0
  const index = query.get('index')
  if (index !== null && index !== '') {
    const n = UINT.test(index) ? Number(index) : Number.NaN
    // Consul takes any uint64; an index past 2^53 cannot be told apart from its neighbours here.
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('Invalid index')
    minIndex = n
  }
  if (query.has('stale') && query.has('consistent'))
    throw new InvalidArgumentError('Cannot specify ?stale with ?consistent, conflicting semantics.')
  const dc = query.get('dc')
  return {
    minIndex,
    waitMs,
    datacenter: dc === null || dc === '' ? undefined : dc,
    pretty: query.has('pretty'),
  }
}
