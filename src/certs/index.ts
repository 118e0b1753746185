/**
 * Certificates for WAN federation, made the way `consul tls cert create` makes them: a CA, server
 * certificates carrying the per-node SAN `<node>.server.<dc>.<domain>` that SNI routing through
 * mesh gateways needs, and client certificates. Everything is PEM, ready for `node:tls`.
 *
 * ```ts
 * const ca = await createCertificateAuthority()
 * const bob = await createServerCertificate(ca, { datacenter: 'dc1', node: 'bob' })
 * tls.createServer({ ...bob, ca: ca.cert, requestCert: true, rejectUnauthorized: true })
 * ```
 *
 * @packageDocumentation
 */

export type { LabelRule, NormalizeDomainOptions } from '../names.ts'
export {
  type CertificateAuthority,
  type CertificateAuthorityOptions,
  type CertificateKeyPair,
  type ClientCertificateOptions,
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type KeyType,
  type LeafCertificateOptions,
  loadCertificateAuthority,
  normalizeDomain,
  type ServerCertificateOptions,
  type ValidityOptions,
} from './certificates.ts'
