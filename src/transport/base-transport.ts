import { setMaxListeners } from 'node:events'
import type { Duplex } from 'node:stream'
import { EventEmitter } from 'eventemitter3'
import {
  ClosedError,
  DestroyedError,
  InvalidArgumentError,
  NotListeningError,
  PacketTooLargeError,
  TimeoutError,
} from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import { type Clock, systemClock } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { optionalNumber } from '../internal/validate.ts'
import { BoundedIterator, DEFAULT_HIGH_WATER_MARK } from './bounded-iterator.ts'
import { checkTimeout } from './dial-tcp.ts'
import type {
  Address,
  DialOptions,
  IteratorOptions,
  Packet,
  Transport,
  TransportCapabilities,
  TransportEvents,
  TransportIterator,
  TransportStats,
  TransportStatus,
} from './types.ts'

/** Brand carried by every transport wanfed ships; the conformance meta-test looks for it. */
export const transportSymbol: unique symbol = Symbol.for('wanfed.transport') as never

export interface BaseTransportOptions {
  /** Time source for timestamps and timers. Default: `performance.now()` and unref'd timers. */
  clock?: Clock
}

/**
 * The base class for transports, wanfed's own and yours: it owns the lifecycle state machine
 * (`idle` → `listening` → `closing` → `closed`, `listen()` once, `close()` idempotent,
 * `destroy(err)`, `await using`), delivery to listeners and to the bounded `packets()` /
 * `streams()` iterators, counting of what could not be delivered (`stats()`), and cancellation of
 * in-flight work on close through {@link BaseTransport.lifetime}.
 *
 * A subclass supplies the I/O:
 * - `capabilities`, `finalAdvertiseAddr`, `writeToAddress` and `dialAddressTimeout`, each send or
 *   dial starting with {@link BaseTransport.assertListening} (and `checkPacket` for packets);
 * - `bind(signal)`, which opens sockets for `listen()` and releases what it opened if it fails;
 * - `release(abrupt, err)`, which frees everything on `close()` (graceful) or `destroy()` (abrupt);
 * - inbound traffic handed to {@link BaseTransport.deliverPacket} and
 *   {@link BaseTransport.deliverStream}, background failures to {@link BaseTransport.reportError},
 *   and its own counts kept in {@link BaseTransport.counters}.
 *
 * Run `transportConformance` from `wanfed/testing` against the result; it checks this contract.
 *
 * @example
 * ```ts
 * import { type Address, BaseTransport, type DialOptions, type Transport } from 'wanfed/transport'
 *
 * class Tagged extends BaseTransport {
 *   constructor(readonly inner: Transport) { super() }
 *   get capabilities() { return this.inner.capabilities }
 *   finalAdvertiseAddr(ip?: string, port?: number) { return this.inner.finalAdvertiseAddr(ip, port) }
 *   async writeToAddress(buf: Uint8Array, to: Address, options: DialOptions = {}) {
 *     this.assertListening('writeToAddress')
 *     this.checkPacket(buf, this.capabilities.maxPacketSize, options.signal)
 *     const at = await this.inner.writeToAddress(buf, to, options)
 *     this.counters.packets.sent++
 *     return at
 *   }
 *   dialAddressTimeout(to: Address, timeoutMs: number) {
 *     this.assertListening('dialAddressTimeout')
 *     return this.inner.dialAddressTimeout(to, timeoutMs, { signal: this.lifetime.signal })
 *   }
 *   protected async bind() { this.inner.on('packet', (p) => this.deliverPacket(p)); await this.inner.listen() }
 *   protected async release(abrupt: boolean, err?: Error) {
 *     if (abrupt) this.inner.destroy(err)
 *     else await this.inner.close()
 *   }
 * }
 * ```
 */
export abstract class BaseTransport extends EventEmitter<TransportEvents> implements Transport {
  /** The brand, on the prototype so a class can be recognised without an instance. */
  get [transportSymbol](): true {
    return true
  }

  abstract readonly capabilities: TransportCapabilities
  protected readonly clock: Clock
  /** What the transport counts; a subclass adds to it, `stats()` reports a copy. */
  protected readonly counters = {
    packets: { sent: 0, received: 0, dropped: 0, sendDropped: 0, sendErrors: 0 },
    streams: { dialed: 0, dialErrors: 0, accepted: 0, dropped: 0 },
  }
  /** Aborted by close() or destroy(); in-flight dials and sends listen to it. */
  protected readonly lifetime = new AbortController()
  #status: TransportStatus = 'idle'
  #listening: Promise<void> | undefined
  #closing: Promise<void> | undefined
  readonly #iterators = new Set<BoundedIterator<unknown>>()
  /** Streams this transport dialled or accepted that are still open; release() destroys them. */
  readonly #streams = new Set<Duplex>()

  constructor(options: BaseTransportOptions = {}) {
    super()
    this.clock = options.clock ?? systemClock
    // Every send and dial in flight listens on the lifetime signal (and removes itself after), so
    // hundreds at once are normal, not a leak.
    setMaxListeners(0, this.lifetime.signal)
  }

  get status(): TransportStatus {
    return this.#status
  }

  /** Binds sockets or registers the transport; must release what it opened if it fails. */
  protected abstract bind(signal: AbortSignal | undefined): Promise<void>
  /** Releases every resource. Graceful (`abrupt` false) or at once; may be called twice (close, then destroy). */
  protected abstract release(abrupt: boolean, err?: Error): Promise<void>

  abstract finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number }
  abstract writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number>
  abstract dialAddressTimeout(
    to: Address,
    timeoutMs: number,
    options?: DialOptions,
  ): Promise<Duplex>

  /**
   * Binds and starts receiving. A second call while listening returns the same promise; a call
   * after `close()` (or after a failed `listen()`) rejects with `ClosedError`. A failed listen
   * releases everything the transport holds, as `destroy()` would.
   */
  listen(options: DialOptions = {}): Promise<void> {
    if (this.#status === 'listening' || (this.#status === 'idle' && this.#listening !== undefined))
      return this.#listening as Promise<void>
    if (this.#status !== 'idle')
      return Promise.reject(new ClosedError(`${this.constructor.name} is closed`))
    if (options.signal?.aborted) return Promise.reject(abortReason(options.signal, 'listen'))
    this.#listening = this.bind(options.signal).then(
      () => {
        // close() may have run while binding; then status is already past 'listening'.
        if (this.#status === 'idle') this.#status = 'listening'
      },
      async (err: unknown) => {
        if (this.#status === 'idle') {
          this.#status = 'closing'
          this.lifetime.abort(new ClosedError('listen failed'))
          // bind() released what it opened; what the transport took before (handlers on a
          // server, a wrapped transport's listeners) goes now, or close() would have nothing to do.
          try {
            await this.release(true, err instanceof Error ? err : undefined)
          } catch (releaseErr) {
            debug('release after a failed listen: %s', String(releaseErr))
          }
          this.#status = 'closed'
          this.#endIterators()
        }
        throw err
      },
    )
    return this.#listening
  }

  packets(options: IteratorOptions = {}): TransportIterator<Packet> {
    return this.#iterate('packet', options, () => {})
  }

  streams(options: IteratorOptions = {}): TransportIterator<Duplex> {
    return this.#iterate('stream', options, (stream) => {
      stream.destroy()
    })
  }

  stats(): TransportStats {
    return {
      status: this.#status,
      packets: { ...this.counters.packets },
      streams: { ...this.counters.streams },
    }
  }

  /** Stops receiving, releases sockets, ends the iterators. Idempotent; every call resolves. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false)
    return this.#closing
  }

  /** Releases everything at once; in-flight operations reject with `DestroyedError` (cause: `err`). */
  destroy(err?: Error): void {
    if (this.#status === 'closed') return
    const reason = new DestroyedError(
      `${this.constructor.name} destroyed`,
      err === undefined ? {} : { cause: err },
    )
    if (!this.lifetime.signal.aborted) this.lifetime.abort(reason)
    if (this.#closing === undefined) {
      this.#closing = this.#shutdown(true, err)
    } else {
      // A graceful close is under way: escalate it.
      this.release(true, err).catch((e: unknown) => debug('destroy during close: %s', String(e)))
    }
    this.#closing.catch(() => {})
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * Throws unless the transport is listening. Call first in every send or dial, synchronously, so
   * an operation after close fails before it touches a socket.
   */
  protected assertListening(what: string): void {
    if (this.#status === 'listening') return
    if (this.#status === 'idle') throw new NotListeningError(`${what}: call listen() first`)
    const reason = this.lifetime.signal.reason
    throw reason instanceof DestroyedError
      ? reason
      : new ClosedError(`${what}: transport is closed`)
  }

  /**
   * The prologue and epilogue every stream dial shares: the timeout is checked, the caller's
   * signal, the timeout and the transport's lifetime are joined into the one signal `connect` gets,
   * and the outcome is counted. A cancelled dial rejects with the real cause (the caller's abort,
   * our timeout, the transport closing), whatever `connect` made of it; the stream it returns is
   * tracked until it closes. Call `assertListening` first.
   */
  protected async dialStream<T extends Duplex>(
    what: string,
    timeoutMs: number,
    options: DialOptions,
    connect: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    checkTimeout(timeoutMs, what)
    const caller = options.signal
    // Joined by hand: AbortSignal.any on Node 20 keeps a reference per call in the long-lived
    // lifetime signal.
    const cancel = new AbortController()
    // Infinity means no timeout.
    const timer = Number.isFinite(timeoutMs)
      ? this.clock.setTimeout(
          () => cancel.abort(new TimeoutError(`${what}: timed out after ${timeoutMs} ms`)),
          timeoutMs,
        )
      : undefined
    const onCaller = () => cancel.abort(abortReason(caller as AbortSignal, what))
    const lifetime = this.lifetime.signal
    const onLifetime = () => cancel.abort(lifetime.reason)
    try {
      if (lifetime.aborted) throw lifetime.reason
      if (caller?.aborted) throw abortReason(caller, what)
      caller?.addEventListener('abort', onCaller, { once: true })
      lifetime.addEventListener('abort', onLifetime, { once: true })
      const stream = await connect(cancel.signal)
      this.counters.streams.dialed++
      this.trackStream(stream)
      return stream
    } catch (err) {
      this.counters.streams.dialErrors++
      throw cancel.signal.aborted ? cancel.signal.reason : err
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer)
      caller?.removeEventListener('abort', onCaller)
      lifetime.removeEventListener('abort', onLifetime)
    }
  }

  /** Hands an inbound packet to its consumers, or counts it as dropped when there are none. */
  protected deliverPacket(packet: Packet): void {
    this.counters.packets.received++
    if (this.#status !== 'listening' || this.listenerCount('packet') === 0) {
      this.counters.packets.dropped++
      return
    }
    this.#emitSafe('packet', packet)
  }

  /** Hands an inbound stream to its consumers, or destroys and counts it when there are none. */
  protected deliverStream(stream: Duplex): void {
    this.counters.streams.accepted++
    if (this.#status !== 'listening' || this.listenerCount('stream') === 0) {
      this.counters.streams.dropped++
      stream.destroy()
      return
    }
    this.#emitSafe('stream', stream)
  }

  /**
   * Remembers a stream until it closes, so `destroyStreams()` can end every one still open.
   * A stream's late errors (a reset after its consumer stopped listening) go to the debug log
   * instead of crashing the process.
   */
  protected trackStream(stream: Duplex): void {
    this.#streams.add(stream)
    stream.on('error', (err) => debug('%s stream error: %s', this.constructor.name, err.message))
    stream.once('close', () => this.#streams.delete(stream))
  }

  /** Destroys every tracked stream still open. */
  protected destroyStreams(): void {
    for (const stream of [...this.#streams]) stream.destroy()
    this.#streams.clear()
  }

  /** Open tracked streams. */
  protected get openStreams(): number {
    return this.#streams.size
  }

  /**
   * Checks an outgoing packet before anything is sent.
   *
   * @throws {InvalidArgumentError} not bytes, or empty
   * @throws {PacketTooLargeError} more than `max` bytes
   * @throws {AbortError} `signal` has already fired
   */
  protected checkPacket(buf: Uint8Array, max: number, signal?: AbortSignal): void {
    if (signal?.aborted) throw abortReason(signal, 'writeToAddress')
    if (!(buf instanceof Uint8Array))
      throw new InvalidArgumentError('writeToAddress: buf must be a Uint8Array')
    if (buf.length === 0) throw new InvalidArgumentError('writeToAddress: empty packet')
    if (buf.length > max) {
      throw new PacketTooLargeError(
        `writeToAddress: packet of ${buf.length} bytes exceeds the limit of ${max} bytes`,
      )
    }
  }

  /** Reports a background failure: counted in debug output and emitted as `error`. */
  protected reportError(err: Error): void {
    debug('%s background error: %s', this.constructor.name, err.message)
    this.emit('error', err)
  }

  #emitSafe<E extends 'packet' | 'stream'>(
    event: E,
    value: Parameters<TransportEvents[E]>[0],
  ): void {
    try {
      ;(this.emit as (e: string, v: unknown) => boolean)(event, value)
    } catch (err) {
      // A throwing listener must not corrupt the receive path that called us.
      this.reportError(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #iterate<T>(
    event: 'packet' | 'stream',
    options: IteratorOptions,
    dispose: (item: T) => void,
  ): TransportIterator<T> {
    const hwm = optionalNumber(options.highWaterMark, DEFAULT_HIGH_WATER_MARK, 'highWaterMark', {
      positive: true,
      integer: true,
    })
    const onItem = (item: T) => {
      if (!iterator.push(item)) {
        if (event === 'packet') this.counters.packets.dropped++
        else this.counters.streams.dropped++
        dispose(item)
      }
    }
    const onAbort = () => void iterator.return()
    const iterator: BoundedIterator<T> = new BoundedIterator<T>(
      hwm,
      () => {
        this.off(event, onItem as never)
        options.signal?.removeEventListener('abort', onAbort)
        this.#iterators.delete(iterator as BoundedIterator<unknown>)
      },
      dispose,
    )
    if (this.#status === 'closed' || this.#status === 'closing' || options.signal?.aborted) {
      iterator.end()
      return iterator
    }
    this.on(event, onItem as never)
    options.signal?.addEventListener('abort', onAbort, { once: true })
    this.#iterators.add(iterator as BoundedIterator<unknown>)
    return iterator
  }

  #endIterators(): void {
    for (const it of [...this.#iterators]) it.end()
  }

  async #shutdown(abrupt: boolean, err?: Error): Promise<void> {
    if (this.#status === 'closed') return
    this.#status = 'closing'
    if (!this.lifetime.signal.aborted)
      this.lifetime.abort(new ClosedError(`${this.constructor.name} closed`))
    // Let a bind in progress settle first, so release sees everything it opened.
    await this.#listening?.catch(() => {})
    try {
      await this.release(abrupt, err)
    } finally {
      this.#status = 'closed'
      this.#endIterators()
      this.emit('close')
    }
  }
}
