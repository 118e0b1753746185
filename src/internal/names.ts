/**
 * One DNS label as node and datacenter names use it in SNI names and routes: 1-63 letters, digits,
 * hyphens or underscores, no hyphen at either end. Underscores are tolerated because node names in
 * the wild carry them and Consul does not refuse them either. (Certificates are stricter: their SANs
 * are DNS host names.)
 */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/

/** True when `value` is one label of an SNI server name. */
export function isSniLabel(value: string): boolean {
  return LABEL.test(value)
}

/** A Consul domain as SNI names use it: one trailing dot stripped (`consul.` is `consul`). */
export function stripTrailingDot(domain: string): string {
  return domain.endsWith('.') ? domain.slice(0, -1) : domain
}
