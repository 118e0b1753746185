import type { Duplex } from 'node:stream'
import { InvalidArgumentError, NoRouteError } from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { optionalNumber } from '../internal/validate.ts'
import { checkPort, normaliseAdvertiseIp } from './advertise.ts'
import { BaseTransport } from './base-transport.ts'
import { MemoryStream } from './memory-stream.ts'
import type { Address, DialOptions, TransportCapabilities } from './types.ts'

/** Largest packet a memory transport carries: the packet frame maximum of the wire contract. */
export const MEMORY_MAX_PACKET_SIZE = 4_194_304

export interface MemoryNetworkOptions {
  /** Delay of every packet and every stream connect, ms. Default 0 (delivered in a microtask). */
  latencyMs?: number
  /** Fraction of packets lost, 0..1, counted in the sender's `sendDropped`. Default 0 (lossless). */
  lossRate?: number
  /** Source of randomness for loss, `[0, 1)`. Default `Math.random`. */
  random?: () => number
  /** Shared by every transport of the network: timestamps and latency timers. */
  clock?: Clock
}

/** A delivery or connect in flight; cancelled when either end closes. */
interface Pending {
  cancel(): void
}

/** What a transport needs from its network; kept off the public surface. */
interface Registry {
  readonly latencyMs: number
  readonly lossRate: number
  readonly random: () => number
  register(transport: MemoryTransport): void
  unregister(transport: MemoryTransport): void
  lookup(to: Address): MemoryTransport | undefined
  /** The destination is cut off: its packets vanish and dials to it never connect. */
  partitioned(to: Address): boolean
}

/**
 * memberlist's `MockNetwork`: in-memory transports that find each other by node name or by address,
 * with optional latency and packet loss. The reference implementation of the `Transport` contract,
 * for unit tests of anything built on a transport.
 *
 * ```ts
 * const net = new MemoryNetwork()
 * const a = net.createTransport('a.dc1')
 * const b = net.createTransport('b.dc1')
 * b.on('packet', (p) => console.log(p.from, p.buf))
 * await Promise.all([a.listen(), b.listen()])
 * await a.writeToAddress(Buffer.from('hi'), { name: 'b.dc1', addr: b.address })
 * ```
 */
export class MemoryNetwork {
  readonly latencyMs: number
  readonly lossRate: number
  readonly clock: Clock
  readonly #random: () => number
  readonly #byAddr = new Map<string, MemoryTransport>()
  readonly #byName = new Map<string, MemoryTransport>()
  readonly #partitioned = new Set<string>()
  #nextPort = 1
  readonly #registry: Registry

  /** @throws {InvalidArgumentError} an option is invalid; the message names it */
  constructor(options: MemoryNetworkOptions = {}) {
    const latencyMs = optionalNumber(options.latencyMs, 0, 'latencyMs', { min: 0, unit: 'ms' })
    const lossRate = optionalNumber(options.lossRate, 0, 'lossRate', { min: 0, max: 1 })
    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new InvalidArgumentError('random must be a function returning a number in [0, 1)')
    }
    this.latencyMs = latencyMs
    this.lossRate = lossRate
    this.#random = options.random ?? Math.random
    this.clock = options.clock ?? systemClock
    const byAddr = this.#byAddr
    const byName = this.#byName
    const cut = this.#partitioned
    this.#registry = {
      latencyMs,
      lossRate,
      random: this.#random,
      register(transport) {
        const name = transport.name
        if (name !== undefined) {
          const holder = byName.get(name)
          if (holder !== undefined && holder !== transport) {
            throw new InvalidArgumentError(
              `name ${JSON.stringify(name)} is already listening on this network`,
            )
          }
          byName.set(name, transport)
        }
        byAddr.set(transport.address, transport)
      },
      unregister(transport) {
        if (byAddr.get(transport.address) === transport) byAddr.delete(transport.address)
        const name = transport.name
        if (name !== undefined && byName.get(name) === transport) byName.delete(name)
      },
      lookup(to) {
        return to.name !== undefined && to.name !== '' ? byName.get(to.name) : byAddr.get(to.addr)
      },
      partitioned(to) {
        return cut.size > 0 && (cut.has(to.addr) || (to.name !== undefined && cut.has(to.name)))
      },
    }
  }

  /**
   * A new transport at `127.0.0.1:<n>` (n counts from 1). It is reachable by that address and, when
   * given, by `name` once it listens, and no longer once it closes. A name may be reused after
   * the transport that held it closed.
   *
   * @throws {InvalidArgumentError} the network ran out of ports (65,535 transports)
   */
  createTransport(name?: string): MemoryTransport {
    if (name !== undefined && typeof name !== 'string')
      throw new InvalidArgumentError('name must be a string')
    if (this.#nextPort > 65_535)
      throw new InvalidArgumentError('MemoryNetwork: no ports left (65,535 transports)')
    const address = `127.0.0.1:${this.#nextPort++}`
    return new MemoryTransport(this.#registry, this.clock, address, name === '' ? undefined : name)
  }

  /** Addresses of the transports listening now. */
  /**
   * Cuts a node off, by name or address, as a network partition would: packets to it are lost
   * (counted in the sender's `sendDropped`) and stream dials to it hang until their timeout or
   * signal. Nothing needs to listen there. `heal()` undoes it.
   */
  partition(nameOrAddr: string): void {
    if (typeof nameOrAddr !== 'string' || nameOrAddr === '') {
      throw new InvalidArgumentError('partition: a node name or address is needed')
    }
    this.#partitioned.add(nameOrAddr)
  }

  /** Reconnects a node cut off by {@link partition}. */
  heal(nameOrAddr: string): void {
    this.#partitioned.delete(nameOrAddr)
  }

  get listening(): string[] {
    return [...this.#byAddr.keys()]
  }
}

/**
 * A transport on a {@link MemoryNetwork}. Packets are copied on send and arrive with `from` set to
 * the sender's address; streams are in-memory `Duplex` pairs. Made by
 * {@link MemoryNetwork.createTransport}.
 */
export class MemoryTransport extends BaseTransport {
  readonly capabilities: TransportCapabilities
  /** `127.0.0.1:<n>`, unique on its network. */
  readonly address: string
  /** The node name it is reachable by, if any. */
  readonly name: string | undefined
  readonly #registry: Registry
  /** Deliveries and connects to or from this transport still in flight. */
  readonly #pending = new Set<Pending>()

  /** @internal use {@link MemoryNetwork.createTransport} */
  constructor(registry: Registry, clock: Clock, address: string, name: string | undefined) {
    super({ clock })
    this.#registry = registry
    this.address = address
    this.name = name
    this.capabilities = {
      lossyPackets: registry.lossRate > 0,
      maxPacketSize: MEMORY_MAX_PACKET_SIZE,
    }
  }

  /** Its own address's IP and port; a given IP or non-zero port overrides. */
  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number } {
    if (port !== undefined) checkPort(port, 'advertise port')
    const [ownIp, ownPort] = this.address.split(':') as [string, string]
    return {
      ip: ip !== undefined && ip !== '' ? normaliseAdvertiseIp(ip) : ownIp,
      port: port !== undefined && port !== 0 ? port : Number(ownPort),
    }
  }

  /**
   * Sends one packet to the transport registered under `to.name` (when non-empty) or `to.addr`.
   * It arrives after the network's latency (in a microtask when 0) unless lost to `lossRate`.
   *
   * @throws {NoRouteError} nothing listens at that name or address
   * @throws {PacketTooLargeError} more than 4 MiB
   * @throws {InvalidArgumentError} empty packet
   */
  async writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number> {
    this.assertListening('writeToAddress')
    this.checkPacket(buf, MEMORY_MAX_PACKET_SIZE, options?.signal)
    if (this.#registry.partitioned(to)) {
      this.counters.packets.sendDropped++
      return this.clock.now()
    }
    const dest = this.#registry.lookup(to)
    if (dest === undefined) {
      this.counters.packets.sendErrors++
      throw new NoRouteError(`writeToAddress: no route to ${describe(to)}`)
    }
    const now = this.clock.now()
    if (this.#registry.lossRate > 0 && this.#registry.random() < this.#registry.lossRate) {
      this.counters.packets.sendDropped++
      return now
    }
    this.counters.packets.sent++
    const copy = Buffer.from(buf)
    const from = this.address
    this.#schedule(dest, () => dest.#receive(copy, from))
    return now
  }

  /**
   * An in-memory stream to the transport found as for {@link writeToAddress}, connected after the
   * network's latency; the other end goes to the destination's `stream` consumers.
   *
   * @throws {NoRouteError} nothing listens at that name or address (checked before and after the latency)
   * @throws {TimeoutError} (remote) the latency outlasted `timeoutMs`
   * @throws {AbortError} the signal fired
   * @throws {ClosedError} / {DestroyedError} this transport closed meanwhile
   */
  async dialAddressTimeout(
    to: Address,
    timeoutMs: number,
    options: DialOptions = {},
  ): Promise<Duplex> {
    this.assertListening('dialAddressTimeout')
    const what = `dial ${describe(to)}`
    return this.dialStream(what, timeoutMs, options, async (signal) => {
      if (this.#registry.partitioned(to)) {
        // A partition: the connect never completes; only the timeout, the signal or close end it.
        await this.#connectDelay(Number.POSITIVE_INFINITY, signal, what)
      }
      if (this.#registry.lookup(to) === undefined) throw new NoRouteError(`${what}: no route`)
      await this.#connectDelay(this.#registry.latencyMs, signal, what)
      const dest = this.#registry.lookup(to)
      if (dest === undefined || dest.status !== 'listening')
        throw new NoRouteError(`${what}: no route`)
      const [mine, theirs] = MemoryStream.pair(this.address, dest.address)
      dest.#accept(theirs)
      return mine
    })
  }

  protected async bind(): Promise<void> {
    this.#registry.register(this)
  }

  protected async release(): Promise<void> {
    this.#registry.unregister(this)
    for (const p of [...this.#pending]) p.cancel()
    this.#pending.clear()
    this.destroyStreams()
  }

  #receive(buf: Buffer, from: string): void {
    this.deliverPacket({ buf, from, timestamp: this.clock.now() })
  }

  #accept(stream: MemoryStream): void {
    this.trackStream(stream)
    this.deliverStream(stream)
  }

  /** Runs `deliver` after the latency unless either end closes first. */
  #schedule(dest: MemoryTransport, deliver: () => void): void {
    const clock = this.clock
    let cancelled = false
    let handle: TimerHandle | undefined
    const entry: Pending = {
      cancel() {
        cancelled = true
        if (handle !== undefined) clock.clearTimeout(handle)
      },
    }
    const fire = () => {
      this.#pending.delete(entry)
      dest.#pending.delete(entry)
      if (!cancelled) deliver()
    }
    this.#pending.add(entry)
    dest.#pending.add(entry)
    if (this.#registry.latencyMs > 0) handle = clock.setTimeout(fire, this.#registry.latencyMs)
    else queueMicrotask(fire)
  }

  /** Waits out the connect latency unless `signal` (the dial's timeout, caller and our lifetime) fires or either end closes. */
  #connectDelay(latency: number, signal: AbortSignal, what: string): Promise<void> {
    if (latency <= 0) return Promise.resolve()
    const clock = this.clock
    const pending = this.#pending
    const lifetime = this.lifetime.signal
    return new Promise<void>((resolve, reject) => {
      let settled = false
      const entry: Pending = { cancel: () => done(lifetime.reason as Error) }
      const onAbort = () => done(abortReason(signal, what))
      const connectTimer = Number.isFinite(latency)
        ? clock.setTimeout(() => done(undefined), latency)
        : undefined
      function done(err: Error | undefined) {
        if (settled) return
        settled = true
        if (connectTimer !== undefined) clock.clearTimeout(connectTimer)
        signal.removeEventListener('abort', onAbort)
        pending.delete(entry)
        if (err === undefined) resolve()
        else reject(err)
      }
      pending.add(entry)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}

function describe(to: Address): string {
  return to.name !== undefined && to.name !== '' ? `${to.name} (${to.addr})` : to.addr
}
