import { InvalidArgumentError } from '../errors.ts'
import { parseHostPort } from '../internal/address.ts'
import { isSniLabel, normalizeDomain } from '../names.ts'

export { normalizeDomain }

/**
 * What a mesh gateway does with a connection, by its SNI (Consul's `consul-wan-federation` routes):
 * - `local-server`: `<node>.server.<localdc>.<domain>`, to that local server;
 * - `local-any`: `server.<localdc>.<domain>`, to any local server;
 * - `remote-dc`: `server.<dc>.<domain>` or `*.server.<dc>.<domain>` for another DC, to its gateways.
 */
export type RouteKind = 'local-server' | 'local-any' | 'remote-dc'

/** Why an SNI has no route. */
export type NoRouteReason = 'no-sni' | 'unknown-route'

/** The result of {@link matchSni}: a route kind and the key that names its target. */
export type SniMatch =
  | {
      kind: 'local-server'
      datacenter: string
      /** The node label, lowercased. */
      node: string
      /** `<node>.server.<dc>.<domain>`, lowercased: Consul's cluster name for that server. */
      key: string
    }
  | {
      kind: 'local-any' | 'remote-dc'
      datacenter: string
      /** `server.<dc>.<domain>`, lowercased: Consul's cluster name for the DC. */
      key: string
    }
  | { kind: 'none'; reason: NoRouteReason }

export interface SniMatchOptions {
  /** The gateway's own datacenter. */
  datacenter: string
  /** Consul domain, default `consul`; one trailing dot is ignored. */
  domain?: string
}

/**
 * The one SNI matching rule, shared by {@link MeshGateway}, {@link routeTable} and the proxy
 * config renderers. Names compare case-insensitively; one trailing dot on the SNI is ignored.
 *
 * Local names must be exact (`<node>.server.<local>.<domain>` with a one-label node, or
 * `server.<local>.<domain>`). Remote names match on the suffix `.server.<dc>.<domain>` with any
 * labels before it, as Envoy's `*.server.<dc>.<domain>` filter chain does: the remote gateway decides
 * whether the node exists. Whether a remote DC is known is not decided here.
 */
export function matchSni(sni: string | undefined, options: SniMatchOptions): SniMatch {
  if (sni === undefined || sni === '') return { kind: 'none', reason: 'no-sni' }
  const domain = normalizeDomain(options.domain)
  const local = options.datacenter.toLowerCase()
  let name = sni.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  const suffix = `.${domain}`
  if (!name.endsWith(suffix)) return { kind: 'none', reason: 'unknown-route' }
  const labels = name.slice(0, -suffix.length).split('.')
  // labels: [...prefix, 'server', dc]
  const n = labels.length
  const dc = labels[n - 1] as string
  if (n < 2 || labels[n - 2] !== 'server' || dc === '' || labels.some((l) => l === '')) {
    return { kind: 'none', reason: 'unknown-route' }
  }
  const key = `server.${dc}.${domain}`
  if (dc !== local) return { kind: 'remote-dc', datacenter: dc, key }
  if (n === 2) return { kind: 'local-any', datacenter: dc, key }
  if (n === 3) {
    const node = labels[0] as string
    return { kind: 'local-server', datacenter: dc, node, key: `${node}.${key}` }
  }
  return { kind: 'none', reason: 'unknown-route' }
}

/**
 * The local servers a gateway routes to. `lookup` serves `<node>.server.<dc>.<domain>`; `all`
 * serves `server.<dc>.<domain>`; `nodes` lets {@link routeTable} list the per-node routes.
 */
export interface ServerRegistry {
  /** The `host:port` of the local server with this node name (given lowercased), if any. */
  lookup(node: string): string | undefined
  /** Every local server's `host:port`, for the any-server route. */
  all(): string[]
  /** Every local server's node name; needed only to render static configs. */
  nodes?(): string[]
}

/** Local servers by node name: a record, a map, a lookup function, or a {@link ServerRegistry}. */
export type ServerSource =
  | Readonly<Record<string, string>>
  | ReadonlyMap<string, string>
  | ((node: string) => string | undefined)
  | ServerRegistry

/**
 * Adapts any {@link ServerSource} to a {@link ServerRegistry}. Records and maps are copied (node
 * names lowercased, addresses checked); a bare function has no `all()` servers, so the any-server
 * route finds none. Registries are used as they are, live.
 */
export function toServerRegistry(source: ServerSource, what = 'servers'): ServerRegistry {
  if (typeof source === 'function') return { lookup: (node) => source(node), all: () => [] }
  if (source === null || typeof source !== 'object') {
    throw new InvalidArgumentError(
      `${what} must be a record or map of node to host:port, a function, or a registry`,
    )
  }
  if (isRegistry(source)) return source
  const entries =
    source instanceof Map
      ? [...(source as ReadonlyMap<string, string>)]
      : Object.entries(source as Record<string, string>)
  const byNode = new Map<string, string>()
  for (const [node, address] of entries) {
    if (typeof node !== 'string' || node === '' || node.includes('.')) {
      throw new InvalidArgumentError(`${what}: invalid node name ${JSON.stringify(node)}`)
    }
    if (typeof address !== 'string') {
      throw new InvalidArgumentError(`${what}.${node} must be a host:port string`)
    }
    parseHostPort(address, `${what}.${node} address`)
    byNode.set(node.toLowerCase(), address)
  }
  const addresses = [...byNode.values()]
  return {
    lookup: (node) => byNode.get(node.toLowerCase()),
    all: () => [...addresses],
    nodes: () => [...byNode.keys()],
  }
}

function isRegistry(value: object): value is ServerRegistry {
  const v = value as Partial<ServerRegistry>
  return typeof v.lookup === 'function' && typeof v.all === 'function'
}

/** One route of a {@link RouteTable}. Names are lowercased. */
export interface RouteEntry {
  kind: RouteKind
  /** The target's name, Consul's cluster name: `<node>.server.<dc>.<domain>` or `server.<dc>.<domain>`. */
  key: string
  datacenter: string
  /** The node, for `local-server` routes. */
  node?: string
  /** SNI names this route takes exactly. */
  exact: string[]
  /** SNI suffixes this route takes (leading dot, e.g. `.server.dc2.consul`); empty for local routes. */
  suffixes: string[]
  /** Upstreams as `host:port`: the server; every local server; the remote DC's gateways. */
  targets: string[]
}

/**
 * A gateway's routes as plain data, for rendering proxy configs (HAProxy, nginx) that behave as
 * {@link MeshGateway} does. Exact names win over suffixes; a name matching nothing is closed.
 */
export interface RouteTable {
  datacenter: string
  domain: string
  /** `local-server` routes sorted by node, then `local-any`, then `remote-dc` sorted by DC. */
  routes: RouteEntry[]
}

export interface RouteTableOptions {
  /** The gateway's own datacenter. */
  datacenter: string
  /** Consul domain, default `consul`. */
  domain?: string
  /** Local servers by node. A registry needs `nodes()` for the per-node routes to be listed. */
  servers: ServerSource
  /** Remote datacenters' gateways, `host:port`. An entry for the local DC is ignored. */
  remoteGateways?:
    | Readonly<Record<string, readonly string[]>>
    | ReadonlyMap<string, readonly string[]>
}

/**
 * Builds the route table of a gateway in `datacenter`: one exact route per local server, the
 * any-server route over all of them, and one suffix route per remote DC to its gateways. Routes
 * with no target are left out (a remote DC without gateways), except `local-any`, which is always
 * present so renderers can close it explicitly.
 *
 * @throws {InvalidArgumentError} a datacenter, node or address is malformed.
 */
export function routeTable(options: RouteTableOptions): RouteTable {
  const datacenter = checkDatacenter(options?.datacenter, 'datacenter')
  const domain = normalizeDomain(options.domain)
  const registry = toServerRegistry(options.servers)
  const routes: RouteEntry[] = []
  const nodes = [...new Set((registry.nodes?.() ?? []).map((n) => n.toLowerCase()))].sort()
  const anyTargets: string[] = []
  for (const node of nodes) {
    const address = registry.lookup(node)
    if (address === undefined) continue
    const m = matchSni(`${node}.server.${datacenter}.${domain}`, { datacenter, domain })
    if (m.kind !== 'local-server') throw new InvalidArgumentError(`invalid node name ${node}`)
    routes.push({
      kind: m.kind,
      key: m.key,
      datacenter,
      node,
      exact: [m.key],
      suffixes: [],
      targets: [address],
    })
  }
  anyTargets.push(...registry.all())
  const anyKey = `server.${datacenter}.${domain}`
  routes.push({
    kind: 'local-any',
    key: anyKey,
    datacenter,
    exact: [anyKey],
    suffixes: [],
    targets: anyTargets,
  })

  const remote = options.remoteGateways ?? {}
  const entries =
    remote instanceof Map
      ? [...(remote as ReadonlyMap<string, readonly string[]>)]
      : Object.entries(remote as Record<string, readonly string[]>)
  const byDc = new Map<string, string[]>()
  for (const [dcRaw, gateways] of entries) {
    const dc = checkDatacenter(dcRaw, 'remoteGateways key')
    // Consul's route table includes the local DC too, but as local servers, never as gateways.
    if (dc === datacenter) continue
    if (!Array.isArray(gateways)) {
      throw new InvalidArgumentError(`remoteGateways.${dc} must be an array of host:port`)
    }
    for (const g of gateways) parseHostPort(g, `remoteGateways.${dc} address`)
    const list = byDc.get(dc) ?? []
    for (const g of gateways as string[]) if (!list.includes(g)) list.push(g)
    byDc.set(dc, list)
  }
  for (const dc of [...byDc.keys()].sort()) {
    const targets = byDc.get(dc) as string[]
    if (targets.length === 0) continue
    const key = `server.${dc}.${domain}`
    routes.push({
      kind: 'remote-dc',
      key,
      datacenter: dc,
      exact: [key],
      suffixes: [`.${key}`],
      targets,
    })
  }
  return { datacenter, domain, routes }
}

/**
 * The route of `table` that `sni` takes, by {@link matchSni}; undefined when the SNI has no route
 * or its target is not in the table.
 */
export function resolveRoute(table: RouteTable, sni: string | undefined): RouteEntry | undefined {
  const m = matchSni(sni, table)
  if (m.kind === 'none') return undefined
  return table.routes.find((r) => r.kind === m.kind && r.key === m.key)
}

/** Checks a datacenter name (one DNS label) and lowercases it. */
export function checkDatacenter(value: unknown, what: string): string {
  if (typeof value !== 'string' || !isSniLabel(value)) {
    throw new InvalidArgumentError(
      `${what} must be a datacenter name (one DNS label), got ${JSON.stringify(value)}`,
    )
  }
  return value.toLowerCase()
}
