import { isIP } from 'node:net'
import { InvalidArgumentError } from '../errors.ts'

/**
 * Open connections per source IP, as Consul's `rpc_max_conns_per_client`: a slot is taken at
 * accept and given back when the connection closes. Addresses in `unlimited` (this DC's mesh
 * gateways, which carry every tunnelled connection) are counted but never refused.
 */
export class IpLimiter {
  readonly #max: number
  readonly #unlimited: ReadonlySet<string>
  readonly #open = new Map<string, number>()

  /**
   * @param max slots per IP; 0 means no limit
   * @param unlimited IPs the limit does not apply to (IPv4 ones also match their `::ffff:` form)
   * @throws {InvalidArgumentError} `unlimited` is not an array of IP addresses
   */
  constructor(max: number, unlimited: readonly string[] = []) {
    if (!Array.isArray(unlimited)) {
      throw new InvalidArgumentError('unlimitedAddresses must be an array of IP addresses')
    }
    for (const ip of unlimited) {
      if (isIP(ip) === 0)
        throw new InvalidArgumentError(
          `unlimitedAddresses: ${JSON.stringify(ip)} is not an IP address`,
        )
    }
    this.#max = max
    this.#unlimited = new Set(unlimited.flatMap((ip) => [ip, `::ffff:${ip}`]))
  }

  /** Takes a slot for `ip`; false (and nothing taken) when it has none left. */
  acquire(ip: string): boolean {
    const current = this.#open.get(ip) ?? 0
    if (this.#max > 0 && current >= this.#max && !this.#unlimited.has(ip)) return false
    this.#open.set(ip, current + 1)
    return true
  }

  /** Gives back a slot taken by {@link acquire}. */
  release(ip: string): void {
    const n = (this.#open.get(ip) ?? 1) - 1
    if (n <= 0) this.#open.delete(ip)
    else this.#open.set(ip, n)
  }

  /** Slots `ip` holds now. */
  count(ip: string): number {
    return this.#open.get(ip) ?? 0
  }
}
