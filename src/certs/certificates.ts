import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  X509Certificate as NodeX509Certificate,
  webcrypto,
} from 'node:crypto'
import { CertificateError, InvalidArgumentError } from '../errors.ts'
import { normalizeDomain } from '../names.ts'
import { checkDnsLabel, checkDnsName, checkIp, checkPositiveInteger } from './names.ts'
import { loadX509 } from './x509.ts'

export { normalizeDomain }

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

/** `'ecdsa'`: ECDSA on P-256 signed with SHA-256 (Consul's choice). `'rsa'`: RSA 2048, PKCS#1 v1.5 with SHA-256. */
export type KeyType = 'ecdsa' | 'rsa'

/**
 * A certificate and its private key, both PEM: `cert` is one `CERTIFICATE` block, `key` a PKCS#8
 * `PRIVATE KEY` block. Both end with a newline and can be passed as they are to `node:tls` as
 * `cert` / `key` (or `cert` as `ca` for a CA).
 */
export interface CertificateKeyPair {
  readonly cert: string
  readonly key: string
}

/** A CA: its self-signed certificate and its private key, PEM (see {@link CertificateKeyPair}). */
export interface CertificateAuthority extends CertificateKeyPair {}

/**
 * When a certificate is valid. `notBefore` defaults to one minute ago (a little slack for clocks
 * that run behind); `notAfter` defaults to `days` days after `notBefore` or, without `notBefore`,
 * after now. Give `days` or `notAfter`, not both. Dates in the past are allowed, so expired
 * certificates can be made for tests.
 */
export interface ValidityOptions {
  /** Days of validity, a positive integer. Default: 1825 for a CA, 365 for a leaf (Consul's). */
  days?: number | undefined
  notBefore?: Date | undefined
  notAfter?: Date | undefined
}

export interface CertificateAuthorityOptions extends ValidityOptions {
  /** Subject CN. Default `Consul Agent CA <serial number in decimal>`, as Consul names its agent CA. */
  commonName?: string | undefined
  /** Default `'ecdsa'`. */
  keyType?: KeyType | undefined
}

export interface LeafCertificateOptions extends ValidityOptions {
  /** Datacenter, a DNS label. Default `'dc1'`. */
  datacenter?: string | undefined
  /** DNS domain. Default `'consul'`; one trailing dot is removed (`'consul.'` means `'consul'`). */
  domain?: string | undefined
  /** Extra DNS SANs, listed first as Consul lists them. A leading `*.` wildcard is allowed. */
  additionalDnsNames?: readonly string[] | undefined
  /** Extra IP SANs (IPv4 or IPv6, e.g. `'::1'`), listed before `127.0.0.1` as Consul lists them. */
  additionalIps?: readonly string[] | undefined
  /** Default `'ecdsa'`. */
  keyType?: KeyType | undefined
}

export interface ServerCertificateOptions extends LeafCertificateOptions {
  /**
   * The server's short node name (a DNS label: no dots, no `/`). Adds the SAN
   * `<node>.server.<datacenter>.<domain>` that per-node SNI routing needs (Consul's
   * `tls cert create -node`). `undefined` or `''` adds none.
   */
  node?: string | undefined
}

export interface ClientCertificateOptions extends LeafCertificateOptions {}

const DAY_MS = 86_400_000
const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59)
const LOCALHOST_IP = '127.0.0.1'

// ----------------------------------------------------------------------------------------------
// Key helpers

interface KeyAlgorithm {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams
  import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams
  sign: webcrypto.Algorithm & { hash?: string }
}

const ECDSA_P256: KeyAlgorithm = {
  generate: { name: 'ECDSA', namedCurve: 'P-256' },
  import: { name: 'ECDSA', namedCurve: 'P-256' },
  sign: { name: 'ECDSA', hash: 'SHA-256' },
}
const RSA_2048: KeyAlgorithm = {
  generate: {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
  import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  sign: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
}

/** Signing algorithms for a CA key loaded from PEM, by Node's curve name. */
const EC_CURVES: Record<string, KeyAlgorithm> = {
  prime256v1: ECDSA_P256,
  secp384r1: {
    generate: { name: 'ECDSA', namedCurve: 'P-384' },
    import: { name: 'ECDSA', namedCurve: 'P-384' },
    sign: { name: 'ECDSA', hash: 'SHA-384' },
  },
  secp521r1: {
    generate: { name: 'ECDSA', namedCurve: 'P-521' },
    import: { name: 'ECDSA', namedCurve: 'P-521' },
    sign: { name: 'ECDSA', hash: 'SHA-512' },
  },
}

function keyAlgorithm(keyType: unknown): KeyAlgorithm {
  if (keyType === undefined || keyType === 'ecdsa') return ECDSA_P256
  if (keyType === 'rsa') return RSA_2048
  throw new InvalidArgumentError(
    `keyType must be 'ecdsa' or 'rsa', got ${typeof keyType === 'string' ? JSON.stringify(keyType) : String(keyType)}`,
  )
}

function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64')
  const lines = b64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

async function generateKeys(alg: KeyAlgorithm): Promise<{ keys: CryptoKeyPair; pem: string }> {
  const keys = (await webcrypto.subtle.generateKey(alg.generate, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { keys, pem: toPem(pkcs8, 'PRIVATE KEY') }
}

function randomSerialHex(): string {
  // 16 random bytes, top bit clear (a positive INTEGER) and second bit set (no leading zero octet).
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40
  return Buffer.from(bytes).toString('hex')
}

// ----------------------------------------------------------------------------------------------
// Option checks

function checkOptions(options: unknown, what: string): Record<string, unknown> {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError(`${what} options must be an object`)
  }
  return options as Record<string, unknown>
}

function checkDate(value: unknown, field: string): Date | undefined {
  if (value === undefined) return undefined
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidArgumentError(`${field} must be a valid Date`)
  }
  if (value.getTime() > MAX_DATE || value.getTime() < Date.UTC(1950, 0, 1)) {
    throw new InvalidArgumentError(`${field} must be between the years 1950 and 9999`)
  }
  return value
}

function validity(
  options: ValidityOptions,
  defaultDays: number,
): { notBefore: Date; notAfter: Date } {
  const days = options.days === undefined ? undefined : checkPositiveInteger(options.days, 'days')
  const givenBefore = checkDate(options.notBefore, 'notBefore')
  const givenAfter = checkDate(options.notAfter, 'notAfter')
  if (days !== undefined && givenAfter !== undefined) {
    throw new InvalidArgumentError('give either days or notAfter, not both')
  }
  const now = Date.now()
  const notBefore = givenBefore ?? new Date(now - 60_000)
  const start = givenBefore?.getTime() ?? now
  const notAfter = givenAfter ?? new Date(start + (days ?? defaultDays) * DAY_MS)
  if (notAfter.getTime() > MAX_DATE) {
    throw new InvalidArgumentError(
      `days is too large: the certificate would end after the year 9999`,
    )
  }
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new InvalidArgumentError('notAfter must be later than notBefore')
  }
  return { notBefore, notAfter }
}

function checkList(value: unknown, field: string, check: (v: unknown, f: string) => string) {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw new InvalidArgumentError(`${field} must be an array of strings`)
  return value.map((v, i) => check(v, `${field}[${i}]`))
}

// ----------------------------------------------------------------------------------------------
// Loading a CA

interface LoadedCa {
  readonly cert: string
  readonly key: string
  readonly signingKey: CryptoKey
  readonly signAlgorithm: KeyAlgorithm['sign']
  /** DER of the CA's subject, used verbatim as the leaves' issuer. */
  readonly subject: ArrayBuffer
  /** The CA's subject key identifier (hex), if it has one: leaves name it as their authority key id. */
  readonly keyId: string | undefined
}

const loadedCas = new WeakMap<object, LoadedCa>()

async function loadCa(ca: unknown): Promise<LoadedCa> {
  if (typeof ca !== 'object' || ca === null) {
    throw new InvalidArgumentError('ca must be an object with PEM strings cert and key')
  }
  const { cert, key } = ca as Record<string, unknown>
  if (typeof cert !== 'string' || typeof key !== 'string') {
    throw new InvalidArgumentError('ca must be an object with PEM strings cert and key')
  }
  const cached = loadedCas.get(ca)
  if (cached !== undefined && cached.cert === cert && cached.key === key) return cached

  let nodeCert: NodeX509Certificate
  try {
    nodeCert = new NodeX509Certificate(cert)
  } catch (err) {
    throw new CertificateError('the CA certificate is not a PEM X.509 certificate', { cause: err })
  }
  if (!nodeCert.ca) {
    throw new CertificateError(
      `the CA certificate (${nodeCert.subject.replaceAll('\n', ', ')}) is not a CA: basicConstraints CA:TRUE is missing`,
    )
  }
  // Everything it signs would fail verification at once: say so now rather than at the handshake.
  if (Date.parse(nodeCert.validTo) < Date.now()) {
    throw new CertificateError(`the CA certificate expired on ${nodeCert.validTo}; create a new CA`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new CertificateError('the CA key is not a PEM private key', { cause: err })
  }
  const keySpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' })
  const certSpki = nodeCert.publicKey.export({ type: 'spki', format: 'der' })
  if (!keySpki.equals(certSpki)) {
    throw new CertificateError('the CA key does not match the CA certificate')
  }
  let alg: KeyAlgorithm | undefined
  if (privateKey.asymmetricKeyType === 'rsa') alg = RSA_2048
  else if (privateKey.asymmetricKeyType === 'ec') {
    alg = EC_CURVES[privateKey.asymmetricKeyDetails?.namedCurve ?? '']
  }
  if (alg === undefined) {
    const detail = privateKey.asymmetricKeyDetails?.namedCurve ?? ''
    throw new CertificateError(
      `unsupported CA key type ${privateKey.asymmetricKeyType ?? 'unknown'} ${detail}`.trim() +
        ' (supported: RSA, ECDSA P-256, P-384, P-521)',
    )
  }
  const signingKey = await webcrypto.subtle.importKey(
    'pkcs8',
    privateKey.export({ type: 'pkcs8', format: 'der' }),
    alg.import,
    false,
    ['sign'],
  )
  const x509 = await loadX509()
  const parsed = new x509.X509Certificate(nodeCert.raw)
  const ski = parsed.getExtension(x509.SubjectKeyIdentifierExtension)
  const loaded: LoadedCa = {
    cert,
    key,
    signingKey,
    signAlgorithm: alg.sign,
    subject: parsed.subjectName.toArrayBuffer(),
    keyId: ski?.keyId,
  }
  loadedCas.set(ca, loaded)
  return loaded
}

/**
 * Checks and loads a CA from PEM: the certificate must parse and be a CA (`CA:TRUE`), the key
 * (PKCS#8, PKCS#1 or SEC 1 `EC PRIVATE KEY` as Consul writes it) must parse and match the
 * certificate. The result can sign many leaves without parsing the PEM again.
 *
 * @throws {CertificateError} when the certificate or key does not parse, or they do not match.
 */
export async function loadCertificateAuthority(
  pem: CertificateKeyPair,
): Promise<CertificateAuthority> {
  const ca: CertificateAuthority = { cert: pem.cert, key: pem.key }
  await loadCa(ca)
  return ca
}

// ----------------------------------------------------------------------------------------------
// Creating certificates

/**
 * Creates a self-signed CA: `CA:TRUE` (critical), key usage keyCertSign + cRLSign +
 * digitalSignature (critical), a subject key identifier, a random positive 128-bit serial.
 * Defaults: ECDSA P-256, 1825 days, CN `Consul Agent CA <serial>`.
 *
 * @throws {InvalidArgumentError} for a bad option; the message names it.
 */
export async function createCertificateAuthority(
  options?: CertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  const opts = checkOptions(options, 'createCertificateAuthority') as CertificateAuthorityOptions
  const alg = keyAlgorithm(opts.keyType)
  const { notBefore, notAfter } = validity(opts, 1825)
  const serial = randomSerialHex()
  const commonName = opts.commonName ?? `Consul Agent CA ${BigInt(`0x${serial}`)}`
  if (typeof commonName !== 'string' || commonName.length === 0 || commonName.length > 64) {
    throw new InvalidArgumentError('commonName must be a string of 1 to 64 characters')
  }
  const x509 = await loadX509()
  const { keys, pem } = await generateKeys(alg)
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial,
      name: [{ CN: [commonName] }],
      keys: keys,
      notBefore,
      notAfter,
      signingAlgorithm: alg.sign,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign |
            x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  )
  const ca: CertificateAuthority = { cert: certPem(cert.toString('pem')), key: pem }
  return ca
}

function certPem(pem: string): string {
  return `${pem.replaceAll('\r\n', '\n').trim()}\n`
}

interface LeafPlan {
  commonName: string
  dnsNames: string[]
  ips: string[]
  serverAuthFirst: boolean
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)]
}

async function createLeaf(
  ca: CertificateKeyPair,
  opts: LeafCertificateOptions,
  plan: LeafPlan,
): Promise<CertificateKeyPair> {
  const alg = keyAlgorithm(opts.keyType)
  const { notBefore, notAfter } = validity(opts, 365)
  const loaded = await loadCa(ca)
  const x509 = await loadX509()
  const { keys, pem } = await generateKeys(alg)

  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension(
      plan.serverAuthFirst
        ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
        : [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
      false,
    ),
    new x509.SubjectAlternativeNameExtension(
      [
        ...plan.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...plan.ips.map((value) => ({ type: 'ip' as const, value })),
      ],
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
  ]
  if (loaded.keyId !== undefined) {
    extensions.push(new x509.AuthorityKeyIdentifierExtension(loaded.keyId, false))
  }
  let cert: InstanceType<typeof x509.X509Certificate>
  try {
    cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerialHex(),
        subject: [{ CN: [plan.commonName] }],
        issuer: new x509.Name(loaded.subject),
        publicKey: keys.publicKey,
        signingKey: loaded.signingKey,
        signingAlgorithm: loaded.signAlgorithm,
        notBefore,
        notAfter,
        extensions,
      },
      webcrypto,
    )
  } catch (err) {
    throw new CertificateError(`signing the certificate for ${plan.commonName} failed`, {
      cause: err,
    })
  }
  return { cert: certPem(cert.toString('pem')), key: pem }
}

/**
 * Creates a server certificate signed by `ca`, as `consul tls cert create -server [-node]` does:
 * CN `server.<dc>.<domain>`; DNS SANs in Consul's order: `additionalDnsNames`, then
 * `<node>.server.<dc>.<domain>` (only with `node`), `server.<dc>.<domain>`, `localhost`; IP SANs
 * `additionalIps` then `127.0.0.1` (repeated names are listed once); extended key usage serverAuth +
 * clientAuth; key usage digitalSignature + keyEncipherment; 365 days by default.
 *
 * @throws {InvalidArgumentError} for a bad option (the message names it).
 * @throws {CertificateError} when the CA's certificate or key does not parse or they do not match.
 */
export async function createServerCertificate(
  ca: CertificateKeyPair,
  options?: ServerCertificateOptions,
): Promise<CertificateKeyPair> {
  const opts = checkOptions(options, 'createServerCertificate') as ServerCertificateOptions
  const dc = checkDnsLabel(opts.datacenter ?? 'dc1', 'datacenter')
  const domain = normalizeDomain(opts.domain, { rule: 'hostname' })
  const node =
    opts.node === undefined || opts.node === '' ? undefined : checkDnsLabel(opts.node, 'node')
  const extraDns = checkList(opts.additionalDnsNames, 'additionalDnsNames', (v, f) =>
    checkDnsName(v, f, true),
  )
  const extraIps = checkList(opts.additionalIps, 'additionalIps', checkIp)
  const name = `server.${dc}.${domain}`
  return createLeaf(ca, opts, {
    commonName: name,
    dnsNames: dedupe([
      ...extraDns,
      ...(node === undefined ? [] : [`${node}.${name}`]),
      name,
      'localhost',
    ]),
    ips: dedupe([...extraIps, LOCALHOST_IP]),
    serverAuthFirst: true,
  })
}

/**
 * Creates a client certificate signed by `ca`, as `consul tls cert create -client` does: CN
 * `client.<dc>.<domain>`; DNS SANs `additionalDnsNames`, `client.<dc>.<domain>`, `localhost`; IP
 * SANs `additionalIps` then `127.0.0.1`; extended key usage clientAuth + serverAuth (Consul's
 * client certificates carry both); 365 days by default.
 *
 * @throws {InvalidArgumentError} for a bad option (the message names it).
 * @throws {CertificateError} when the CA's certificate or key does not parse or they do not match.
 */
export async function createClientCertificate(
  ca: CertificateKeyPair,
  options?: ClientCertificateOptions,
): Promise<CertificateKeyPair> {
  const opts = checkOptions(options, 'createClientCertificate') as ClientCertificateOptions
  if ('node' in opts && (opts as ServerCertificateOptions).node !== undefined) {
    throw new InvalidArgumentError(
      'node requires a server certificate (Consul: -node requires -server)',
    )
  }
  const dc = checkDnsLabel(opts.datacenter ?? 'dc1', 'datacenter')
  const domain = normalizeDomain(opts.domain, { rule: 'hostname' })
  const extraDns = checkList(opts.additionalDnsNames, 'additionalDnsNames', (v, f) =>
    checkDnsName(v, f, true),
  )
  const extraIps = checkList(opts.additionalIps, 'additionalIps', checkIp)
  const name = `client.${dc}.${domain}`
  return createLeaf(ca, opts, {
    commonName: name,
    dnsNames: dedupe([...extraDns, name, 'localhost']),
    ips: dedupe([...extraIps, LOCALHOST_IP]),
    serverAuthFirst: false,
  })
}
