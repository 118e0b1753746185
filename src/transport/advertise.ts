import { isIP } from 'node:net'
import type { NetworkInterfaceInfo } from 'node:os'
import { InvalidArgumentError } from '../errors.ts'

export type NetworkInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>

/**
 * The blocks go-sockaddr's `GetPrivateIP` (which memberlist uses) counts as private: RFC 1918 plus
 * RFC 6598 shared address space, which carrier-grade NAT and some cloud networks hand out.
 */
const PRIVATE_V4: ReadonlyArray<readonly [number, number]> = [
  [0x0a000000, 8], // 10.0.0.0/8
  [0x64400000, 10], // 100.64.0.0/10
  [0xac100000, 12], // 172.16.0.0/12
  [0xc0a80000, 16], // 192.168.0.0/16
]

function v4ToInt(ip: string): number {
  let n = 0
  for (const part of ip.split('.')) n = n * 256 + Number(part)
  return n
}

/** True for an IPv4 address in a private block (see {@link PRIVATE_V4}). */
export function isPrivateIPv4(ip: string): boolean {
  if (isIP(ip) !== 4) return false
  const n = v4ToInt(ip)
  return PRIVATE_V4.some(
    ([base, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits)),
  )
}

/**
 * The first private IPv4 address on a non-internal interface, in the order the OS lists them, or
 * undefined. memberlist's fallback when bound to the unspecified address and no IP is configured.
 */
export function pickPrivateIPv4(interfaces: NetworkInterfaces): string | undefined {
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.family === 'IPv4' && !info.internal && isPrivateIPv4(info.address))
        return info.address
    }
  }
  return undefined
}

/** True for `0.0.0.0` and `::`, the addresses that mean "every interface". */
export function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || (isIP(ip) === 6 && /^[0:]+$/.test(ip))
}

/**
 * Checks a configured advertise IP and normalises an IPv4-mapped IPv6 address to plain IPv4, as Go's
 * `net.IP.To4` does in memberlist.
 * @throws {InvalidArgumentError} not an IP literal
 */
export function normaliseAdvertiseIp(ip: string): string {
  const family = isIP(ip)
  if (family === 0)
    throw new InvalidArgumentError(`advertise ip ${JSON.stringify(ip)} is not a valid IP address`)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  return mapped?.[1] ?? ip
}

/** @throws {InvalidArgumentError} not an integer within 0..65535 */
export function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(
      `${what} must be an integer within 0..65535, got ${String(port)}`,
    )
  }
}
