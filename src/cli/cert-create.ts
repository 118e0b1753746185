/**
 * `wanfed cert create`: Consul's `consul tls ca create` and `consul tls cert create` in one command,
 * with Consul's file names, defaults, SANs and its `-node` flag.
 *
 * @packageDocumentation
 */

import { access, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve } from 'node:path'
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type KeyType,
  loadCertificateAuthority,
} from '../certs/index.ts'
import { checkDnsLabel, checkDnsName, checkIp } from '../certs/names.ts'
import { CertificateError } from '../errors.ts'
import { CommandError, formatFlags, parseArgs, UsageError } from './args.ts'
import type { CliIo, Command } from './types.ts'

export const certCreateFlags = {
  ca: {
    kind: 'boolean',
    description: 'Create a CA (<domain>-agent-ca.pem and <domain>-agent-ca-key.pem)',
  },
  server: { kind: 'boolean', description: 'Create a server certificate' },
  client: { kind: 'boolean', description: 'Create a client certificate' },
  dc: { kind: 'string', valueName: '<dc>', description: 'Datacenter (default dc1)' },
  domain: { kind: 'string', valueName: '<domain>', description: 'Domain (default consul)' },
  node: {
    kind: 'string',
    valueName: '<name>',
    description: 'Server only: add the SAN <node>.server.<dc>.<domain>',
  },
  'additional-dnsname': {
    kind: 'strings',
    valueName: '<name>',
    description: 'Extra DNS SAN (localhost is always included)',
  },
  'additional-ipaddress': {
    kind: 'strings',
    valueName: '<ip>',
    description: 'Extra IP SAN (127.0.0.1 is always included)',
  },
  days: {
    kind: 'string',
    valueName: '<n>',
    description: 'Days the certificate is valid (default 1825 for a CA, 365 otherwise)',
  },
  'ca-file': {
    kind: 'string',
    valueName: '<path>',
    description:
      'CA certificate to sign with, or to create with --ca (default <dir>/<domain>-agent-ca.pem)',
  },
  'key-file': {
    kind: 'string',
    valueName: '<path>',
    description:
      'CA key to sign with, or to create with --ca (default <dir>/<domain>-agent-ca-key.pem)',
  },
  'key-type': {
    kind: 'string',
    valueName: 'ecdsa|rsa',
    description: 'Key type (default ecdsa, P-256)',
  },
  dir: {
    kind: 'string',
    valueName: '<dir>',
    description: 'Output directory (default: the current one)',
  },
} as const

const USAGE = `Usage: wanfed cert create (--ca | --server | --client) [options]

  Creates a CA, or a server or client certificate signed by it, as
  'consul tls ca create' and 'consul tls cert create' do. Files are never
  overwritten: a CA refuses to replace existing files, and certificates take
  the first free index N in <dc>-server-<domain>-<N>.pem / -key.pem
  (<dc>-client-<domain>-<N>.pem for clients).

  $ wanfed cert create --ca
  ==> Saved consul-agent-ca.pem
  ==> Saved consul-agent-ca-key.pem
  $ wanfed cert create --server --dc dc1 --node bob
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-server-consul-0.pem
  ==> Saved dc1-server-consul-0-key.pem

Options:
${formatFlags(certCreateFlags)}
  --help                       Show this help
`

const SERVER_WARNING = `==> WARNING: Server Certificates grants authority to become a
    server and access all state in the cluster including root keys
    and all ACL tokens. Do not distribute them to production hosts
    that are not server nodes. Store them as securely as CA keys.
`

/** How many indexes to try for a free file name, as Consul does. */
const MAX_INDEX = 10_000

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** `path` as the user would type it: relative to the working directory when inside it. */
function display(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new CommandError(
        `${what} not found: ${path} (create a CA with 'wanfed cert create --ca', or pass --ca-file and --key-file)`,
      )
    }
    throw new CommandError(`cannot read ${what} ${path}: ${(err as Error).message}`)
  }
}

/**
 * Writes the certificate then the key, each created exclusively (never replacing a file). If the
 * second write fails the first file is removed, so either both exist or neither does.
 */
async function writePair(
  pair: CertificateKeyPair,
  certPath: string,
  keyPath: string,
  io: CliIo,
): Promise<void> {
  await mkdir(resolve(certPath, '..'), { recursive: true })
  await mkdir(resolve(keyPath, '..'), { recursive: true })
  await writeFile(certPath, pair.cert, { flag: 'wx', mode: 0o644 })
  try {
    await writeFile(keyPath, pair.key, { flag: 'wx', mode: 0o600 })
  } catch (err) {
    await unlink(certPath).catch(() => {})
    throw err
  }
  io.stdout.write(`==> Saved ${display(certPath, io.cwd)}\n`)
  io.stdout.write(`==> Saved ${display(keyPath, io.cwd)}\n`)
}

function parseDays(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const days = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(days) || days <= 0) {
    throw new UsageError(`--days must be a positive integer, got "${value}"`)
  }
  return days
}

function parseKeyType(value: string | undefined): KeyType | undefined {
  if (value === undefined || value === 'ecdsa' || value === 'rsa') return value
  throw new UsageError(`--key-type must be ecdsa or rsa, got "${value}"`)
}

function cleanList(values: readonly string[]): string[] {
  return values.map((v) => v.trim()).filter((v) => v.length > 0)
}

async function run(argv: string[], io: CliIo): Promise<number> {
  const { flags, positionals, help, given } = parseArgs(argv, certCreateFlags)
  if (help) {
    io.stdout.write(USAGE)
    return 0
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`)

  const node = flags.node ?? ''
  if (node !== '' && !flags.server) {
    throw new UsageError('--node requires --server (Consul: -node requires -server)')
  }
  if (flags.ca && (flags.server || flags.client)) {
    throw new UsageError('--ca cannot be combined with --server or --client')
  }
  if (!flags.ca && flags.server === flags.client) {
    throw new UsageError('give exactly one of --server or --client (or --ca to create a CA)')
  }
  if (flags.ca) {
    for (const name of ['dc', 'additional-dnsname', 'additional-ipaddress'] as const) {
      if (given.has(name)) {
        throw new UsageError(`--${name} applies to --server and --client certificates, not --ca`)
      }
    }
  }

  const days = parseDays(flags.days)
  const keyType = parseKeyType(flags['key-type'])
  const dc = checkDnsLabel(flags.dc ?? 'dc1', '--dc')
  const domain = checkDnsName(flags.domain ?? 'consul', '--domain')
  if (node !== '') checkDnsLabel(node, '--node')
  const dnsNames = cleanList(flags['additional-dnsname']).map((name) =>
    checkDnsName(name, '--additional-dnsname', true),
  )
  const ips = cleanList(flags['additional-ipaddress']).map((ip) =>
    checkIp(ip, '--additional-ipaddress'),
  )

  const dir = resolve(io.cwd, flags.dir ?? '.')
  const caFile =
    flags['ca-file'] === undefined
      ? join(dir, `${domain}-agent-ca.pem`)
      : resolve(io.cwd, flags['ca-file'])
  const keyFile =
    flags['key-file'] === undefined
      ? join(dir, `${domain}-agent-ca-key.pem`)
      : resolve(io.cwd, flags['key-file'])

  if (flags.ca) {
    for (const path of [caFile, keyFile]) {
      if (await exists(path)) {
        throw new CommandError(
          `${path} already exists; refusing to overwrite it (nothing was written)`,
        )
      }
    }
    const ca = await createCertificateAuthority({ days, keyType })
    await writePair(ca, caFile, keyFile, io)
    return 0
  }

  const prefix = `${dc}-${flags.server ? 'server' : 'client'}-${domain}`
  let certPath: string | undefined
  let keyPath: string | undefined
  for (let i = 0; i <= MAX_INDEX && certPath === undefined; i++) {
    const c = join(dir, `${prefix}-${i}.pem`)
    const k = join(dir, `${prefix}-${i}-key.pem`)
    if (!(await exists(c)) && !(await exists(k))) {
      certPath = c
      keyPath = k
    }
  }
  if (certPath === undefined || keyPath === undefined) {
    throw new CommandError(
      `could not find a file name that does not already exist (${prefix}-N.pem)`,
    )
  }

  const caPem = {
    cert: await readPem(caFile, 'CA certificate'),
    key: await readPem(keyFile, 'CA key'),
  }
  let ca: CertificateKeyPair
  try {
    ca = await loadCertificateAuthority(caPem)
  } catch (err) {
    if (!(err instanceof CertificateError)) throw err
    throw new CertificateError(`${err.message} (${caFile}, ${keyFile})`, { cause: err })
  }
  const common = {
    datacenter: dc,
    domain,
    additionalDnsNames: dnsNames,
    additionalIps: ips,
    days,
    keyType,
  }
  const pair = flags.server
    ? await createServerCertificate(ca, { ...common, node })
    : await createClientCertificate(ca, common)

  if (flags.server) io.stdout.write(SERVER_WARNING)
  io.stdout.write(`==> Using ${display(caFile, io.cwd)} and ${display(keyFile, io.cwd)}\n`)
  await writePair(pair, certPath, keyPath, io)
  return 0
}

export const certCreateCommand: Command = {
  summary: 'Create a CA, or a server or client certificate signed by it',
  usage: USAGE,
  run,
}
