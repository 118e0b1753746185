import { createSecureContext, type SecureContext, type SecureVersion } from 'node:tls'
import { CertificateError } from '../errors.ts'

/** PEM text, as a string or its bytes. */
export type Pem = string | Buffer

/**
 * The credentials of a node: mutual TLS is always on, so every node holds a certificate signed by
 * the federation's CA and trusts that CA for its peers.
 */
export interface TlsCredentials {
  /** The CA (or CAs) that signed every peer's certificate. */
  ca: Pem | Pem[]
  /** This node's certificate (PEM). Servers need `<node>.server.<dc>.<domain>` among its SANs. */
  cert: Pem
  /** This node's private key (PEM). */
  key: Pem
  /** Lowest TLS version accepted. Default `'TLSv1.2'`, Consul's agent default. */
  minVersion?: SecureVersion
  /** OpenSSL cipher list, when the default is not wanted. */
  ciphers?: string
}

/** @internal */
export function secureContextOptions(creds: TlsCredentials) {
  return {
    ca: creds.ca,
    cert: creds.cert,
    key: creds.key,
    minVersion: creds.minVersion ?? ('TLSv1.2' as SecureVersion),
    ...(creds.ciphers === undefined ? {} : { ciphers: creds.ciphers }),
  }
}

const contexts = new WeakMap<TlsCredentials, SecureContext>()

/**
 * One client `SecureContext` per credentials object, shared by every dial that uses it. Building a
 * context parses the CA, certificate and key each time; per connection that cost ~30 KiB of RSS and
 * doubled the time to open a thousand pooled connections. Credentials are read once per object:
 * to rotate certificates, pass a new object.
 *
 * @throws {CertificateError} the CA, certificate or key cannot be loaded
 * @internal
 */
export function clientSecureContext(creds: TlsCredentials): SecureContext {
  let ctx = contexts.get(creds)
  if (ctx === undefined) {
    try {
      ctx = createSecureContext(secureContextOptions(creds))
    } catch (err) {
      throw new CertificateError(`cannot load TLS credentials: ${(err as Error).message}`, {
        cause: err,
      })
    }
    contexts.set(creds, ctx)
  }
  return ctx
}
