import { isIP } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'

export interface HostPort {
  host: string
  port: number
}

/** The largest TCP/UDP port. */
export const MAX_PORT = 65_535

/**
 * The one `host:port` rule, without judging the port's range: `host:port` or `[v6]:port`, the port
 * one to five decimal digits (so 0 and 65536-99999 come back for the caller to refuse with its own
 * words). A bare IPv6 literal is ambiguous, so IPv6 must be bracketed, as Go's `net.JoinHostPort`
 * writes it. Undefined when the shape is wrong.
 */
export function splitHostPort(value: string): HostPort | undefined {
  if (typeof value !== 'string') return undefined
  let host: string
  let portText: string
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    if (end < 0 || value[end + 1] !== ':') return undefined
    host = value.slice(1, end)
    portText = value.slice(end + 2)
    if (isIP(host) !== 6) return undefined
  } else {
    const colon = value.lastIndexOf(':')
    if (colon <= 0) return undefined
    host = value.slice(0, colon)
    portText = value.slice(colon + 1)
    if (host.includes(':')) return undefined
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined
  return { host, port: Number(portText) }
}

/**
 * Parses `host:port` or `[v6]:port` with a port in 0..65535 ({@link splitHostPort}).
 * @throws {InvalidArgumentError} naming `what`.
 */
export function parseHostPort(value: string, what = 'address'): HostPort {
  const parsed = splitHostPort(value)
  if (parsed === undefined || parsed.port > MAX_PORT) {
    throw new InvalidArgumentError(
      `invalid ${what} ${JSON.stringify(typeof value === 'string' ? value : String(value))}: expected host:port (IPv6 in brackets)`,
    )
  }
  return parsed
}

/** Joins host and port, bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}
