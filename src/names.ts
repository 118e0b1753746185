/** DNS names as wanfed reads them: the one label rule, the one domain form. Public: `wanfed/certs` and `wanfed/alpn` export parts of it. */
import { InvalidArgumentError } from './errors.ts'

/**
 * The one DNS-label rule: 1-63 characters, letters, digits and hyphens, no hyphen at either end
 * (RFC 1123 host names). It comes in two strengths:
 * - `hostname`: exactly that. Certificates use it: their SANs are DNS host names.
 * - `sni`: underscores tolerated as well, for node, datacenter and domain names in SNI names,
 *   routes and the gateway config, because node names in the wild carry them and Consul does not
 *   refuse them either.
 */
export type LabelRule = 'hostname' | 'sni'

function labelPattern(chars: string): RegExp {
  return new RegExp(`^[${chars}](?:[${chars}-]{0,61}[${chars}])?$`)
}

const LABELS: Readonly<Record<LabelRule, RegExp>> = {
  hostname: labelPattern('A-Za-z0-9'),
  sni: labelPattern('A-Za-z0-9_'),
}

/** A DNS name is at most 253 characters without its trailing dot (RFC 1035's 255 octets on the wire). */
export const MAX_DNS_NAME_LENGTH = 253

/** Consul's default domain. */
export const DEFAULT_DOMAIN = 'consul'

/** True when `value` is one DNS label under `rule`. */
export function isDnsLabel(value: string, rule: LabelRule = 'hostname'): boolean {
  return LABELS[rule].test(value)
}

/** True when `value` is one label of an SNI server name (the `sni` rule). */
export function isSniLabel(value: string): boolean {
  return LABELS.sni.test(value)
}

/**
 * True when `name` is a DNS name: dot-separated labels under `rule`, at most 253 characters, no
 * trailing dot. With `wildcard`, a leading `*.` is accepted.
 */
export function isDnsName(name: string, rule: LabelRule = 'hostname', wildcard = false): boolean {
  if (name.length === 0 || name.length > MAX_DNS_NAME_LENGTH) return false
  const labels = name.split('.')
  const rest = wildcard && labels[0] === '*' && labels.length > 1 ? labels.slice(1) : labels
  return rest.every((l) => LABELS[rule].test(l))
}

/** A DNS name as Consul writes it, `consul.`, is the same name as `consul`: one trailing dot goes. */
export function stripTrailingDot(domain: string): string {
  return domain.endsWith('.') ? domain.slice(0, -1) : domain
}

export interface NormalizeDomainOptions {
  /** The label rule the domain must meet. Default `sni`, as gateways and SNI names take it. */
  rule?: LabelRule
  /** How errors name the value. Default `domain`. */
  field?: string
}

/**
 * The one canonical form of a Consul domain, as SNI names, routes and certificates use it: one
 * trailing dot stripped, lowercased (DNS names compare case-insensitively, and the gateway matches
 * SNI names lowercased), `consul` when undefined.
 *
 * @throws {InvalidArgumentError} when it is not a DNS name under `rule` (the message names `field`).
 */
export function normalizeDomain(
  domain: unknown = DEFAULT_DOMAIN,
  options: NormalizeDomainOptions = {},
): string {
  const { rule = 'sni', field = 'domain' } = options
  const name = typeof domain === 'string' ? stripTrailingDot(domain).toLowerCase() : undefined
  if (name === undefined || !isDnsName(name, rule)) {
    const chars =
      rule === 'sni' ? 'letters, digits, hyphens and underscores' : 'letters, digits and hyphens'
    throw new InvalidArgumentError(
      `${field} must be a DNS name (dot-separated labels of ${chars}), got ${typeof domain === 'string' ? JSON.stringify(domain) : String(domain)}`,
    )
  }
  return name
}
