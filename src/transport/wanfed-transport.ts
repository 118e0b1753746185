import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { isGatewayUnreachable } from '../alpn/dial.ts'
import { MAX_PACKET_SIZE } from '../alpn/frame.ts'
import { ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM } from '../alpn/protocols.ts'
import type { AlpnConnectionInfo, AlpnServer } from '../alpn/server.ts'
import { TlsSessionCache } from '../alpn/session-cache.ts'
import { DEFAULT_DOMAIN, serverSni } from '../alpn/sni.ts'
import { type TlsCredentials, validateTlsCredentials } from '../alpn/tls-options.ts'
import {
  InvalidArgumentError,
  InvalidNodeNameError,
  NoGatewayError,
  TlsError,
  WanfedError,
} from '../errors.ts'
import { debug } from '../internal/debug.ts'
import { optionalNumber } from '../internal/validate.ts'
import type { GatewayLocator } from '../locator/types.ts'
import { adaptTransport, type WrappedTransport } from './adapt-transport.ts'
import { BaseTransport, type BaseTransportOptions } from './base-transport.ts'
import { GatewayDialer } from './gateway-dialer.ts'
import { type NodeNameRule, splitNodeName } from './node-name.ts'
import {
  PacketPool,
  type PacketPoolOptions,
  type PacketPoolStats,
  type PooledConnection,
} from './packet-pool.ts'
import {
  DEFAULT_FRAME_BODY_TIMEOUT_MS,
  DEFAULT_FRAME_IDLE_TIMEOUT_MS,
  receivePackets,
} from './packet-receiver.ts'
import type {
  Address,
  DialOptions,
  Packet,
  Transport,
  TransportCapabilities,
  TransportStats,
} from './types.ts'

export interface WanfedTransportOptions extends BaseTransportOptions {
  /** The transport for same-DC traffic (usually a `NetTransport`). The wrapper owns its lifecycle. */
  transport: Transport
  /** This node's datacenter. A destination whose node name ends in another DC goes through a gateway. */
  datacenter: string
  /** Picks the gateway for each new cross-DC connection. */
  locator: GatewayLocator
  /** This node's certificate and key, and the federation's CA. */
  tls: TlsCredentials
  /** Consul domain for SNI names. Default `consul`. */
  domain?: string
  /** How node names encode their datacenter. Default `'strict'` (Consul's `<node>.<dc>`). */
  nodeNameRule?: NodeNameRule
  /** Bounds and timers of the cross-DC packet connection pool. */
  pool?: PacketPoolOptions
  /** TCP connect timeout towards a gateway, ms. Default 10,000. */
  connectTimeoutMs?: number
  /** TLS handshake timeout, ms. Default 10,000. */
  handshakeTimeoutMs?: number
  /** Largest cross-DC packet, in bytes; at most 4,194,304 (the default). */
  maxPacketSize?: number
  /** Inbound packet connections: the wait allowed for the next frame. Default 120,000 ms (Consul's). */
  frameIdleTimeoutMs?: number
  /** Inbound packet connections: a begun frame whose bytes stop arriving for this long is dropped. Default 10,000 ms. */
  frameBodyTimeoutMs?: number
  /** TLS session cache for stream dials, or `false` to turn resumption off. Default: 256 entries. */
  sessionCache?: TlsSessionCache | false
}

/**
 * `packets.sent`, `sendDropped`, `sendErrors`, `streams.dialed` and `dialErrors` count cross-DC
 * traffic only (same-DC sends are the wrapped transport's, in `inner`); `received`, `dropped`,
 * `accepted` count everything delivered to this transport's consumers, from either path.
 */
export interface WanfedTransportStats extends TransportStats {
  /** Cross-DC packet connection pool. */
  pool: PacketPoolStats
  /** Inbound cross-DC protocol errors, by code. */
  protocolErrors: Record<string, number>
  /** Inbound packet and stream connections currently open. */
  inbound: { packetConns: number; streams: number }
  /** The wrapped transport's own stats. */
  inner: TransportStats
}

/**
 * Consul's `wanfed.Transport` for Node. Same-DC traffic goes to the wrapped transport unchanged;
 * traffic to a node in another DC (told by the node-name suffix `<node>.<dc>`) goes through a mesh
 * gateway: packets as length-prefixed frames over pooled TLS connections with ALPN
 * `consul/wan-gossip/packet`, streams as one TLS connection each with ALPN `consul/wan-gossip/stream`.
 * Inbound cross-DC traffic arrives through the {@link AlpnServer} given to {@link attach}.
 *
 * Closing order: close the transport first, then its `AlpnServer`, then any `MeshGateway` its
 * traffic (or other DCs' traffic to it) passes through. Its pooled connections and streams then
 * end before the gateways close, and nothing waits on a grace period. An `AlpnServer` closed first
 * is quick too: its inbound packet connections are ended as it starts closing.
 *
 * @example
 * ```ts
 * const transport = new WanfedTransport({
 *   transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
 *   datacenter: 'dc1',
 *   locator: new StaticGatewayLocator({ dc2: ['127.0.0.1:8443'] }),
 *   tls: { ca, cert, key },
 * }).attach(alpnServer)
 * transport.on('packet', (p) => memberlist.ingest(p))
 * await transport.listen()
 * await transport.writeToAddress(buf, { name: 'bob.dc2', addr: '10.0.2.7:8302' })
 * ```
 */
export class WanfedTransport extends BaseTransport {
  readonly capabilities: TransportCapabilities
  readonly datacenter: string
  /** The transport as given, and as used (adapted when it lacks optional parts of the contract). */
  readonly #given: Transport
  readonly #inner: WrappedTransport
  readonly #domain: string
  readonly #rule: NodeNameRule
  readonly #pool: PacketPool
  readonly #dialer: GatewayDialer
  readonly #maxPacketSize: number
  readonly #frameIdleTimeoutMs: number
  readonly #frameBodyTimeoutMs: number
  readonly #servers = new Set<AlpnServer>()
  readonly #inboundPackets = new Set<Duplex>()
  readonly #protocolErrors: Record<string, number> = {}
  readonly #innerListeners: {
    packet: (p: Packet) => void
    stream: (s: Duplex) => void
    error: (e: Error) => void
  }

  constructor(options: WanfedTransportOptions) {
    super(options)
    if (options?.transport === undefined)
      throw new InvalidArgumentError('WanfedTransport needs the transport to wrap')
    if (typeof options.datacenter !== 'string' || options.datacenter === '') {
      throw new InvalidArgumentError('WanfedTransport needs a non-empty datacenter')
    }
    if (options.locator === undefined || typeof options.locator.pickGateway !== 'function') {
      throw new InvalidArgumentError(
        'WanfedTransport needs a GatewayLocator (an object with pickGateway)',
      )
    }
    // Fails closed at construction, not at the first send: no CA, an empty or unparsable one, or a
    // key that does not match the certificate.
    validateTlsCredentials(options.tls, 'WanfedTransport')
    this.#given = options.transport
    this.#inner = adaptTransport(options.transport)
    this.datacenter = options.datacenter
    this.#domain = options.domain ?? DEFAULT_DOMAIN
    serverSni(this.datacenter, undefined, this.#domain) // validates datacenter and domain
    this.#rule = options.nodeNameRule ?? 'strict'
    this.#maxPacketSize = optionalNumber(options.maxPacketSize, MAX_PACKET_SIZE, 'maxPacketSize', {
      min: 1,
      max: MAX_PACKET_SIZE,
      integer: true,
    })
    this.#frameIdleTimeoutMs = optionalNumber(
      options.frameIdleTimeoutMs,
      DEFAULT_FRAME_IDLE_TIMEOUT_MS,
      'frameIdleTimeoutMs',
      { positive: true, unit: 'ms' },
    )
    this.#frameBodyTimeoutMs = optionalNumber(
      options.frameBodyTimeoutMs,
      DEFAULT_FRAME_BODY_TIMEOUT_MS,
      'frameBodyTimeoutMs',
      { positive: true, unit: 'ms' },
    )
    this.#dialer = new GatewayDialer({
      locator: options.locator,
      domain: this.#domain,
      rule: this.#rule,
      clock: this.clock,
      tls: options.tls,
      connectTimeoutMs: options.connectTimeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      sessionCache:
        options.sessionCache === false
          ? undefined
          : (options.sessionCache ?? new TlsSessionCache()),
      onError: (err) => this.reportError(err),
    })
    this.capabilities = {
      lossyPackets: true,
      maxPacketSize: Math.min(this.#maxPacketSize, this.#inner.capabilities.maxPacketSize),
    }
    this.#pool = new PacketPool(
      (key) => this.#dialPacketConn(key),
      {
        // A pooled connection failing (a far server restarting, say) says nothing about the
        // gateway: the next dial will find out.
        onConnectionError: (conn, key, err) =>
          debug('packet connection to %s via %s failed: %s', key, conn.gateway, err.message),
        onRejectedAfterHandshake: (key, gateway, times) =>
          this.reportError(
            new TlsError(
              `${key} (via ${gateway}) closed ${times} packet connections in a row right after the ` +
                'TLS handshake: it probably refuses this node’s client certificate',
            ),
          ),
        // Only a remote failure past the gateway (a dead node behind a healthy gateway) backs the
        // node off: an unreachable gateway is the locator's to avoid, and a local failure (no
        // gateway, DNS, bind, our certificate, a bad name) or our own close is not the node's.
        isNodeFault: (err) =>
          err instanceof WanfedError &&
          err.remote &&
          !isGatewayUnreachable(err) &&
          !this.lifetime.signal.aborted,
        isNotDialed: (err) => err instanceof NoGatewayError || err instanceof InvalidNodeNameError,
      },
      options.pool,
      this.clock,
    )
    this.#innerListeners = {
      packet: (p) => this.deliverPacket(p),
      stream: (s) => this.deliverStream(s),
      error: (e) => this.reportError(e),
    }
    this.#inner.on('packet', this.#innerListeners.packet)
    this.#inner.on('stream', this.#innerListeners.stream)
    this.#inner.on('error', this.#innerListeners.error)
  }

  /** The wrapped transport. */
  get inner(): Transport {
    return this.#given
  }

  /**
   * Receives cross-DC traffic from `server`: registers handlers for `consul/wan-gossip/packet` and
   * `consul/wan-gossip/stream`. The server stays the caller's (it may carry other protocols);
   * `close()` removes the handlers and closes the connections they accepted.
   */
  attach(server: AlpnServer): this {
    if (server.handles(ALPN_WAN_GOSSIP_PACKET) || server.handles(ALPN_WAN_GOSSIP_STREAM)) {
      throw new InvalidArgumentError(
        'this AlpnServer already carries WAN gossip for another transport; close that one first',
      )
    }
    this.#servers.add(server)
    server.handle(ALPN_WAN_GOSSIP_PACKET, this.#packetHandler, {
      onServerClose: this.#endPacketConn,
    })
    server.handle(ALPN_WAN_GOSSIP_STREAM, this.#streamHandler)
    return this
  }

  readonly #packetHandler = (socket: TLSSocket, info: AlpnConnectionInfo) =>
    this.#onPacketConn(socket, info)
  /**
   * The server is closing: a far pool keeps an idle packet connection until its own idle timeout,
   * so waiting for it would cost the server's whole grace. Ending ours sends the far side the EOF
   * it already handles (a peer closing): it drops the connection and redials for its next packet.
   * Frames already in flight are still read until the far side closes. Streams are left to their
   * owners, within the grace.
   */
  readonly #endPacketConn = (socket: TLSSocket) => socket.end()
  readonly #streamHandler = (socket: TLSSocket) => this.#onStreamConn(socket)

  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number } {
    return this.#inner.finalAdvertiseAddr(ip, port)
  }

  /**
   * Uses new credentials for every dial from now on (a certificate rotation). Open connections
   * keep theirs until they close; resumable sessions made with the old ones are forgotten. The
   * attached AlpnServer rotates separately (`AlpnServer.setTlsCredentials`).
   */
  setTlsCredentials(tls: TlsCredentials): void {
    validateTlsCredentials(tls, 'WanfedTransport.setTlsCredentials')
    this.#dialer.setTls(tls)
  }

  /**
   * Sends one packet. Same DC: the wrapped transport. Another DC: one frame on a pooled connection
   * to that node through a gateway; a congested connection drops the packet (counted), as UDP would.
   *
   * @throws {InvalidNodeNameError} the name does not encode a datacenter (even for same-DC targets, as in Consul)
   * @throws {NoGatewayError} the locator knows no gateway for the destination DC
   * @throws {PacketTooLargeError} the packet exceeds `maxPacketSize`
   */
  writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number> {
    let datacenter: string
    try {
      this.assertListening('writeToAddress')
      datacenter = splitNodeName(to.name ?? '', this.#rule).datacenter
    } catch (err) {
      return Promise.reject(err)
    }
    // Same-DC packets go straight to the wrapped transport: no extra promise on the LAN hot path.
    if (datacenter === this.datacenter) return this.#inner.writeToAddress(buf, to, options)
    return this.#writeCrossDc(buf, to.name as string, options?.signal)
  }

  async #writeCrossDc(
    buf: Uint8Array,
    name: string,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    this.checkPacket(buf, this.#maxPacketSize, signal)
    try {
      const pending = this.#pool.send(name, buf, signal)
      const outcome = typeof pending === 'string' ? pending : await pending
      if (outcome === 'sent') this.counters.packets.sent++
      else this.counters.packets.sendDropped++
    } catch (err) {
      this.counters.packets.sendErrors++
      throw err
    }
    return this.clock.now()
  }

  /**
   * Opens a stream. Same DC: the wrapped transport. Another DC: a fresh TLS connection through a
   * gateway, within `timeoutMs` (Consul ignores the timeout) and cancellable by `options.signal`.
   */
  async dialAddressTimeout(
    to: Address,
    timeoutMs: number,
    options: DialOptions = {},
  ): Promise<Duplex> {
    this.assertListening('dialAddressTimeout')
    const name = to.name ?? ''
    const { datacenter } = splitNodeName(name, this.#rule)
    if (datacenter === this.datacenter)
      return this.#inner.dialAddressTimeout(to, timeoutMs, options)
    return this.dialStream(`dial ${name}`, timeoutMs, options, async (signal) => {
      const { socket } = await this.#dialer.dial(name, ALPN_WAN_GOSSIP_STREAM, signal)
      return socket
    })
  }

  override stats(): WanfedTransportStats {
    return {
      ...super.stats(),
      pool: this.#pool.stats(),
      protocolErrors: { ...this.#protocolErrors },
      inbound: { packetConns: this.#inboundPackets.size, streams: this.openStreams },
      inner: this.#inner.stats(),
    }
  }

  protected async bind(): Promise<void> {
    if (this.#inner.status === 'idle') await this.#inner.listen()
  }

  protected async release(abrupt: boolean, err?: Error): Promise<void> {
    for (const server of this.#servers) {
      server.unhandle(ALPN_WAN_GOSSIP_PACKET, this.#packetHandler)
      server.unhandle(ALPN_WAN_GOSSIP_STREAM, this.#streamHandler)
    }
    for (const s of this.#inboundPackets) s.destroy()
    this.destroyStreams()
    // The pool first, then the wrapped transport, as Consul's Shutdown.
    if (abrupt) this.#pool.destroy()
    else await this.#pool.close()
    this.#inner.off('packet', this.#innerListeners.packet)
    this.#inner.off('stream', this.#innerListeners.stream)
    this.#inner.off('error', this.#innerListeners.error)
    if (abrupt) this.#inner.destroy(err)
    else await this.#inner.close()
  }

  async #dialPacketConn(name: string): Promise<PooledConnection> {
    try {
      return await this.#dialer.dial(name, ALPN_WAN_GOSSIP_PACKET, this.lifetime.signal)
    } catch (err) {
      throw this.lifetime.signal.aborted ? this.lifetime.signal.reason : err
    }
  }

  #onPacketConn(socket: TLSSocket, info: AlpnConnectionInfo): void {
    if (this.status !== 'listening') {
      socket.destroy()
      return
    }
    this.#inboundPackets.add(socket)
    socket.once('close', () => this.#inboundPackets.delete(socket))
    receivePackets(socket, {
      clock: this.clock,
      maxFrameSize: this.#maxPacketSize,
      idleTimeoutMs: this.#frameIdleTimeoutMs,
      bodyTimeoutMs: this.#frameBodyTimeoutMs,
      onPacket: (buf, timestamp) => this.deliverPacket({ buf, from: info.remote, timestamp }),
      onProtocolError: (err) => this.#protocolError(err, info),
    })
  }

  #onStreamConn(socket: TLSSocket): void {
    this.trackStream(socket)
    this.deliverStream(socket)
  }

  #protocolError(err: WanfedError, info: AlpnConnectionInfo): void {
    this.#protocolErrors[err.code] = (this.#protocolErrors[err.code] ?? 0) + 1
    debug('packet connection from %s (sni %s): %s', info.remote, info.servername, err.message)
    this.reportError(err)
  }
}
