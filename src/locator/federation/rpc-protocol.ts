import { decode, encode } from '@msgpack/msgpack'
import {
  ClosedError,
  InvalidArgumentError,
  InvalidFederationStateError,
  PersistError,
  RpcError,
  TimeoutError,
  type WanfedError,
  type WanfedErrorCode,
} from '../../errors.ts'

/**
 * The federation-state service's ALPN id: ours, not Consul's (Consul's RPC needs yamux and
 * msgpack-RPC). `docs/wire-protocol.md` specifies the protocol.
 */
export const ALPN_FEDERATION_STATE = 'wanfed/federation-state/1'

export const RPC_METHODS = ['Apply', 'Get', 'List', 'ListMeshGateways', 'Ping'] as const
export type RpcMethod = (typeof RPC_METHODS)[number]

/** Requests one connection may have in flight; more are answered with an error. */
export const MAX_IN_FLIGHT_PER_CONNECTION = 64

export interface RpcRequest {
  id: number
  method: RpcMethod
  args: Record<string, unknown>
}

export type RpcResponse =
  | { id: number; result: unknown }
  | { id: number; error: { code: WanfedErrorCode; message: string } }

/** Decodes and checks one request frame; throws {@link RpcError} (with the id when one was readable). */
export function decodeRequest(frame: Uint8Array): RpcRequest {
  const o = decodeMap(frame, 'request')
  const id = o['id']
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new RpcError('request id must be a non-negative integer', { remote: false })
  const method = o['method']
  if (typeof method !== 'string' || !(RPC_METHODS as readonly string[]).includes(method))
    throw Object.assign(
      new RpcError(`unknown method ${JSON.stringify(method)}`, { remote: false }),
      { requestId: id },
    )
  const args = o['args'] ?? {}
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    throw Object.assign(new RpcError('request args must be a map', { remote: false }), {
      requestId: id,
    })
  return { id, method: method as RpcMethod, args: args as Record<string, unknown> }
}

/** A result already encoded as msgpack, spliced into its response unchanged (see {@link encodeMessage}). */
export class EncodedResult {
  constructor(readonly bytes: Uint8Array) {}
}

/** Decodes one response frame; throws {@link RpcError} when it is malformed. */
export function decodeResponse(frame: Uint8Array): RpcResponse {
  const o = decodeMap(frame, 'response')
  const id = o['id']
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new RpcError('response id must be a non-negative integer')
  if (o['error'] !== undefined) {
    const e = o['error'] as Record<string, unknown> | null
    if (typeof e !== 'object' || e === null || typeof e['code'] !== 'string')
      throw new RpcError('response error must be a map with a code')
    return {
      id,
      error: {
        code: e['code'] as WanfedErrorCode,
        message: typeof e['message'] === 'string' ? e['message'] : '',
      },
    }
  }
  if (!('result' in o)) throw new RpcError('response has neither result nor error')
  return { id, result: o['result'] }
}

export function encodeMessage(message: RpcRequest | RpcResponse): Uint8Array {
  if ('result' in message && message.result instanceof EncodedResult) {
    // `{ id }` is a one-entry map; make it two and append `result` and the bytes as they are, so
    // one encoding of a large List serves every waiting secondary.
    const head = encode({ id: message.id })
    const key = encode('result')
    const out = new Uint8Array(head.length + key.length + message.result.bytes.length)
    out.set(head)
    out[0] = 0x82
    out.set(key, head.length)
    out.set(message.result.bytes, head.length + key.length)
    return out
  }
  // Undefined fields are left out rather than sent as nil, so optional fields stay optional.
  return encode(message, { ignoreUndefined: true })
}

/** The error a failure becomes on the wire: its code and message; anything untyped is an RpcError. */
export function errorBody(err: unknown): { code: WanfedErrorCode; message: string } {
  const e = err as Partial<WanfedError>
  if (typeof e?.code === 'string' && e.code.startsWith('WANFED_ERR_'))
    return { code: e.code, message: String(e.message) }
  return { code: 'WANFED_ERR_RPC', message: String((err as Error)?.message ?? err) }
}

/** The typed error a client raises for an error the service answered with (`remote` set). */
export function remoteError(body: { code: WanfedErrorCode; message: string }): WanfedError {
  const opts = { remote: true }
  const message = `federation-state service: ${body.message}`
  switch (body.code) {
    case 'WANFED_ERR_INVALID_FEDERATION_STATE':
      return new InvalidFederationStateError(message, opts)
    case 'WANFED_ERR_INVALID_ARG':
      return new InvalidArgumentError(message, opts)
    case 'WANFED_ERR_CLOSED':
      return new ClosedError(message, opts)
    case 'WANFED_ERR_TIMEOUT':
      return new TimeoutError(message, opts)
    case 'WANFED_ERR_PERSIST':
      return new PersistError(message, opts)
    default:
      return new RpcError(`${message} (${body.code})`)
  }
}

function decodeMap(frame: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = decode(frame)
  } catch (cause) {
    throw new RpcError(`${what} is not valid msgpack`, { cause, remote: what === 'response' })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new RpcError(`${what} is not a map`, { remote: what === 'response' })
  return value as Record<string, unknown>
}
