import { createHash, X509Certificate } from 'node:crypto'
import { createSecureContext, type SecureContext, type SecureVersion } from 'node:tls'
import { CertificateError, InvalidArgumentError } from '../errors.ts'

/** PEM text, as a string or its bytes. */
export type Pem = string | Buffer

/**
 * The credentials of a node: mutual TLS is always on, so every node holds a certificate signed by
 * the federation's CA and trusts that CA for its peers.
 *
 * All three PEM fields are required and checked when a server, dialer or transport is built: a
 * missing or empty `ca` would otherwise make Node fall back to its default trust store (every
 * publicly trusted CA, plus `NODE_EXTRA_CA_CERTS`), and Node silently ignores a `ca` with no
 * parsable certificate in it.
 */
export interface TlsCredentials {
  /** The CA (or CAs) that signed every peer's certificate, PEM. At least one certificate. */
  ca: Pem | Pem[]
  /** This node's certificate (PEM). Servers need `<node>.server.<dc>.<domain>` among its SANs. */
  cert: Pem
  /** This node's private key (PEM), matching `cert`. */
  key: Pem
  /** Lowest TLS version accepted. Default `'TLSv1.2'`, Consul's agent default. */
  minVersion?: SecureVersion
  /** Highest TLS version offered. Default: Node's (`'TLSv1.3'`). */
  maxVersion?: SecureVersion
  /** OpenSSL cipher list, when the default is not wanted. */
  ciphers?: string
}

const VERSIONS: readonly string[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']
const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

interface Checked {
  options: {
    ca: Pem | Pem[]
    cert: Pem
    key: Pem
    minVersion: SecureVersion
    maxVersion?: SecureVersion
    ciphers?: string
  }
  /** A digest of every field: equal credentials, equal id. Never the key material itself. */
  id: string
  context: SecureContext
}

const checked = new WeakMap<object, Checked>()

function isPem(value: unknown): value is Pem {
  return (typeof value === 'string' || Buffer.isBuffer(value)) && value.length > 0
}

function text(value: Pem): string {
  return typeof value === 'string' ? value : value.toString('latin1')
}

/** Every `BEGIN CERTIFICATE` block of the CA must parse, and there must be at least one. */
function checkCa(ca: Pem | Pem[], what: string): void {
  const pems = Array.isArray(ca) ? ca : [ca]
  if (pems.length === 0) throw new InvalidArgumentError(`${what}: tls.ca is an empty list`)
  let count = 0
  for (const pem of pems) {
    if (!isPem(pem)) {
      throw new InvalidArgumentError(
        `${what}: tls.ca entries must be non-empty PEM strings or Buffers`,
      )
    }
    for (const block of text(pem).match(PEM_CERT) ?? []) {
      try {
        new X509Certificate(block)
      } catch (err) {
        throw new CertificateError(`${what}: tls.ca holds a certificate that does not parse`, {
          cause: err,
        })
      }
      count++
    }
  }
  if (count === 0) throw new CertificateError(`${what}: tls.ca holds no PEM certificate`)
}

/**
 * Checks credentials once per object and builds their `SecureContext`; the result is cached, so a
 * transport that checks at construction pays nothing per dial. Credentials are read once per
 * object: to rotate certificates, pass a new object.
 *
 * @throws {InvalidArgumentError} `ca`, `cert` or `key` is missing, empty or not a string/Buffer,
 *   or `minVersion`/`maxVersion`/`ciphers` is malformed
 * @throws {CertificateError} the CA holds no parsable certificate, or the certificate or key does
 *   not parse, or the key does not match the certificate
 */
function check(creds: unknown, what: string): Checked {
  if (typeof creds !== 'object' || creds === null) {
    throw new InvalidArgumentError(`${what} needs tls credentials (ca, cert, key)`)
  }
  const found = checked.get(creds)
  if (found !== undefined) return found
  const c = creds as Partial<TlsCredentials>
  if (c.ca === undefined || c.ca === null || (!Array.isArray(c.ca) && !isPem(c.ca))) {
    // Without a CA Node would trust its default store: refuse rather than fail open.
    throw new InvalidArgumentError(`${what}: tls.ca (the federation CA, PEM) is required`)
  }
  if (!isPem(c.cert)) throw new InvalidArgumentError(`${what}: tls.cert (PEM) is required`)
  if (!isPem(c.key)) throw new InvalidArgumentError(`${what}: tls.key (PEM) is required`)
  for (const name of ['minVersion', 'maxVersion'] as const) {
    const v = c[name]
    if (v !== undefined && !VERSIONS.includes(v)) {
      throw new InvalidArgumentError(`${what}: tls.${name} must be one of ${VERSIONS.join(', ')}`)
    }
  }
  if (c.ciphers !== undefined && (typeof c.ciphers !== 'string' || c.ciphers === '')) {
    throw new InvalidArgumentError(`${what}: tls.ciphers must be a non-empty string`)
  }
  checkCa(c.ca, what)
  const options = {
    ca: c.ca,
    cert: c.cert,
    key: c.key,
    minVersion: c.minVersion ?? ('TLSv1.2' as SecureVersion),
    ...(c.maxVersion === undefined ? {} : { maxVersion: c.maxVersion }),
    ...(c.ciphers === undefined ? {} : { ciphers: c.ciphers }),
  }
  let context: SecureContext
  try {
    // Parses the certificate and key and checks that they match.
    context = createSecureContext(options)
  } catch (err) {
    throw new CertificateError(`${what}: cannot load TLS credentials: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const hash = createHash('sha256')
  for (const pem of [...(Array.isArray(c.ca) ? c.ca : [c.ca]), c.cert, c.key]) {
    hash.update(text(pem)).update('\0')
  }
  hash.update(`${options.minVersion}\0${c.maxVersion ?? ''}\0${c.ciphers ?? ''}`)
  const result = { options, id: hash.digest('base64url'), context }
  checked.set(creds, result)
  return result
}

/**
 * Validates credentials, for constructors that take them: fails closed on a missing, empty or
 * unparsable `ca`, `cert` or `key` (see {@link check}'s throws).
 *
 * @internal
 */
export function validateTlsCredentials(
  creds: unknown,
  what: string,
): asserts creds is TlsCredentials {
  check(creds, what)
}

/**
 * Options for `tls.createServer` / `setSecureContext`, validated.
 *
 * @internal
 */
export function secureContextOptions(creds: TlsCredentials, what = 'tls credentials') {
  return check(creds, what).options
}

/**
 * One client `SecureContext` per credentials object, shared by every dial that uses it. Building a
 * context parses the CA, certificate and key each time; per connection that cost ~30 KiB of RSS and
 * doubled the time to open a thousand pooled connections.
 *
 * @internal
 */
export function clientSecureContext(
  creds: TlsCredentials,
  what = 'tls credentials',
): SecureContext {
  return check(creds, what).context
}

/**
 * A stable digest of the credentials (CA, certificate, key, versions, ciphers): the scope a
 * resumable TLS session belongs to, so a session verified under one CA never stands in for a
 * verification under another.
 *
 * @internal
 */
export function credentialsId(creds: TlsCredentials): string {
  return check(creds, 'tls credentials').id
}
