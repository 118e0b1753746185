import { checkNumber } from '../internal/validate.ts'
/**
 * Validation of the names that go into certificates: datacenters, domains, node names, extra DNS
 * names and IP addresses. Every failure is an {@link InvalidArgumentError} naming the field.
 *
 * Internal: not exported from the package.
 * @packageDocumentation
 */

import { isIP } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'
import { isDnsLabel, isDnsName, stripTrailingDot } from '../names.ts'

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** Throws unless `value` is a single DNS label (no dots, slashes, spaces or underscores). */
export function checkDnsLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isDnsLabel(value, 'hostname')) {
    throw new InvalidArgumentError(
      `${field} must be a DNS label (1-63 letters, digits or hyphens, not starting or ending with a hyphen, no dots), got ${show(value)}`,
    )
  }
  return value
}

/**
 * Throws unless `value` is a DNS name (dot-separated labels, at most 253 characters). One
 * trailing dot is accepted and removed; with `wildcard`, a leading `*.` is accepted.
 */
export function checkDnsName(value: unknown, field: string, wildcard = false): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`${field} must be a DNS name, got ${show(value)}`)
  }
  const name = stripTrailingDot(value)
  if (!isDnsName(name, 'hostname', wildcard)) {
    throw new InvalidArgumentError(
      `${field} must be a DNS name (dot-separated labels of letters, digits and hyphens), got ${show(value)}`,
    )
  }
  return name
}

/** Throws unless `value` is an IPv4 or IPv6 address in text form. */
export function checkIp(value: unknown, field: string): string {
  if (typeof value !== 'string' || isIP(value) === 0 || value.includes('%')) {
    throw new InvalidArgumentError(
      `${field} must be an IPv4 or IPv6 address (no zone id), got ${show(value)}`,
    )
  }
  return isIP(value) === 6 ? canonicalIpv6(value) : value
}

/**
 * Eight hex groups, no `::` and no dotted tail: the X.509 library mis-encodes an IPv6 address with
 * an embedded IPv4 part (`::ffff:10.1.2.3` came out as `::ffff:10`), so it only ever sees this form.
 */
function canonicalIpv6(ip: string): string {
  let text = ip
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0')
  return [...left, ...fill, ...right].map((g) => Number.parseInt(g, 16).toString(16)).join(':')
}

/** Throws unless `value` is a positive safe integer. */
export function checkPositiveInteger(value: unknown, field: string): number {
  return checkNumber(value, field, { integer: true, positive: true })
}
