import { InvalidFederationStateError } from '../../errors.ts'
import type {
  FederationState,
  GatewayNode,
  GatewayService,
  HealthCheck,
  HealthStatus,
  MeshGatewayEntry,
  ServiceAddress,
} from './state.ts'

/** A gateway as callers write it: only the node's name and address, the service name and port are required. */
export interface MeshGatewayInput {
  node: {
    id?: string
    node: string
    address: string
    datacenter?: string
    taggedAddresses?: Record<string, string>
    meta?: Record<string, string>
  }
  service: {
    kind?: string
    id?: string
    service: string
    tags?: readonly string[]
    address?: string
    port: number
    taggedAddresses?: Record<string, ServiceAddress>
    meta?: Record<string, string>
  }
  checks?: readonly {
    node?: string
    checkId: string
    name?: string
    status: HealthStatus
    notes?: string
    output?: string
    serviceId?: string
    serviceName?: string
    serviceTags?: readonly string[]
  }[]
}

/** A federation state as callers write it; the store fills in its indexes. */
export interface FederationStateInput {
  datacenter: string
  meshGateways?: readonly MeshGatewayInput[]
  /** ms since the Unix epoch; 0 or absent when unknown. */
  updatedAt?: number
  /** 0 or absent: this write is the primary's own, and the store sets it to the write's index. */
  primaryModifyIndex?: number
  /** Ignored on writes (the store assigns it); read from snapshots. */
  createIndex?: number
  /** Ignored on writes (the store assigns it); read from snapshots. */
  modifyIndex?: number
}

const STATUSES: ReadonlySet<string> = new Set(['passing', 'warning', 'critical', 'maintenance'])

/**
 * Checks an untrusted value (a caller's argument, a decoded snapshot or message) and returns a
 * normalized, deeply frozen {@link FederationState}: absent optional fields become `''`, `0`, `[]`
 * or `{}`. Unknown fields are dropped. Throws {@link InvalidFederationStateError} naming the first
 * bad field; the input is never modified.
 */
export function parseFederationState(value: unknown, what = 'federation state'): FederationState {
  const o = record(value, what)
  if (typeof o['datacenter'] !== 'string' || o['datacenter'] === '')
    throw new InvalidFederationStateError(`invalid request: missing federation state datacenter`)
  const datacenter = o['datacenter']
  const at = `${what} for ${JSON.stringify(datacenter)}`
  const gateways = optional(o, 'meshGateways', at, [] as unknown[], Array.isArray)
  return Object.freeze({
    datacenter,
    meshGateways: Object.freeze(
      gateways.map((g, i) => parseMeshGateway(g, `${at}: meshGateways[${i}]`)),
    ),
    updatedAt: index(o, 'updatedAt', at),
    primaryModifyIndex: index(o, 'primaryModifyIndex', at),
    createIndex: index(o, 'createIndex', at),
    modifyIndex: index(o, 'modifyIndex', at),
  })
}

/** Checks and normalizes one gateway entry (see {@link parseFederationState}). */
export function parseMeshGateway(value: unknown, what = 'mesh gateway'): MeshGatewayEntry {
  const o = record(value, what)
  const checks = optional(o, 'checks', what, [] as unknown[], Array.isArray)
  return Object.freeze({
    node: parseNode(o['node'], `${what}.node`),
    service: parseService(o['service'], `${what}.service`),
    checks: Object.freeze(checks.map((c, i) => parseCheck(c, `${what}.checks[${i}]`))),
  })
}

function parseNode(value: unknown, what: string): GatewayNode {
  const o = record(value, what)
  return Object.freeze({
    id: str(o, 'id', what),
    node: required(o, 'node', what),
    address: required(o, 'address', what),
    datacenter: str(o, 'datacenter', what),
    taggedAddresses: stringMap(o, 'taggedAddresses', what),
    meta: stringMap(o, 'meta', what),
  })
}

function parseService(value: unknown, what: string): GatewayService {
  const o = record(value, what)
  const tagged = record(o['taggedAddresses'] ?? {}, `${what}.taggedAddresses`)
  return Object.freeze({
    kind: o['kind'] === undefined ? 'mesh-gateway' : required(o, 'kind', what),
    id: str(o, 'id', what),
    service: required(o, 'service', what),
    tags: stringList(o, 'tags', what),
    address: str(o, 'address', what),
    port: port(o['port'], `${what}.port`),
    taggedAddresses: Object.freeze(
      Object.fromEntries(
        Object.keys(tagged).map((k) => {
          const at = `${what}.taggedAddresses.${k}`
          const a = record(tagged[k], at)
          return [
            k,
            Object.freeze({ address: str(a, 'address', at), port: port(a['port'], `${at}.port`) }),
          ]
        }),
      ),
    ),
    meta: stringMap(o, 'meta', what),
  })
}

function parseCheck(value: unknown, what: string): HealthCheck {
  const o = record(value, what)
  const status = o['status']
  if (typeof status !== 'string' || !STATUSES.has(status))
    throw new InvalidFederationStateError(
      `${what}.status must be one of passing, warning, critical, maintenance`,
    )
  return Object.freeze({
    node: str(o, 'node', what),
    checkId: required(o, 'checkId', what),
    name: str(o, 'name', what),
    status: status as HealthStatus,
    notes: str(o, 'notes', what),
    output: str(o, 'output', what),
    serviceId: str(o, 'serviceId', what),
    serviceName: str(o, 'serviceName', what),
    serviceTags: stringList(o, 'serviceTags', what),
  })
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidFederationStateError(`${what} must be an object`)
  return value as Record<string, unknown>
}

function optional<T>(
  o: Record<string, unknown>,
  key: string,
  what: string,
  fallback: T,
  ok: (v: unknown) => boolean,
): T {
  const v = o[key]
  if (v === undefined || v === null) return fallback
  if (!ok(v)) throw new InvalidFederationStateError(`${what}.${key} has the wrong type`)
  return v as T
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  return optional(o, key, what, '', (v) => typeof v === 'string')
}

function required(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key]
  if (typeof v !== 'string' || v === '')
    throw new InvalidFederationStateError(`${what}.${key} must be a non-empty string`)
  return v
}

function stringList(o: Record<string, unknown>, key: string, what: string): readonly string[] {
  const list = optional(o, key, what, [] as unknown[], Array.isArray)
  if (!list.every((t) => typeof t === 'string'))
    throw new InvalidFederationStateError(`${what}.${key} must be a list of strings`)
  return Object.freeze([...(list as string[])])
}

function stringMap(o: Record<string, unknown>, key: string, what: string): Record<string, string> {
  const m = record(o[key] ?? {}, `${what}.${key}`)
  const out: [string, string][] = []
  for (const k of Object.keys(m)) {
    const v = m[k]
    if (typeof v !== 'string')
      throw new InvalidFederationStateError(`${what}.${key}.${k} must be a string`)
    // msgpack decoders refuse the key (a prototype-pollution guard), so a state holding it could
    // be stored but never read back from a snapshot or a message: refuse it here, at the door.
    if (k === '__proto__')
      throw new InvalidFederationStateError(
        `${what}.${key} has the key __proto__, which federation-state messages and snapshots cannot carry`,
      )
    out.push([k, v])
  }
  return Object.freeze(Object.fromEntries(out))
}

function port(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535)
    throw new InvalidFederationStateError(`${what} must be an integer within 0..65535`)
  return v
}

function index(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key] ?? 0
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new InvalidFederationStateError(`${what}.${key} must be a non-negative safe integer`)
  return v
}
