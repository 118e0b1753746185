import type { Duplex } from 'node:stream'
import { InvalidArgumentError } from '../errors.ts'
import type {
  Address,
  DialOptions,
  Packet,
  TransportCapabilities,
  TransportStats,
  TransportStatus,
} from './types.ts'

/** What a transport wrapped by `WanfedTransport` must have; anything else gets a default. */
const REQUIRED = [
  'writeToAddress',
  'dialAddressTimeout',
  'finalAdvertiseAddr',
  'on',
  'off',
] as const

/** Largest UDP payload over IPv4: memberlist transports are UDP underneath unless they say otherwise. */
const DEFAULT_MAX_PACKET_SIZE = 65_507

/** The parts of a wrapped transport `WanfedTransport` uses, each present. */
export interface WrappedTransport {
  readonly status: TransportStatus
  readonly capabilities: TransportCapabilities
  listen(options?: DialOptions): Promise<void>
  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number }
  writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number>
  dialAddressTimeout(to: Address, timeoutMs: number, options?: DialOptions): Promise<Duplex>
  on(event: 'packet', fn: (p: Packet) => void): unknown
  on(event: 'stream', fn: (s: Duplex) => void): unknown
  on(event: 'error', fn: (e: Error) => void): unknown
  off(event: 'packet' | 'stream' | 'error', fn: (...args: never[]) => void): unknown
  stats(): TransportStats
  close(): Promise<void>
  destroy(err?: Error): void
}

type Loose = Record<string, unknown>

function emptyStats(status: TransportStatus): TransportStats {
  return {
    status,
    packets: { sent: 0, received: 0, dropped: 0, sendDropped: 0, sendErrors: 0 },
    streams: { dialed: 0, dialErrors: 0, accepted: 0, dropped: 0 },
  }
}

/**
 * Takes any memberlist-style transport: one with the whole `Transport` contract is used as it is;
 * one lacking the optional parts (a plain object with the send, dial and advertise methods and an
 * event emitter's `on`/`off`) is adapted: `capabilities` defaults to lossy packets of at most
 * 65,507 bytes (UDP), `status` is tracked here, `listen()` calls its `listen` if any, `close()` its
 * `close` or `shutdown`, `destroy()` its `destroy` or else closes it, `stats()` reports zeros.
 *
 * @throws {InvalidArgumentError} a required method is missing; the message names each one
 * @internal
 */
export function adaptTransport(transport: unknown): WrappedTransport {
  if (typeof transport !== 'object' || transport === null) {
    throw new InvalidArgumentError('WanfedTransport needs the transport to wrap')
  }
  const t = transport as Loose
  const missing = REQUIRED.filter((m) => typeof t[m] !== 'function')
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `the transport to wrap lacks ${missing.join(', ')}: WanfedTransport needs ${REQUIRED.join(', ')}`,
    )
  }
  const caps = t['capabilities'] as Partial<TransportCapabilities> | undefined
  if (caps !== undefined && (typeof caps !== 'object' || caps === null)) {
    throw new InvalidArgumentError('the transport to wrap has capabilities that are not an object')
  }
  const complete =
    caps !== undefined &&
    typeof caps.maxPacketSize === 'number' &&
    typeof t['status'] === 'string' &&
    ['listen', 'close', 'destroy', 'stats'].every((m) => typeof t[m] === 'function')
  if (complete) return transport as WrappedTransport
  return new PartialTransport(t, caps)
}

/** A plain memberlist-shaped object given the parts of the contract it lacks. */
class PartialTransport implements WrappedTransport {
  readonly capabilities: TransportCapabilities
  #status: TransportStatus = 'idle'
  readonly #t: Loose

  constructor(t: Loose, caps: Partial<TransportCapabilities> | undefined) {
    this.#t = t
    const max = caps?.maxPacketSize ?? DEFAULT_MAX_PACKET_SIZE
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidArgumentError(
        `the transport to wrap has capabilities.maxPacketSize ${String(max)}, not a positive integer`,
      )
    }
    this.capabilities = { lossyPackets: caps?.lossyPackets ?? true, maxPacketSize: max }
  }

  get status(): TransportStatus {
    const own = this.#t['status']
    return typeof own === 'string' ? (own as TransportStatus) : this.#status
  }

  async listen(options?: DialOptions): Promise<void> {
    const listen = this.#t['listen']
    if (typeof listen === 'function') await listen.call(this.#t, options)
    this.#status = 'listening'
  }

  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number } {
    return this.#call('finalAdvertiseAddr', ip, port) as { ip: string; port: number }
  }

  writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number> {
    return this.#call('writeToAddress', buf, to, options) as Promise<number>
  }

  dialAddressTimeout(to: Address, timeoutMs: number, options?: DialOptions): Promise<Duplex> {
    return this.#call('dialAddressTimeout', to, timeoutMs, options) as Promise<Duplex>
  }

  on(event: string, fn: (...args: never[]) => void): unknown {
    return this.#call('on', event, fn)
  }

  off(event: string, fn: (...args: never[]) => void): unknown {
    return this.#call('off', event, fn)
  }

  stats(): TransportStats {
    const stats = this.#t['stats']
    return typeof stats === 'function'
      ? (stats.call(this.#t) as TransportStats)
      : emptyStats(this.status)
  }

  async close(): Promise<void> {
    if (this.#status === 'closed') return
    this.#status = 'closing'
    try {
      const close = this.#t['close'] ?? this.#t['shutdown']
      if (typeof close === 'function') await close.call(this.#t)
    } finally {
      this.#status = 'closed'
    }
  }

  destroy(err?: Error): void {
    const destroy = this.#t['destroy']
    if (typeof destroy === 'function') {
      destroy.call(this.#t, err)
      this.#status = 'closed'
      return
    }
    this.close().catch(() => {})
  }

  #call(method: string, ...args: unknown[]): unknown {
    return (this.#t[method] as (...a: unknown[]) => unknown).apply(this.#t, args)
  }
}
