import { formatHostPort } from '../../internal/address.ts'
import {
  META_WAN_FEDERATION_KEY,
  META_WAN_FEDERATION_VALUE,
  type MeshGatewayEntry,
} from './state.ts'

/**
 * Consul's `retainGateways`: a gateway carries federation traffic only when its service meta
 * `consul-wan-federation` is exactly `"1"` and none of its checks is `critical` (warning counts as
 * healthy).
 */
export function isUsableForFederation(gw: MeshGatewayEntry): boolean {
  if (gw.service.meta[META_WAN_FEDERATION_KEY] !== META_WAN_FEDERATION_VALUE) return false
  return !gw.checks.some((c) => c.status === 'critical')
}

/**
 * Consul's `CheckServiceNode.BestAddress(wan)` as `host:port`: first the service's own best address
 * (for WAN, its `wan` tagged address replaces the service address, even when empty, and its
 * non-zero port replaces the service port), then, when that host is empty, the node's (for WAN, its
 * `wan` tagged address if present, else its address).
 */
export function bestAddress(gw: MeshGatewayEntry, wan: boolean): string {
  let host = gw.service.address
  let port = gw.service.port
  if (wan && Object.hasOwn(gw.service.taggedAddresses, 'wan')) {
    const tagged = gw.service.taggedAddresses['wan'] as { address: string; port: number }
    host = tagged.address
    if (tagged.port !== 0) port = tagged.port
  }
  if (host === '') {
    host =
      wan && Object.hasOwn(gw.node.taggedAddresses, 'wan')
        ? (gw.node.taggedAddresses['wan'] as string)
        : gw.node.address
  }
  return formatHostPort(host, port)
}

/** The usable gateways' addresses, sorted ascending in string order (Consul's `sort.Strings`). */
export function renderGatewayAddresses(
  gateways: readonly MeshGatewayEntry[],
  wan: boolean,
): string[] {
  const out: string[] = []
  for (const gw of gateways) if (isUsableForFederation(gw)) out.push(bestAddress(gw, wan))
  return out.sort(compareStrings)
}

/**
 * The sorted union of two sorted lists without duplicates (Consul's zipper merge of the replicated
 * primary gateways and the fallback addresses).
 */
export function unionSorted(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = []
  let i = 0
  let j = 0
  const push = (v: string) => {
    if (out[out.length - 1] !== v) out.push(v)
  }
  while (i < a.length || j < b.length) {
    const x = a[i]
    const y = b[j]
    if (y === undefined || (x !== undefined && compareStrings(x, y) <= 0)) {
      push(x as string)
      i++
      if (x === y) j++
    } else {
      push(y)
      j++
    }
  }
  return out
}

/** Go's string order: by UTF-8 bytes (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function compareStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
