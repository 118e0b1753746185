/**
 * Validation of the names that go into certificates: datacenters, domains, node names, extra DNS
 * names and IP addresses. Every failure is an {@link InvalidArgumentError} naming the field.
 *
 * Internal: not exported from the package.
 * @packageDocumentation
 */

import { isIP } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}

/** True when `value` is one DNS label: 1-63 letters, digits or hyphens, no hyphen at either end. */
export function isDnsLabel(value: string): boolean {
  return LABEL.test(value)
}

/** Throws unless `value` is a single DNS label (no dots, slashes, spaces or underscores). */
export function checkDnsLabel(value: unknown, field: string): string {
  if (typeof value !== 'string' || !LABEL.test(value)) {
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
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  const labels = name.split('.')
  const rest = wildcard && labels[0] === '*' && labels.length > 1 ? labels.slice(1) : labels
  if (name.length === 0 || name.length > 253 || !rest.every(isDnsLabel)) {
    throw new InvalidArgumentError(
      `${field} must be a DNS name (dot-separated labels of letters, digits and hyphens), got ${show(value)}`,
    )
  }
  return name
}

/** Throws unless `value` is an IPv4 or IPv6 address in text form. */
export function checkIp(value: unknown, field: string): string {
  if (typeof value !== 'string' || isIP(value) === 0) {
    throw new InvalidArgumentError(`${field} must be an IPv4 or IPv6 address, got ${show(value)}`)
  }
  return value
}

/** Throws unless `value` is a positive safe integer. */
export function checkPositiveInteger(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`${field} must be a positive integer, got ${show(value)}`)
  }
  return value
}
