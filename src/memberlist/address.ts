import { isIPv4, isIPv6 } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'

/**
 * IP addresses as memberlist carries them: 4 or 16 raw bytes in `Addr`, printed as Go's
 * `net.IP.String` prints them (an IPv4-mapped IPv6 address prints as IPv4).
 */

/** @throws {InvalidArgumentError} not an IP literal */
export function ipToBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  if (!isIPv6(ip)) throw new InvalidArgumentError(`not an IP address: ${JSON.stringify(ip)}`)
  let text = ip.replace(/%.*$/, '')
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes the two hex groups it stands for.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4 !== null) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const parse = (s: string): number[] =>
    s === '' ? [] : s.split(':').map((x) => Number.parseInt(x, 16))
  const h = parse(head)
  const r = rest === undefined ? [] : parse(rest)
  const groups =
    rest === undefined
      ? h
      : [...h, ...new Array(Math.max(0, 8 - h.length - r.length)).fill(0), ...r]
  const out = Buffer.alloc(16)
  for (const [i, g] of groups.entries()) out.writeUInt16BE(g & 0xffff, i * 2)
  return out
}

/** Go's `net.IP(b).String()`; '' for bytes that are not an IP. */
export function bytesToIp(b: Uint8Array | undefined): string {
  if (b === undefined) return ''
  if (b.length === 4) return Array.from(b).join('.')
  if (b.length !== 16) return ''
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff
  if (mapped) return Array.from(b.subarray(12)).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2)
    groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16))
  // Longest run of two or more zero groups becomes '::', as Go and RFC 5952 do.
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i >= 2) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

/** Go's `net.JoinHostPort`. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Go's `net.SplitHostPort`, loosely: the host of `host:port` or `[v6]:port`. */
export function splitHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]*):(\d+)$/.exec(addr)
  if (m === null) return undefined
  const port = Number(m[2])
  if (port > 65_535) return undefined
  return { host: m[1] as string, port }
}

/** memberlist's `ensurePort`: adds `port` when `s` carries none. */
export function ensurePort(s: string, port: number): string {
  if (s.startsWith('[')) {
    if (s.lastIndexOf(':') > s.lastIndexOf(']')) return s
    return joinHostPort(s.slice(1, -1), port)
  }
  if ((s.match(/:/g) ?? []).length === 1) return s
  return joinHostPort(s, port)
}
