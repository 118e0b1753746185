import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, isIP, type Server, type Socket } from 'node:net'
import { networkInterfaces as osNetworkInterfaces } from 'node:os'
import type { Duplex } from 'node:stream'
import { InvalidArgumentError, NoRouteError, NotListeningError, SocketError } from '../errors.ts'
import { abortReason } from '../internal/abort.ts'
import { formatHostPort, parseHostPort } from '../internal/address.ts'
import { debug } from '../internal/debug.ts'
import { checkNumber, optionalNumber } from '../internal/validate.ts'
import {
  checkPort,
  isUnspecified,
  type NetworkInterfaces,
  normaliseAdvertiseIp,
  pickPrivateIPv4,
} from './advertise.ts'
import { BaseTransport, type BaseTransportOptions } from './base-transport.ts'
import { dialTcp } from './dial-tcp.ts'
import type { Address, DialOptions, TransportCapabilities, TransportStats } from './types.ts'

/** Largest UDP payload over IPv4 (65,535 - 20 IP header - 8 UDP header). */
export const MAX_UDP_PAYLOAD = 65_507
/** memberlist's `udpRecvBufSize`: 2 MiB asked for, halved until the kernel accepts. */
export const DEFAULT_UDP_RECV_BUFFER_SIZE = 2 * 1024 * 1024
/** memberlist retries a port-0 bind this many times: TCP picks the port, UDP may find it taken. */
const BIND_ATTEMPTS = 10
/** memberlist's accept back-off: 5 ms, doubling, at most 1 s. */
const ACCEPT_BACKOFF_MIN_MS = 5
const ACCEPT_BACKOFF_MAX_MS = 1_000

export interface NetTransportOptions extends BaseTransportOptions {
  /** IP addresses to bind, TCP and UDP on each. Default `['127.0.0.1']`; at least one. Hostnames are refused. */
  bindAddrs?: string[]
  /** Port for every bind address. 0 (the default) lets the first TCP listener pick one for all. */
  bindPort?: number
  /** `SO_RCVBUF` to ask for on each UDP socket, halved until the kernel accepts. Default 2 MiB (memberlist's). */
  udpRecvBufferSize?: number
  /**
   * Most inbound streams open at once (accepted and not yet closed). Further connections are closed
   * as they are accepted and counted in `stats().streams.dropped` (Node's `server.maxConnections`).
   * Default: no limit, as memberlist.
   */
  maxStreamsPending?: number
  /** @internal Source of the host's interfaces for {@link NetTransport.finalAdvertiseAddr}. Default `os.networkInterfaces`. */
  networkInterfaces?: () => NetworkInterfaces
}

export interface NetTransportStats extends TransportStats {
  /** What is bound, `host:port` (IPv6 in brackets), TCP and UDP alike; empty before listen and after close. */
  bound: string[]
}

interface Bound {
  servers: Server[]
  udp: UdpSocket[]
  port: number
}

/**
 * memberlist's `NetTransport`: UDP packets and TCP streams on the same port of each bind address.
 *
 * Construction does no I/O; `listen()` binds. With port 0 the first TCP listener picks the port and
 * every other socket takes the same number; if UDP finds it taken, everything is closed and the
 * bind retried on a fresh port (10 attempts, as memberlist).
 *
 * Streams are half-open TCP sockets, as memberlist's conns: the far side's `end()` gives `'end'`
 * and leaves this side writable, so a reply can follow; end or destroy your side when done.
 * Accepted and dialed sockets are tracked and destroyed by `close()`, so nothing outlives the
 * transport. Each gets an `'error'` listener that only logs (`NODE_DEBUG=wanfed`), so a reset on a
 * stream whose consumer listens for nothing cannot crash the process; consumers that want errors
 * add their own listener as usual.
 */
export class NetTransport extends BaseTransport {
  readonly capabilities: TransportCapabilities = {
    lossyPackets: true,
    maxPacketSize: MAX_UDP_PAYLOAD,
  }
  readonly #bindAddrs: readonly string[]
  readonly #bindPort: number
  readonly #udpRecvBufferSize: number
  readonly #maxStreamsPending: number | undefined
  readonly #networkInterfaces: () => NetworkInterfaces
  #bound: Bound | undefined
  /** What was bound, kept after close so finalAdvertiseAddr still answers. */
  #boundPort: number | undefined
  #firstTcpHost: string | undefined
  #acceptBackoffMs = 0
  #acceptErrorsMutedUntil = 0
  #acceptErrorsSuppressed = 0

  /** @throws {InvalidArgumentError} an option is invalid; the message names it */
  constructor(options: NetTransportOptions = {}) {
    super(options)
    const bindAddrs = options.bindAddrs ?? ['127.0.0.1']
    if (!Array.isArray(bindAddrs) || bindAddrs.length === 0) {
      throw new InvalidArgumentError('bindAddrs must list at least one IP address')
    }
    for (const addr of bindAddrs) {
      if (typeof addr !== 'string' || isIP(addr) === 0) {
        throw new InvalidArgumentError(`bindAddrs: ${JSON.stringify(addr)} is not an IP address`)
      }
    }
    const bindPort = options.bindPort ?? 0
    checkPort(bindPort, 'bindPort')
    const recv = optionalNumber(
      options.udpRecvBufferSize,
      DEFAULT_UDP_RECV_BUFFER_SIZE,
      'udpRecvBufferSize',
      { positive: true, integer: true },
    )
    const maxStreams =
      options.maxStreamsPending === undefined
        ? undefined
        : checkNumber(options.maxStreamsPending, 'maxStreamsPending', {
            positive: true,
            integer: true,
          })
    this.#bindAddrs = [...bindAddrs]
    this.#bindPort = bindPort
    this.#udpRecvBufferSize = recv
    this.#maxStreamsPending = maxStreams
    this.#networkInterfaces = options.networkInterfaces ?? osNetworkInterfaces
  }

  /**
   * The port every socket is bound to (memberlist's `GetAutoBindPort`): the first TCP listener's.
   * @throws {NotListeningError} before `listen()` has bound
   */
  getAutoBindPort(): number {
    if (this.#boundPort === undefined)
      throw new NotListeningError('getAutoBindPort: call listen() first')
    return this.#boundPort
  }

  /**
   * memberlist's rules: a given IP is validated (IPv4-mapped IPv6 becomes IPv4) and used with the
   * given port, or the bound port when that is 0 or absent. Without an IP: bound to `0.0.0.0` or
   * `::` first, the first private IPv4 of the host's interfaces; otherwise the first bind address.
   *
   * @throws {InvalidArgumentError} the IP or port is invalid, or no private IPv4 exists to advertise
   * @throws {NotListeningError} the bound port or address is needed and `listen()` has not bound yet
   */
  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number } {
    if (port !== undefined) checkPort(port, 'advertise port')
    const advertisedIp = ip !== undefined && ip !== '' ? normaliseAdvertiseIp(ip) : undefined
    const needPort = port === undefined || port === 0
    if ((needPort || advertisedIp === undefined) && this.#boundPort === undefined) {
      throw new NotListeningError(
        'finalAdvertiseAddr: call listen() first or give both ip and port',
      )
    }
    const finalPort = needPort ? (this.#boundPort as number) : port
    if (advertisedIp !== undefined) return { ip: advertisedIp, port: finalPort }
    const first = this.#bindAddrs[0] as string
    if (isUnspecified(first)) {
      const privateIp = pickPrivateIPv4(this.#networkInterfaces())
      if (privateIp === undefined) {
        throw new InvalidArgumentError(
          `no private IPv4 address found to advertise for bind address ${first}; give an advertise ip explicitly`,
        )
      }
      return { ip: privateIp, port: finalPort }
    }
    return { ip: this.#firstTcpHost ?? first, port: finalPort }
  }

  /**
   * Sends one UDP datagram from the first bound socket of the destination's family. The name is
   * ignored. Resolves with the clock's time taken after the send completed (memberlist's choice:
   * it slightly under-estimates but accounts for delays before the write).
   *
   * @throws {PacketTooLargeError} more than 65,507 bytes; nothing is sent
   * @throws {InvalidArgumentError} empty packet or malformed address
   * @throws {NoRouteError} no socket of the destination's address family is bound
   * @throws {SocketError} the send failed (remote, `cause` kept); a failed name lookup is local
   */
  async writeToAddress(buf: Uint8Array, to: Address, options?: DialOptions): Promise<number> {
    this.assertListening('writeToAddress')
    this.checkPacket(buf, MAX_UDP_PAYLOAD, options?.signal)
    const target = parseHostPort(to.addr, 'packet destination')
    const route = this.#udpFor(target.host)
    if (route === undefined) {
      throw new NoRouteError(
        `writeToAddress: no UDP socket bound for the address family of ${to.addr}`,
      )
    }
    const lifetime = this.lifetime.signal
    return new Promise<number>((resolve, reject) => {
      let settled = false
      const finish = (err: Error | undefined) => {
        if (settled) return
        settled = true
        lifetime.removeEventListener('abort', onClose)
        if (err === undefined) {
          this.counters.packets.sent++
          resolve(this.clock.now())
        } else {
          this.counters.packets.sendErrors++
          reject(err)
        }
      }
      // dgram never calls back for a send whose socket closed during the address lookup.
      const onClose = () => finish(lifetime.reason as Error)
      lifetime.addEventListener('abort', onClose, { once: true })
      try {
        route.socket.send(buf, target.port, route.host, (err) =>
          finish(err ? sendError(err, to.addr) : undefined),
        )
      } catch (err) {
        finish(sendError(err as Error, to.addr))
      }
    })
  }

  /**
   * A plain TCP connection with no-delay set. The socket is destroyed on every failure path and by
   * `close()` if still open then.
   *
   * @throws {InvalidArgumentError} malformed address or timeout
   * @throws {TimeoutError} (remote) not connected within `timeoutMs`
   * @throws {AbortError} the signal fired ({@link TimeoutError} for `AbortSignal.timeout`)
   * @throws {SocketError} the connect failed, `cause.code` e.g. `ECONNREFUSED`; local (`remote:
   *   false`) when the host name did not resolve
   * @throws {ClosedError} / {DestroyedError} the transport closed meanwhile
   */
  async dialAddressTimeout(
    to: Address,
    timeoutMs: number,
    options: DialOptions = {},
  ): Promise<Duplex> {
    this.assertListening('dialAddressTimeout')
    const what = `dial ${to.addr}`
    const target = parseHostPort(to.addr, 'dial address')
    return this.dialStream(what, timeoutMs, options, (signal) =>
      dialTcp({
        host: target.host,
        port: target.port,
        timeoutMs: Number.POSITIVE_INFINITY,
        clock: this.clock,
        signal,
        what,
      }),
    )
  }

  override stats(): NetTransportStats {
    const bound = this.#bound
    return {
      ...super.stats(),
      bound:
        bound === undefined ? [] : this.#bindAddrs.map((addr) => formatHostPort(addr, bound.port)),
    }
  }

  protected async bind(signal: AbortSignal | undefined): Promise<void> {
    const attempts = this.#bindPort === 0 ? BIND_ATTEMPTS : 1
    let lastErr: unknown
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const bound = await this.#bindAll(signal)
        this.#bound = bound
        this.#boundPort = bound.port
        this.#firstTcpHost = (bound.servers[0]?.address() as { address: string } | null)?.address
        this.#start(bound)
        return
      } catch (err) {
        lastErr = err
        if (!(this.#bindPort === 0 && isAddrInUse(err))) throw err
        debug('NetTransport bind attempt %d: %s', attempt, (err as Error).message)
      }
    }
    throw lastErr
  }

  protected async release(): Promise<void> {
    const bound = this.#bound
    this.#bound = undefined
    const closing: Promise<void>[] = []
    if (bound !== undefined) {
      for (const socket of bound.udp) closing.push(closeUdp(socket))
      for (const server of bound.servers) closing.push(closeServer(server))
    }
    // server.close() calls back only once every accepted connection has ended (pitfall 1.9.2), so
    // the handed-over ones must go now or close() would wait on the consumer.
    this.destroyStreams()
    await Promise.all(closing)
  }

  /** Binds TCP then UDP on each address; on any failure closes what it opened and rethrows. */
  async #bindAll(signal: AbortSignal | undefined): Promise<Bound> {
    const bound: Bound = { servers: [], udp: [], port: this.#bindPort }
    try {
      for (const addr of this.#bindAddrs) {
        // Checked between steps rather than mid-step: a net.Server closed while its address lookup
        // is pending still binds afterwards.
        if (signal?.aborted) throw abortReason(signal, 'listen')
        const server = await listenTcp(addr, bound.port)
        bound.servers.push(server)
        if (bound.port === 0) bound.port = (server.address() as { port: number }).port
        if (signal?.aborted) throw abortReason(signal, 'listen')
        const udp = await bindUdp(addr, bound.port)
        bound.udp.push(udp)
        setRecvBuffer(udp, this.#udpRecvBufferSize, addr, bound.port)
      }
      if (signal?.aborted) throw abortReason(signal, 'listen')
      return bound
    } catch (err) {
      await Promise.all([...bound.udp.map(closeUdp), ...bound.servers.map(closeServer)])
      throw err
    }
  }

  /** Starts the receive and accept paths, only once every socket is bound (as memberlist does). */
  #start(bound: Bound): void {
    for (const udp of bound.udp) {
      udp.on('message', (msg, rinfo) => {
        const timestamp = this.clock.now()
        if (msg.length === 0) {
          this.counters.packets.received++
          this.counters.packets.dropped++
          debug(
            'NetTransport: dropped a zero-length datagram from %s',
            formatHostPort(rinfo.address, rinfo.port),
          )
          return
        }
        this.deliverPacket({
          buf: msg,
          from: formatHostPort(peerHost(rinfo.address), rinfo.port),
          timestamp,
        })
      })
      // A receive error does not stop the socket; memberlist logs and keeps reading.
      udp.on('error', (err) => {
        if (this.status === 'listening')
          this.reportError(
            new SocketError(`UDP receive: ${err.message}`, { remote: false, cause: err }),
          )
      })
    }
    for (const server of bound.servers) {
      if (this.#maxStreamsPending !== undefined) server.maxConnections = this.#maxStreamsPending
      server.on('connection', (socket: Socket) => {
        this.#acceptBackoffMs = 0
        socket.setNoDelay(true)
        this.trackStream(socket)
        this.deliverStream(socket)
      })
      server.on('drop', () => {
        this.counters.streams.dropped++
      })
      server.on('error', (err) => this.#onAcceptError(err))
    }
  }

  /**
   * memberlist sleeps 5 ms, doubling to 1 s, after a failed accept. A net.Server keeps accepting by
   * itself and libuv already copes with EMFILE/ENFILE (it sheds the pending connections with a
   * reserved descriptor instead of spinning), so there is nothing to pause; what the back-off still
   * bounds is the reporting: one `'error'` per window, with a count of those held back.
   */
  #onAcceptError(err: Error): void {
    if (this.status !== 'listening') return
    const now = this.clock.now()
    if (now < this.#acceptErrorsMutedUntil) {
      this.#acceptErrorsSuppressed++
      return
    }
    this.#acceptBackoffMs =
      this.#acceptBackoffMs === 0
        ? ACCEPT_BACKOFF_MIN_MS
        : Math.min(this.#acceptBackoffMs * 2, ACCEPT_BACKOFF_MAX_MS)
    this.#acceptErrorsMutedUntil = now + this.#acceptBackoffMs
    const held = this.#acceptErrorsSuppressed
    this.#acceptErrorsSuppressed = 0
    this.reportError(
      new SocketError(
        `TCP accept failed: ${err.message}${held > 0 ? ` (${held} more not reported)` : ''}`,
        {
          remote: false,
          cause: err,
        },
      ),
    )
  }

  /**
   * The socket and destination host for a datagram to `host`: the first socket of its family, or,
   * for IPv4 with only IPv6 bound, a dual-stack `::` socket and the IPv4-mapped address (a `udp6`
   * socket cannot send to a plain IPv4 address). An IPv4-mapped destination goes out as IPv4 when
   * an IPv4 socket is bound.
   */
  #udpFor(host: string): { socket: UdpSocket; host: string } | undefined {
    const udp = this.#bound?.udp ?? []
    const dest = ipv4FromMapped(host) ?? host
    const family = isIP(dest)
    if (family === 0) return udp[0] === undefined ? undefined : { socket: udp[0], host }
    // udp[i] is bound to bindAddrs[i].
    const i = this.#bindAddrs.findIndex((addr) => isIP(addr) === family)
    const same = udp[i]
    if (i >= 0 && same !== undefined) return { socket: same, host: dest }
    if (family === 4) {
      const j = this.#bindAddrs.findIndex((addr) => isIP(addr) === 6 && isUnspecified(addr))
      const dual = udp[j]
      if (j >= 0 && dual !== undefined) return { socket: dual, host: `::ffff:${dest}` }
    }
    return undefined
  }
}

/** `a.b.c.d` for an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), otherwise undefined. */
function ipv4FromMapped(host: string): string | undefined {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host)
  return m !== null && isIP(m[1] as string) === 4 ? m[1] : undefined
}

/** A peer's host as reported: IPv4 as IPv4, even when it reached a dual-stack socket mapped. */
function peerHost(host: string): string {
  return ipv4FromMapped(host) ?? host
}

function sendError(err: Error, addr: string): SocketError {
  // A failed name lookup is a local problem (memberlist returns the resolver's error, not a write error).
  const lookup = (err as NodeJS.ErrnoException).syscall === 'getaddrinfo'
  return new SocketError(`send to ${addr}: ${err.message}`, { remote: !lookup, cause: err })
}

function isAddrInUse(err: unknown): boolean {
  return (err as { cause?: { code?: unknown } } | undefined)?.cause?.code === 'EADDRINUSE'
}

function bindError(proto: string, host: string, port: number, err: Error): SocketError {
  return new SocketError(
    `failed to start ${proto} listener on ${formatHostPort(host, port)}: ${err.message}`,
    {
      remote: false,
      cause: err,
    },
  )
}

function listenTcp(host: string, port: number): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const server = createServer({ noDelay: true, allowHalfOpen: true })
    const done = (err: Error | undefined) => {
      server.off('listening', onListening)
      server.off('error', onError)
      if (err === undefined) {
        resolve(server)
        return
      }
      server.close()
      reject(bindError('TCP', host, port, err))
    }
    const onListening = () => done(undefined)
    const onError = (err: Error) => done(err)
    server.once('listening', onListening)
    server.once('error', onError)
    server.listen({ host, port })
  })
}

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  return new Promise<UdpSocket>((resolve, reject) => {
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' })
    const done = (err: Error | undefined) => {
      socket.off('listening', onListening)
      socket.off('error', onError)
      if (err === undefined) {
        resolve(socket)
        return
      }
      void closeUdp(socket)
      reject(bindError('UDP', host, port, err))
    }
    const onListening = () => done(undefined)
    const onError = (err: Error) => done(err)
    socket.once('listening', onListening)
    socket.once('error', onError)
    socket.bind({ address: host, port })
  })
}

/** memberlist's `setUDPRecvBuf`: halve until the kernel accepts (Linux caps silently, so usually the first try). */
function setRecvBuffer(socket: UdpSocket, size: number, host: string, port: number): void {
  let last: unknown
  for (let s = size; s >= 1; s = Math.floor(s / 2)) {
    try {
      socket.setRecvBufferSize(s)
      return
    } catch (err) {
      last = err
    }
  }
  throw bindError(
    'UDP',
    host,
    port,
    new Error(`could not set the receive buffer size: ${String(last)}`),
  )
}

function closeUdp(socket: UdpSocket): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve())
    } catch {
      // Already closed.
      resolve()
    }
  })
}

/** Resolves once the listener is closed; its connections must be destroyed by the caller. */
function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve())
  })
}
