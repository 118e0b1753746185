/**
 * The federation-state model: one record per datacenter listing that datacenter's mesh gateways
 * as its catalog holds them (node, service, checks). The shape follows Consul's
 * `structs.FederationState` and `CheckServiceNode`, in camelCase.
 *
 * Records handed out by the store and by {@link parseFederationState} are deeply frozen: share them
 * freely, copy before changing.
 */

/** A mesh gateway's service address override (Consul's `structs.ServiceAddress`). */
export interface ServiceAddress {
  readonly address: string
  /** 0 means "the service's own port". */
  readonly port: number
}

/** The catalog node a mesh gateway runs on. */
export interface GatewayNode {
  /** The node's UUID; may be empty. */
  readonly id: string
  /** The node's name. */
  readonly node: string
  /** The node's LAN address. */
  readonly address: string
  readonly datacenter: string
  /** `lan`, `wan`, and any others (`lan_ipv4`, ...), each an address. */
  readonly taggedAddresses: Readonly<Record<string, string>>
  readonly meta: Readonly<Record<string, string>>
}

/** The mesh-gateway service instance. */
export interface GatewayService {
  /** Service kind; `mesh-gateway` for every gateway anti-entropy collects. */
  readonly kind: string
  readonly id: string
  readonly service: string
  readonly tags: readonly string[]
  /** The service address; empty means "the node's address". */
  readonly address: string
  readonly port: number
  /** `lan`, `wan` and others, each an address and a port. */
  readonly taggedAddresses: Readonly<Record<string, ServiceAddress>>
  /** `consul-wan-federation: "1"` marks a gateway that carries federation traffic. */
  readonly meta: Readonly<Record<string, string>>
}

/** Consul's health states. Only `critical` makes a gateway unusable for federation. */
export type HealthStatus = 'passing' | 'warning' | 'critical' | 'maintenance'

export interface HealthCheck {
  readonly node: string
  readonly checkId: string
  readonly name: string
  readonly status: HealthStatus
  readonly notes: string
  readonly output: string
  readonly serviceId: string
  readonly serviceName: string
  readonly serviceTags: readonly string[]
}

/** One gateway as the catalog holds it (Consul's `CheckServiceNode`). */
export interface MeshGatewayEntry {
  readonly node: GatewayNode
  readonly service: GatewayService
  readonly checks: readonly HealthCheck[]
}

/** One datacenter's federation state. */
export interface FederationState {
  /** The datacenter the record describes. Store keys compare it case-insensitively. */
  readonly datacenter: string
  /** Every mesh-gateway instance of that datacenter, in catalog order. */
  readonly meshGateways: readonly MeshGatewayEntry[]
  /** Wall-clock time of the last anti-entropy write, ms since the Unix epoch; 0 when never set. */
  readonly updatedAt: number
  /** The record's `modifyIndex` in the primary datacenter's store. */
  readonly primaryModifyIndex: number
  /** Store index at which this record was first written here. */
  readonly createIndex: number
  /** Store index of the last write of this record here. */
  readonly modifyIndex: number
}

/** The meta key and value that mark a gateway as carrying WAN federation traffic. */
export const META_WAN_FEDERATION_KEY = 'consul-wan-federation'
export const META_WAN_FEDERATION_VALUE = '1'

/**
 * Consul's `FederationState.IsSame`, the test anti-entropy uses to skip a write: same datacenter
 * (exact case), same gateways **in the same order**, each with the same node, service and checks
 * (check output included). `updatedAt` and the indexes are ignored.
 */
export function isSameFederationState(a: FederationState, b: FederationState): boolean {
  if (a.datacenter !== b.datacenter) return false
  if (a.meshGateways.length !== b.meshGateways.length) return false
  for (let i = 0; i < a.meshGateways.length; i++) {
    const x = a.meshGateways[i] as MeshGatewayEntry
    const y = b.meshGateways[i] as MeshGatewayEntry
    if (!isSameNode(x.node, y.node) || !isSameService(x.service, y.service)) return false
    if (x.checks.length !== y.checks.length) return false
    for (let j = 0; j < x.checks.length; j++) {
      if (!isSameCheck(x.checks[j] as HealthCheck, y.checks[j] as HealthCheck)) return false
    }
  }
  return true
}

/** Consul's `Node.IsSame`: the node name compares case-folded, the rest exactly. */
export function isSameNode(a: GatewayNode, b: GatewayNode): boolean {
  return (
    a.id === b.id &&
    equalFold(a.node, b.node) &&
    a.address === b.address &&
    a.datacenter === b.datacenter &&
    sameStringMap(a.taggedAddresses, b.taggedAddresses) &&
    sameStringMap(a.meta, b.meta)
  )
}

/** Consul's `NodeService.IsSame`, over the fields this model keeps. */
export function isSameService(a: GatewayService, b: GatewayService): boolean {
  if (
    a.kind !== b.kind ||
    a.id !== b.id ||
    a.service !== b.service ||
    a.address !== b.address ||
    a.port !== b.port ||
    !sameList(a.tags, b.tags) ||
    !sameStringMap(a.meta, b.meta)
  ) {
    return false
  }
  const ka = Object.keys(a.taggedAddresses)
  if (ka.length !== Object.keys(b.taggedAddresses).length) return false
  for (const k of ka) {
    if (!Object.hasOwn(b.taggedAddresses, k)) return false
    const x = a.taggedAddresses[k] as ServiceAddress
    const y = b.taggedAddresses[k] as ServiceAddress
    if (x.address !== y.address || x.port !== y.port) return false
  }
  return true
}

/** Consul's `HealthCheck.IsSame`: status, notes and output included; the node name case-folded. */
export function isSameCheck(a: HealthCheck, b: HealthCheck): boolean {
  return (
    equalFold(a.node, b.node) &&
    a.checkId === b.checkId &&
    a.name === b.name &&
    a.status === b.status &&
    a.notes === b.notes &&
    a.output === b.output &&
    a.serviceId === b.serviceId &&
    a.serviceName === b.serviceName &&
    sameList(a.serviceTags, b.serviceTags)
  )
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function sameStringMap(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false
  return true
}

/**
 * Go's `strings.EqualFold` for the names Consul compares that way: equal under simple Unicode
 * case folding, code point by code point. Multi-character case mappings (`ß` → `SS`) do not fold,
 * as in Go.
 */
export function equalFold(a: string, b: string): boolean {
  if (a === b) return true
  const ca = [...a]
  const cb = [...b]
  if (ca.length !== cb.length) return false
  for (let i = 0; i < ca.length; i++) {
    const x = ca[i] as string
    const y = cb[i] as string
    if (x === y) continue
    if (foldOne(x) !== foldOne(y)) return false
  }
  return true
}

function foldOne(c: string): string {
  const upper = c.toUpperCase()
  const u = [...upper].length === 1 ? upper : c
  const lower = u.toLowerCase()
  return [...lower].length === 1 ? lower : u
}
