import type { Duplex } from 'node:stream'
import type { EventEmitter } from 'eventemitter3'

/**
 * Where to send: `addr` is `host:port`; `name` is the node name (`<node>.<dc>` on a WAN pool), which
 * node-aware transports such as {@link WanfedTransport} route on. memberlist's `Address`.
 */
export interface Address {
  addr: string
  name?: string
}

/** One inbound best-effort message. memberlist's `Packet`. */
export interface Packet {
  /** The bytes of exactly one packet; the consumer owns them. */
  buf: Buffer
  /**
   * Where it came from, `host:port`. For packets that crossed a gateway this is the gateway's (or
   * the TLS peer's) address, not the sender's: replies must go by the sender's node name.
   */
  from: string
  /** Receipt time in monotonic ms from the transport's clock, taken as close to the I/O as possible. */
  timestamp: number
}

export type TransportStatus = 'idle' | 'listening' | 'closing' | 'closed'

export interface TransportEvents {
  /** An inbound packet. With no listener (and no `packets()` iterator) it is counted as dropped. */
  packet: (packet: Packet) => void
  /**
   * An inbound stream, positioned at its first application byte. The listener owns it. With no
   * listener (and no `streams()` iterator) it is destroyed and counted.
   */
  stream: (stream: Duplex) => void
  /** A background failure (accept loop, receive loop, a peer's protocol error). Operation failures reject instead. */
  error: (err: Error) => void
  /** Emitted once, after every resource is released. */
  close: () => void
}

/** What a transport can promise; the conformance suite adapts its checks to these. */
export interface TransportCapabilities {
  /** Packets may be lost without an error (UDP). False when delivery is reliable unless the sender is told. */
  lossyPackets: boolean
  /** Largest packet `writeToAddress` accepts. */
  maxPacketSize: number
}

export interface PacketCounters {
  sent: number
  received: number
  /** Inbound packets no consumer took, or that overflowed an iterator queue. */
  dropped: number
  /** Outbound packets dropped after `writeToAddress` accepted them (congestion), counted not thrown. */
  sendDropped: number
  sendErrors: number
}

export interface StreamCounters {
  dialed: number
  dialErrors: number
  accepted: number
  /** Inbound streams destroyed because no consumer took them. */
  dropped: number
}

export interface TransportStats {
  status: TransportStatus
  packets: PacketCounters
  streams: StreamCounters
}

export interface DialOptions {
  /** Cancels the dial; it rejects with `AbortError` (or `TimeoutError` for `AbortSignal.timeout`). */
  signal?: AbortSignal
}

export interface IteratorOptions {
  /** Items held for a slow consumer before new ones are dropped (and counted). Default 1024. */
  highWaterMark?: number
  /** Ends the iteration. */
  signal?: AbortSignal
}

/** The iterators returned by `packets()` and `streams()`. */
export interface TransportIterator<T> extends AsyncIterableIterator<T> {
  /** Items waiting in the queue. */
  readonly pending: number
  /** Items dropped because the queue was full. */
  readonly dropped: number
}

/**
 * A node-aware, memberlist-style transport: best-effort packets and reliable streams.
 *
 * Lifecycle: construct (no I/O), attach listeners, then `await listen()`, so nothing arrives before
 * its consumer. `close()` is graceful and idempotent, `destroy(err)` abrupt; `await using` closes.
 */
export interface Transport extends EventEmitter<TransportEvents> {
  readonly status: TransportStatus
  readonly capabilities: TransportCapabilities
  /** Binds and starts receiving. */
  listen(options?: DialOptions): Promise<void>
  /**
   * The IP and port this node advertises to its peers (memberlist's `FinalAdvertiseAddr`): the given
   * ones when set, otherwise what the transport bound.
   */
  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number }
  /**
   * Sends one packet. Resolves with the send time (monotonic ms, same clock as `Packet.timestamp`).
   * `options.signal` cancels a send that has to wait (for a connection being dialled, say); an
   * already aborted signal sends nothing.
   */
  writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number>
  /** Opens a reliable stream to `to`, within `timeoutMs`. */
  dialAddressTimeout(to: Address, timeoutMs: number, options?: DialOptions): Promise<Duplex>
  /** Inbound packets as an async iterator with a bounded queue (drop newest when full, counted). */
  packets(options?: IteratorOptions): TransportIterator<Packet>
  /** Inbound streams as an async iterator with a bounded queue (destroy newest when full, counted). */
  streams(options?: IteratorOptions): TransportIterator<Duplex>
  stats(): TransportStats
  close(): Promise<void>
  destroy(err?: Error): void
  [Symbol.asyncDispose](): Promise<void>
}
