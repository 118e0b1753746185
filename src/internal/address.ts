import { isIP } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'

export interface HostPort {
  host: string
  port: number
}

/**
 * Parses `host:port` or `[v6]:port`. A bare IPv6 literal is ambiguous, so IPv6 must be bracketed,
 * as Go's `net.JoinHostPort` writes it.
 */
export function parseHostPort(value: string, what = 'address'): HostPort {
  if (typeof value !== 'string') throw bad(String(value), what)
  let host: string
  let portText: string
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    if (end < 0 || value[end + 1] !== ':') throw bad(value, what)
    host = value.slice(1, end)
    portText = value.slice(end + 2)
    if (isIP(host) !== 6) throw bad(value, what)
  } else {
    const colon = value.lastIndexOf(':')
    if (colon <= 0) throw bad(value, what)
    host = value.slice(0, colon)
    portText = value.slice(colon + 1)
    if (host.includes(':')) throw bad(value, what)
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad(value, what)
  const port = Number(portText)
  if (port < 0 || port > 65535) throw bad(value, what)
  return { host, port }
}

/** Joins host and port, bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

function bad(value: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `invalid ${what} ${JSON.stringify(value)}: expected host:port (IPv6 in brackets)`,
  )
}
