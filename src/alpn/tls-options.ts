import type { SecureVersion } from 'node:tls'

type Pem = string | Buffer

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
