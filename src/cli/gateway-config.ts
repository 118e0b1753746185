/**
 * Configuration of `wanfed gateway`: the JSON config file, the flags that override it, and the
 * merge of both into the settings a {@link MeshGateway} is built from. Everything is validated
 * here, before anything starts; every failure is a {@link CommandError} (a {@link UsageError} for
 * flags) whose message names the field and the problem, e.g.
 * `config: servers.bob: invalid address "x": expected host:port (IPv6 in brackets)`.
 *
 * @packageDocumentation
 */

import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { MAX_PORT, splitHostPort } from '../internal/address.ts'
import { isDnsName, isSniLabel, normalizeDomain } from '../names.ts'
import { CommandError, UsageError } from './args.ts'

/** Where the gateway listens unless told otherwise: loopback only, Consul's mesh gateway port. */
export const DEFAULT_GATEWAY_LISTEN = '127.0.0.1:8443'
/** How often a status line is printed unless told otherwise; 0 disables it. */
export const DEFAULT_STATUS_INTERVAL_MS = 10_000
/** The longest time a Node timer can wait (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647

/** The config file, validated: every key optional here, `datacenter` and `servers` are required after the merge. */
export interface GatewayConfig {
  datacenter?: string
  domain?: string
  listen?: string
  servers?: Record<string, string>
  remoteGateways?: Record<string, string[]>
  helloTimeoutMs?: number
  connectTimeoutMs?: number
  idleTimeoutMs?: number
  maxConnections?: number
  closeGraceMs?: number
  statusIntervalMs?: number
}

/** What the gateway runs with: the config file, overridden by flags, defaults filled in. */
export interface GatewaySettings {
  /** Lowercased. */
  datacenter: string
  /** Lowercased, no trailing dot; undefined means `consul`. */
  domain: string | undefined
  /** `host:port`; port 0 picks a free one. */
  listen: string
  /** Local servers by node name (lowercased). */
  servers: Record<string, string>
  /** Other datacenters' gateways; never the local datacenter. */
  remoteGateways: Record<string, string[]>
  helloTimeoutMs: number | undefined
  connectTimeoutMs: number | undefined
  idleTimeoutMs: number | undefined
  maxConnections: number | undefined
  closeGraceMs: number | undefined
  statusIntervalMs: number
}

/** The raw values of the flags that can override the config file. */
export interface GatewayFlagValues {
  datacenter?: string | undefined
  domain?: string | undefined
  listen?: string | undefined
  server?: readonly string[]
  remote?: readonly string[]
  helloTimeout?: string | undefined
  connectTimeout?: string | undefined
  idleTimeout?: string | undefined
  maxConnections?: string | undefined
  closeGrace?: string | undefined
  statusInterval?: string | undefined
}

type Fail = (field: string, problem: string) => never

const configFail: Fail = (field, problem) => {
  throw new CommandError(`config: ${field}: ${problem}`)
}

const flagFail: Fail = (field, problem) => {
  throw new UsageError(`${field}: ${problem}`)
}

function show(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** A datacenter or node name: one DNS label (underscores allowed, as Consul allows them). */
const LABEL_RULE = 'expected one DNS label (letters, digits, hyphens, underscores; no dots)'

function checkLabel(value: unknown, what: string, field: string, fail: Fail): string {
  if (typeof value !== 'string') fail(field, `expected a string, got ${show(value)}`)
  const v = (value as string).toLowerCase()
  if (!isSniLabel(v)) fail(field, `invalid ${what} ${show(value)}: ${LABEL_RULE}`)
  return v
}

function checkDomain(value: unknown, field: string, fail: Fail): string {
  if (typeof value !== 'string') fail(field, `expected a string, got ${show(value)}`)
  try {
    return normalizeDomain(value)
  } catch {
    return fail(field, `invalid domain ${show(value)}: expected a DNS name such as consul`)
  }
}

/**
 * Checks `host:port` (IPv6 in brackets). The host is an IP address or a DNS name; the port is
 * 1-65535, or 0-65535 with `allowPortZero` (a listen address).
 */
export function checkAddress(
  value: unknown,
  field: string,
  fail: Fail,
  allowPortZero = false,
): string {
  if (typeof value !== 'string') fail(field, `expected a host:port string, got ${show(value)}`)
  const v = value as string
  const parsed = splitHostPort(v)
  if (parsed === undefined || (isIP(parsed.host) === 0 && !isDnsName(parsed.host, 'sni'))) {
    fail(field, `invalid address ${show(v)}: expected host:port (IPv6 in brackets)`)
  }
  const { port } = parsed as { port: number }
  if (port > MAX_PORT || (port === 0 && !allowPortZero)) {
    fail(field, `invalid port in ${show(v)}: expected ${allowPortZero ? 0 : 1}-65535`)
  }
  return v
}

function checkMs(value: unknown, field: string, min: number, fail: Fail): number {
  if (typeof value !== 'number') {
    fail(field, `expected a number of milliseconds, got ${show(value)}`)
  }
  const n = value as number
  if (!Number.isInteger(n) || n < min || n > MAX_TIMER_MS) {
    fail(field, `expected a whole number of milliseconds in ${min}..${MAX_TIMER_MS}, got ${n}`)
  }
  return n
}

function checkCount(value: unknown, field: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(field, `expected a non-negative integer (0 = no limit), got ${show(value)}`)
  }
  return value as number
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The config file's keys, in the order `--help` and errors list them. */
export const CONFIG_KEYS = [
  'datacenter',
  'domain',
  'listen',
  'servers',
  'remoteGateways',
  'helloTimeoutMs',
  'connectTimeoutMs',
  'idleTimeoutMs',
  'maxConnections',
  'closeGraceMs',
  'statusIntervalMs',
] as const
/** One of {@link CONFIG_KEYS}. */
export type ConfigKey = (typeof CONFIG_KEYS)[number]

/** Minimum of each time setting: the hello and connect timeouts must be positive, 0 disables the rest. */
const MS_MIN = {
  helloTimeoutMs: 1,
  connectTimeoutMs: 1,
  idleTimeoutMs: 0,
  closeGraceMs: 0,
  statusIntervalMs: 0,
} as const

function checkServers(value: unknown, field: string, fail: Fail): Record<string, string> {
  if (!isPlainObject(value)) {
    fail(field, `expected an object of node name to "host:port", got ${show(value)}`)
  }
  // No prototype: a node or DC named __proto__ must be a key like any other.
  const out: Record<string, string> = Object.create(null)
  for (const [node, address] of Object.entries(value as Record<string, unknown>)) {
    const name = checkLabel(node, 'node name', `${field}.${node}`, fail)
    if (Object.hasOwn(out, name)) fail(`${field}.${node}`, `node ${name} is listed twice`)
    out[name] = checkAddress(address, `${field}.${node}`, fail)
  }
  return out
}

function checkRemotes(value: unknown, field: string, fail: Fail): Record<string, string[]> {
  if (!isPlainObject(value)) {
    fail(field, `expected an object of datacenter to ["host:port", ...], got ${show(value)}`)
  }
  const out: Record<string, string[]> = Object.create(null)
  for (const [dcRaw, list] of Object.entries(value as Record<string, unknown>)) {
    const dc = checkLabel(dcRaw, 'datacenter name', `${field}.${dcRaw}`, fail)
    if (Object.hasOwn(out, dc)) fail(`${field}.${dcRaw}`, `datacenter ${dc} is listed twice`)
    if (!Array.isArray(list)) {
      fail(`${field}.${dcRaw}`, `expected an array of "host:port", got ${show(list)}`)
    }
    const gateways = list as unknown[]
    if (gateways.length === 0) {
      fail(`${field}.${dcRaw}`, 'expected at least one gateway address')
    }
    const addresses: string[] = []
    gateways.forEach((g, i) => {
      const a = checkAddress(g, `${field}.${dcRaw}[${i}]`, fail)
      if (!addresses.includes(a)) addresses.push(a)
    })
    out[dc] = addresses
  }
  return out
}

/**
 * Validates a parsed config file. Unknown keys, wrong types, malformed names and addresses throw a
 * {@link CommandError} naming the field (`config: <field>: <problem>`).
 */
export function parseGatewayConfig(value: unknown): GatewayConfig {
  const fail = configFail
  if (!isPlainObject(value)) {
    throw new CommandError(`config: expected a JSON object at the top level, got ${show(value)}`)
  }
  const known: readonly string[] = CONFIG_KEYS
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(key, `unknown key (known keys: ${CONFIG_KEYS.join(', ')})`)
  }
  const config: GatewayConfig = {}
  const v = value as { [K in (typeof CONFIG_KEYS)[number]]?: unknown }
  if (v.datacenter !== undefined) {
    config.datacenter = checkLabel(v.datacenter, 'datacenter name', 'datacenter', fail)
  }
  if (v.domain !== undefined) config.domain = checkDomain(v.domain, 'domain', fail)
  if (v.listen !== undefined) config.listen = checkAddress(v.listen, 'listen', fail, true)
  if (v.servers !== undefined) config.servers = checkServers(v.servers, 'servers', fail)
  if (v.remoteGateways !== undefined) {
    config.remoteGateways = checkRemotes(v.remoteGateways, 'remoteGateways', fail)
  }
  for (const key of Object.keys(MS_MIN) as (keyof typeof MS_MIN)[]) {
    if (v[key] !== undefined) config[key] = checkMs(v[key], key, MS_MIN[key], fail)
  }
  if (v.maxConnections !== undefined) {
    config.maxConnections = checkCount(v.maxConnections, 'maxConnections', fail)
  }
  return config
}

/** Parses and validates the text of a config file; `path` is named in every error. */
export function parseGatewayConfigText(text: string, path: string): GatewayConfig {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new CommandError(`config ${path}: invalid JSON: ${(err as Error).message}`)
  }
  try {
    return parseGatewayConfig(value)
  } catch (err) {
    if (!(err instanceof CommandError)) throw err
    throw new CommandError(`${err.message} (in ${path})`)
  }
}

/** Reads and validates a config file. `shown` is the path as the errors should show it. */
export async function readGatewayConfig(path: string, shown = path): Promise<GatewayConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new CommandError(`config file not found: ${shown}`)
    throw new CommandError(`cannot read config file ${shown}: ${(err as Error).message}`)
  }
  return parseGatewayConfigText(text, shown)
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }

/**
 * A duration flag: milliseconds (`1500`), or a number with a unit: `ms`, `s`, `m` or `h`
 * (`1.5s`, `2m`). The result must be a whole number of milliseconds.
 */
export function parseDuration(text: string, flag: string, min = 0): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) {
    throw new UsageError(
      `${flag}: invalid duration ${JSON.stringify(text)}: expected milliseconds or a number with ms, s, m or h (e.g. 5s)`,
    )
  }
  const ms = Number(m[1]) * (UNITS[m[2] ?? 'ms'] as number)
  if (!Number.isInteger(ms) || ms < min || ms > MAX_TIMER_MS) {
    throw new UsageError(
      `${flag}: ${JSON.stringify(text)} is out of range: expected a whole number of milliseconds in ${min}..${MAX_TIMER_MS}`,
    )
  }
  return ms
}

function splitPair(text: string, flag: string, form: string): [string, string] {
  const eq = text.indexOf('=')
  if (eq <= 0) throw new UsageError(`${flag} ${text}: expected ${form}`)
  return [text.slice(0, eq), text.slice(eq + 1)]
}

/** Turns the override flags into a (validated) {@link GatewayConfig}; errors are {@link UsageError}s. */
export function parseGatewayFlags(flags: GatewayFlagValues): GatewayConfig {
  const fail = flagFail
  const out: GatewayConfig = {}
  if (flags.datacenter !== undefined) {
    out.datacenter = checkLabel(flags.datacenter, 'datacenter name', '--datacenter', fail)
  }
  if (flags.domain !== undefined) out.domain = checkDomain(flags.domain, '--domain', fail)
  if (flags.listen !== undefined) out.listen = checkAddress(flags.listen, '--listen', fail, true)
  if (flags.server !== undefined && flags.server.length > 0) {
    const servers: Record<string, string> = Object.create(null)
    for (const text of flags.server) {
      const [node, address] = splitPair(text, '--server', 'node=host:port')
      const field = `--server ${text}`
      const name = checkLabel(node, 'node name', field, fail)
      if (Object.hasOwn(servers, name)) fail(field, `node ${name} is given twice`)
      servers[name] = checkAddress(address, field, fail)
    }
    out.servers = servers
  }
  if (flags.remote !== undefined && flags.remote.length > 0) {
    const remotes: Record<string, string[]> = Object.create(null)
    for (const text of flags.remote) {
      const [dcRaw, address] = splitPair(text, '--remote', 'dc=host:port')
      const field = `--remote ${text}`
      const dc = checkLabel(dcRaw, 'datacenter name', field, fail)
      const list = remotes[dc] ?? []
      const a = checkAddress(address, field, fail)
      if (!list.includes(a)) list.push(a)
      remotes[dc] = list
    }
    out.remoteGateways = remotes
  }
  const durations = [
    ['helloTimeout', 'helloTimeoutMs', '--hello-timeout'],
    ['connectTimeout', 'connectTimeoutMs', '--connect-timeout'],
    ['idleTimeout', 'idleTimeoutMs', '--idle-timeout'],
    ['closeGrace', 'closeGraceMs', '--close-grace'],
    ['statusInterval', 'statusIntervalMs', '--status-interval'],
  ] as const
  for (const [flag, key, name] of durations) {
    const text = flags[flag]
    if (text !== undefined) out[key] = parseDuration(text, name, MS_MIN[key])
  }
  if (flags.maxConnections !== undefined) {
    const text = flags.maxConnections.trim()
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN
    if (!Number.isSafeInteger(n)) {
      fail(
        '--max-connections',
        `expected a non-negative integer (0 = no limit), got ${JSON.stringify(flags.maxConnections)}`,
      )
    }
    out.maxConnections = n
  }
  return out
}

/**
 * Merges the config file (if any) with the flags: a flag replaces the file's value; `--server`
 * adds or replaces nodes, `--remote` replaces the gateway list of the datacenters it names.
 * Checks what is required: a datacenter and at least one local server. An entry of
 * `remoteGateways` for the local datacenter is dropped (its names are local routes).
 */
export function resolveGatewaySettings(
  file: GatewayConfig | undefined,
  flags: GatewayConfig,
  configPath?: string,
): GatewaySettings {
  const base = file ?? {}
  const missing = (field: string, flag: string, problem: string): never => {
    if (configPath !== undefined) {
      throw new CommandError(
        `config: ${field}: ${problem} (in ${configPath}; or pass ${flag} on the command line)`,
      )
    }
    throw new UsageError(`${flag} is required: ${problem}`)
  }
  const datacenter = flags.datacenter ?? base.datacenter
  if (datacenter === undefined) {
    return missing(
      'datacenter',
      '--datacenter',
      "missing: the gateway's own datacenter is required",
    )
  }
  const servers = { ...base.servers, ...flags.servers }
  if (Object.keys(servers).length === 0) {
    return missing(
      'servers',
      '--server node=host:port',
      'missing: at least one local server (node name to host:port) is required',
    )
  }
  const remoteGateways: Record<string, string[]> = {
    ...base.remoteGateways,
    ...flags.remoteGateways,
  }
  delete remoteGateways[datacenter]
  const pick = <K extends keyof GatewayConfig>(key: K): GatewayConfig[K] => flags[key] ?? base[key]
  return {
    datacenter,
    domain: pick('domain'),
    listen: pick('listen') ?? DEFAULT_GATEWAY_LISTEN,
    servers,
    remoteGateways,
    helloTimeoutMs: pick('helloTimeoutMs'),
    connectTimeoutMs: pick('connectTimeoutMs'),
    idleTimeoutMs: pick('idleTimeoutMs'),
    maxConnections: pick('maxConnections'),
    closeGraceMs: pick('closeGraceMs'),
    statusIntervalMs: pick('statusIntervalMs') ?? DEFAULT_STATUS_INTERVAL_MS,
  }
}
