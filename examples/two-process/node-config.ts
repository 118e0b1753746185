/**
 * The config file of one node process (`node.ts`), the only thing it is told. Paths are relative
 * to the file. Everything is checked before anything starts, and an error names the field.
 *
 * ```json
 * {
 *   "name": "betty",
 *   "datacenter": "dc2",
 *   "primaryDatacenter": "dc1",
 *   "gossip": "127.0.0.1:7946",
 *   "alpn": "127.0.0.1:8300",
 *   "tls": { "ca": "consul-agent-ca.pem", "cert": "dc2-server-consul-0.pem", "key": "dc2-server-consul-0-key.pem" },
 *   "gateways": ["127.0.0.1:8443"],
 *   "primaryGateways": ["10.0.1.1:8443"],
 *   "join": ["alice.dc1/10.0.1.10:7946"]
 * }
 * ```
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

export interface NodeConfig {
  /** The node's short name; memberlist knows it as `<name>.<datacenter>`. */
  name: string
  datacenter: string
  primaryDatacenter: string
  /** `host:port` of the gossip transport (UDP and TCP): same-DC traffic. */
  gossip: string
  /** `host:port` of the ALPN server: where this DC's gateways deliver cross-DC traffic. */
  alpn: string
  /** PEM files, as `wanfed cert create` writes them. */
  tls: { ca: string; cert: string; key: string }
  /** This DC's mesh gateways, `host:port`: published to every DC through federation states. */
  gateways: string[]
  /** Secondaries only: gateways of the primary DC, the first route there (Consul's `primary_gateways`). */
  primaryGateways: string[]
  /** Members to join, `name/host:port`; none for the first node. */
  join: string[]
}

/** A config with its TLS files read: what the node script works from. */
export interface LoadedNodeConfig extends NodeConfig {
  /** The PEM text of `tls`'s files. */
  credentials: { ca: string; cert: string; key: string }
}

const KEYS: readonly string[] = [
  'name',
  'datacenter',
  'primaryDatacenter',
  'gossip',
  'alpn',
  'tls',
  'gateways',
  'primaryGateways',
  'join',
]

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const ADDRESS = /^(\d{1,3}(\.\d{1,3}){3}|localhost|[a-z0-9.-]+):(\d{1,5})$/i

function fail(path: string, field: string, problem: string): never {
  throw new Error(`node config ${path}: ${field}: ${problem}`)
}

function label(path: string, v: unknown, field: string): string {
  if (typeof v !== 'string' || !LABEL.test(v)) {
    fail(path, field, `expected a DNS label (a-z, 0-9, -), got ${JSON.stringify(v)}`)
  }
  return v
}

function address(path: string, v: unknown, field: string): string {
  const m = typeof v === 'string' ? ADDRESS.exec(v) : null
  if (m === null || Number(m[3]) > 65_535) {
    fail(path, field, `expected host:port, got ${JSON.stringify(v)}`)
  }
  return v as string
}

function list(path: string, v: unknown, field: string, item: (x: unknown, f: string) => string) {
  if (v === undefined) return []
  if (!Array.isArray(v)) fail(path, field, `expected an array, got ${JSON.stringify(v)}`)
  return v.map((x, i) => item(x, `${field}[${i}]`))
}

/** Checks a parsed config file; `path` is named in every error and anchors relative paths. */
export function parseNodeConfig(value: unknown, path: string): NodeConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(path, '(file)', 'expected a JSON object')
  }
  const v = value as Record<string, unknown>
  for (const key of Object.keys(v)) {
    if (!KEYS.includes(key)) fail(path, key, `unknown key (known: ${KEYS.join(', ')})`)
  }
  const tls = v['tls'] as Record<string, unknown> | undefined
  if (typeof tls !== 'object' || tls === null) fail(path, 'tls', 'expected { ca, cert, key }')
  const file = (k: 'ca' | 'cert' | 'key') => {
    const p = tls[k]
    if (typeof p !== 'string' || p === '') fail(path, `tls.${k}`, 'expected a file path')
    return resolve(dirname(path), p)
  }
  const config: NodeConfig = {
    name: label(path, v['name'], 'name'),
    datacenter: label(path, v['datacenter'], 'datacenter'),
    primaryDatacenter: label(path, v['primaryDatacenter'], 'primaryDatacenter'),
    gossip: address(path, v['gossip'], 'gossip'),
    alpn: address(path, v['alpn'], 'alpn'),
    tls: { ca: file('ca'), cert: file('cert'), key: file('key') },
    gateways: list(path, v['gateways'], 'gateways', (x, f) => address(path, x, f)),
    primaryGateways: list(path, v['primaryGateways'], 'primaryGateways', (x, f) =>
      address(path, x, f),
    ),
    join: list(path, v['join'], 'join', (x, f) => {
      const s = typeof x === 'string' ? x : ''
      const slash = s.indexOf('/')
      if (slash <= 0) fail(path, f, `expected name/host:port, got ${JSON.stringify(x)}`)
      address(path, s.slice(slash + 1), f)
      return s
    }),
  }
  const isPrimary = config.datacenter === config.primaryDatacenter
  if (isPrimary && config.primaryGateways.length > 0) {
    fail(path, 'primaryGateways', 'only a secondary datacenter has primary gateways')
  }
  if (!isPrimary && config.primaryGateways.length === 0) {
    fail(path, 'primaryGateways', 'a secondary datacenter needs at least one')
  }
  return config
}

/** Reads, checks and loads a node config file, TLS files included. */
export async function loadNodeConfig(path: string): Promise<LoadedNodeConfig> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new Error(`node config ${path}: ${(err as Error).message}`)
  }
  const config = parseNodeConfig(value, path)
  const read = async (k: 'ca' | 'cert' | 'key') => {
    try {
      return await readFile(config.tls[k], 'utf8')
    } catch (err) {
      fail(path, `tls.${k}`, (err as Error).message)
    }
  }
  const [ca, cert, key] = await Promise.all([read('ca'), read('cert'), read('key')])
  return { ...config, credentials: { ca, cert, key } }
}
