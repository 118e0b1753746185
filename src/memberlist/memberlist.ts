import { lookup } from 'node:dns/promises'
import { type BlockList, isIP, isIPv4 } from 'node:net'
import type { Duplex } from 'node:stream'
import { EventEmitter } from 'eventemitter3'
import {
  ClosedError,
  GossipDecodeError,
  GossipRefusedError,
  InvalidArgumentError,
  JoinError,
  TimeoutError,
  type WanfedError,
} from '../errors.ts'
import { type Clock, systemClock, type TimerHandle } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { BoundedIterator, DEFAULT_HIGH_WATER_MARK } from '../transport/bounded-iterator.ts'
import type { Address, Packet, Transport } from '../transport/types.ts'
import { bytesToIp, ensurePort, ipToBytes, joinHostPort, splitHostPort } from './address.ts'
import { Awareness } from './awareness.ts'
import {
  buildVsn,
  DefaultLANConfig,
  type MemberlistConfig,
  type MemberlistOptions,
  parseCidrs,
  validateConfig,
} from './config.ts'
import type { MemberEvent, MemberEventType, MemberlistEvents, MemberlistStats } from './events.ts'
import { MemberlistBroadcast } from './memberlist-broadcast.ts'
import { NODE_STATE_WIRE, type Node, nodeStateFromWire } from './node.ts'
import {
  deadOrLeft,
  fullAddress,
  type NodeRec,
  recordFromAlive,
  setVsn,
  snapshot,
  vsnOf,
} from './node-record.ts'
import { releaseStream, withDeadline } from './stream-lifecycle.ts'
import { EMPTY_STREAM, writeStream } from './stream-reader.ts'
import { Suspicion } from './suspicion.ts'
import { TimerSet } from './timer-set.ts'
import { kRandom, pushPullScale, shuffle, suspicionTimeout } from './timing.ts'
import { TransmitLimitedQueue } from './transmit-limited-queue.ts'
import { verifyProtocol } from './verify-protocol.ts'
import { encodeCompound, encodeCompounds } from './wire/compound.ts'
import { type EncryptionVersion, encryptOverhead } from './wire/encryption.ts'
import { labelHeader, labelOverhead } from './wire/label.ts'
import { encodeMessage, encodeUserMessage } from './wire/message.ts'
import { MAX_PUSH_PULL_REQUESTS, META_MAX_SIZE, MessageType } from './wire/message-type.ts'
import { decodePacket, encodePacket, type PacketMessage } from './wire/packet.ts'
import {
  encodePushPull,
  encodeStreamMessage,
  encodeStreamStruct,
  encodeStreamUserMessage,
  type StreamMessage,
} from './wire/stream.ts'
import type { Alive, Dead, IndirectPingReq, Ping, PushNodeState, Suspect } from './wire/structs.ts'

/** Assumed compound header and per-part overheads (`compoundHeaderOverhead`, `compoundOverhead`). */
const COMPOUND_HEADER_OVERHEAD = 2
const COMPOUND_OVERHEAD = 2
const USER_MSG_OVERHEAD = 1
/** The CRC header (type byte and CRC-32) added for peers of protocol 5. */
const CRC_OVERHEAD = 5
/** Decompressed bytes one packet may expand to. */
const MAX_PACKET_DECOMPRESSED = 4 * 1024 * 1024

interface AckHandler {
  ack(payload: Buffer | undefined, timestamp: number): void
  nack?: () => void
  timer: TimerHandle | undefined
}

/**
 * A member of a gossip pool that speaks Go memberlist's protocol (SWIM with Lifeguard), so it can
 * join Consul's and Serf's pools. Runs over any {@link Transport}: `NetTransport` in a datacenter,
 * `WanfedTransport` across datacenters, `MemoryNetwork` in tests.
 *
 * ```ts
 * const transport = new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: 7946 })
 * const ml = await Memberlist.create({ ...DefaultLANConfig(), name: 'node-a', transport })
 * ml.on('join', (node) => console.log('joined', node.name))
 * await ml.join(['127.0.0.1:7947'])
 * ```
 */
export class Memberlist extends EventEmitter<MemberlistEvents> {
  readonly config: Readonly<MemberlistConfig>
  readonly #transport: Transport
  readonly #clock: Clock
  readonly #random: () => number
  readonly #awareness: Awareness
  readonly #allowed: BlockList | undefined
  readonly #broadcasts: TransmitLimitedQueue
  #nodes: NodeRec[] = []
  readonly #nodeMap = new Map<string, NodeRec>()
  readonly #nodeTimers = new Map<string, Suspicion>()
  readonly #ackHandlers = new Map<number, AckHandler>()
  readonly #timers: TimerSet
  readonly #streams = new Set<Duplex>()
  readonly #iterators = new Set<BoundedIterator<MemberEvent>>()
  #seqNo = 0
  #incarnation = 0
  #numNodes = 0
  #probeIndex = 0
  #probing = false
  #pushPulls = 0
  #advertise: { ip: Buffer; port: number } = { ip: Buffer.alloc(4), port: 0 }
  #left = false
  #closed = false
  #leaveNotify: (() => void) | undefined
  readonly #stats = {
    packets: { received: 0, sent: 0, sendErrors: 0 },
    streams: { accepted: 0, dialed: 0, errors: 0 },
    messages: {} as Record<string, number>,
    dropped: {} as Record<string, number>,
    probes: { sent: 0, acked: 0, indirect: 0, failed: 0 },
  }
  readonly #onPacket = (p: Packet): void => this.#ingestPacket(p)
  readonly #onStream = (s: Duplex): void => {
    this.#handleConn(s).catch((err: unknown) => this.#streamError(err))
  }

  private constructor(
    config: MemberlistConfig,
    transport: Transport,
    clock: Clock,
    random: () => number,
  ) {
    super()
    this.config = Object.freeze({ ...config })
    this.#transport = transport
    this.#clock = clock
    this.#timers = new TimerSet(clock)
    this.#random = random
    this.#awareness = new Awareness(config.awarenessMaxMultiplier)
    this.#allowed = parseCidrs(config.cidrsAllowed)
    this.#broadcasts = new TransmitLimitedQueue(() => this.#numNodes, config.retransmitMult)
  }

  /**
   * memberlist's `Create`: listens on the transport (unless it already is), announces this node
   * alive to itself and starts probing, gossip and push/pull. The node is alone until `join`.
   *
   * @throws {InvalidArgumentError} a config field is invalid (the message names it)
   */
  static async create(options: MemberlistOptions): Promise<Memberlist> {
    if (typeof options !== 'object' || options === null || options.transport === undefined) {
      throw new InvalidArgumentError('create: a transport is needed')
    }
    const { transport, clock, random, ...rest } = options
    const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined))
    const config: MemberlistConfig = { ...DefaultLANConfig(), ...defined }
    validateConfig(config)
    if (config.keyring !== undefined && config.protocolVersion < 1) {
      throw new InvalidArgumentError('encryption needs protocol version 1 or later')
    }
    const m = new Memberlist(config, transport, clock ?? systemClock, random ?? Math.random)
    transport.on('packet', m.#onPacket)
    transport.on('stream', m.#onStream)
    try {
      if (transport.status === 'idle') await transport.listen()
      m.#refreshAdvertise()
      m.#setAlive()
    } catch (err) {
      await m.close()
      throw err
    }
    m.#schedule()
    return m
  }

  // ---- public API ---------------------------------------------------------------------------

  /** This node as the cluster sees it. */
  get localNode(): Node {
    return snapshot(this.#nodeMap.get(this.config.name) as NodeRec)
  }

  /** Members not dead or left, this node included (`NumMembers`). */
  get numMembers(): number {
    let n = 0
    for (const node of this.#nodes) if (!deadOrLeft(node)) n++
    return n
  }

  /** Lifeguard's local health score: 0 is healthy; higher means this node is itself struggling. */
  get healthScore(): number {
    return this.#awareness.score
  }

  /** Members not dead or left, this node included (`Members`). */
  members(): Node[] {
    return this.#nodes.filter((n) => !deadOrLeft(n)).map(snapshot)
  }

  /** Every known node, dead and left ones too, until they are reaped. */
  allNodes(): Node[] {
    return this.#nodes.map(snapshot)
  }

  /**
   * memberlist's `Join`: a push/pull with each address (`host:port`, `name/host:port` to give
   * the node name, or a host name to resolve). Resolves with how many answered.
   *
   * @throws {JoinError} none answered; `cause` holds each failure
   */
  async join(addrs: readonly string[]): Promise<number> {
    this.#checkOpen()
    let ok = 0
    const errors: Error[] = []
    for (const s of addrs) {
      let targets: Address[]
      try {
        targets = await this.#resolveAddr(s)
      } catch (err) {
        errors.push(
          new InvalidArgumentError(`failed to resolve ${s}: ${(err as Error).message}`, {
            cause: err,
          }),
        )
        continue
      }
      for (const a of targets) {
        try {
          await this.#pushPullNode(a, true)
          ok++
        } catch (err) {
          errors.push(err as Error)
          debug('memberlist: failed to join %s: %s', a.addr, (err as Error).message)
        }
      }
    }
    if (ok === 0) {
      const first = errors[0]?.message ?? 'no addresses given'
      throw new JoinError(`failed to join any of ${addrs.length} addresses: ${first}`, {
        cause: new AggregateError(errors, 'join failures'),
      })
    }
    return ok
  }

  /**
   * memberlist's `Leave`: broadcasts this node dead with `From` = itself (which peers read as a
   * graceful leave) and waits until the broadcast went out, up to `timeoutMs`. Probing and
   * gossip continue until `close()`.
   *
   * @throws {TimeoutError} the broadcast did not finish in time
   */
  async leave(timeoutMs: number): Promise<void> {
    this.#checkOpen()
    if (this.#left) return
    this.#left = true
    const me = this.#nodeMap.get(this.config.name) as NodeRec
    const done = new Promise<void>((resolve) => {
      this.#leaveNotify = resolve
    })
    this.#deadNode({ incarnation: me.incarnation, node: me.name, from: me.name })
    if (this.#anyAlive())
      await this.#waitOrTimeout(done, timeoutMs, 'timeout waiting for leave broadcast')
  }

  /**
   * memberlist's `UpdateNode`: re-reads the delegate's node meta and gossips it with a new
   * incarnation, waiting up to `timeoutMs` for the broadcast to go out.
   *
   * @throws {TimeoutError}
   */
  async updateNode(timeoutMs: number): Promise<void> {
    this.#checkOpen()
    const meta = this.#nodeMeta()
    const me = this.#nodeMap.get(this.config.name) as NodeRec
    const done = new Promise<void>((resolve) => {
      this.#aliveNode(
        {
          incarnation: this.#nextIncarnation(),
          node: this.config.name,
          addr: me.addr,
          port: me.port,
          meta,
          vsn: buildVsn(this.config),
        },
        resolve,
        true,
      )
    })
    if (this.#anyAlive())
      await this.#waitOrTimeout(done, timeoutMs, 'timeout waiting for update broadcast')
  }

  /** A user message in one packet (`SendBestEffort`), delivered to the peer's `notifyMsg`. */
  async sendBestEffort(to: Node | string, msg: Uint8Array): Promise<void> {
    this.#checkOpen()
    const node = this.#target(to)
    await this.#rawSendMsgPacket(fullAddress(node), node, encodeUserMessage(msg))
  }

  /** A user message over a stream (`SendReliable`). */
  async sendReliable(to: Node | string, msg: Uint8Array): Promise<void> {
    this.#checkOpen()
    const node = this.#target(to)
    await this.#sendUserMsg(fullAddress(node), msg)
  }

  /** A user message in one packet to any address (`SendToAddress`). */
  async sendToAddress(to: Address, msg: Uint8Array): Promise<void> {
    this.#checkOpen()
    await this.#rawSendMsgPacket(to, undefined, encodeUserMessage(msg))
  }

  /**
   * memberlist's `Ping`: one ping to `node` at `addr` (`host:port`), outside the probe rounds.
   * Resolves with the round-trip time in ms.
   *
   * @throws {TimeoutError} no ack within `probeTimeoutMs`
   */
  async ping(node: string, addr: string): Promise<number> {
    this.#checkOpen()
    const seq = this.#nextSeqNo()
    let resolveAck: (timestamp: number) => void = () => {}
    const acked = new Promise<number>((resolve) => {
      resolveAck = resolve
    })
    const handler: AckHandler = { ack: (_p, timestamp) => resolveAck(timestamp), timer: undefined }
    handler.timer = this.#timers.after(this.config.probeIntervalMs, () =>
      this.#ackHandlers.delete(seq),
    )
    this.#ackHandlers.set(seq, handler)
    const sent = this.#clock.now()
    try {
      await this.#sendMsg(
        { addr, name: node },
        encodeMessage(MessageType.ping, 'ping', {
          seqNo: seq,
          node,
          sourceAddr: this.#advertise.ip,
          sourcePort: this.#advertise.port,
          sourceNode: this.config.name,
        }),
      )
      let timer: TimerHandle | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = this.#timers.after(this.config.probeTimeoutMs, () =>
          reject(new TimeoutError(`no response from node ${node}`)),
        )
      })
      try {
        return (await Promise.race([acked, timeout])) - sent
      } finally {
        this.#timers.cancel(timer)
      }
    } finally {
      this.#ackHandlers.delete(seq)
      this.#timers.cancel(handler.timer)
    }
  }

  /** Member events as an async iterator with a bounded queue (newest dropped when full, counted). */
  events(
    options: { highWaterMark?: number; signal?: AbortSignal } = {},
  ): AsyncIterableIterator<MemberEvent> & {
    readonly dropped: number
  } {
    const it: BoundedIterator<MemberEvent> = new BoundedIterator<MemberEvent>(
      options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      () => {
        this.#iterators.delete(it)
        options.signal?.removeEventListener('abort', onAbort)
      },
      () => {},
    )
    const onAbort = (): void => it.end()
    if (this.#closed) it.end()
    else {
      this.#iterators.add(it)
      options.signal?.addEventListener('abort', onAbort, { once: true })
    }
    return it
  }

  stats(): MemberlistStats {
    return {
      status: this.#closed ? 'closed' : this.#left ? 'left' : 'running',
      members: this.numMembers,
      healthScore: this.healthScore,
      packets: { ...this.#stats.packets },
      streams: { ...this.#stats.streams },
      messages: { ...this.#stats.messages },
      dropped: { ...this.#stats.dropped },
      probes: { ...this.#stats.probes },
      broadcastsQueued: this.#broadcasts.numQueued(),
    }
  }

  /**
   * memberlist's `Shutdown`: stops every timer and loop, ends open streams, closes the transport.
   * Without `leave()` first the others will see this node fail rather than leave. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#timers.clear()
    for (const s of this.#nodeTimers.values()) s.cancel()
    this.#nodeTimers.clear()
    this.#ackHandlers.clear()
    this.#broadcasts.reset()
    for (const s of this.#streams) s.destroy()
    this.#streams.clear()
    this.#transport.off('packet', this.#onPacket)
    this.#transport.off('stream', this.#onStream)
    for (const it of [...this.#iterators]) it.end()
    this.#iterators.clear()
    try {
      await this.#transport.close()
    } finally {
      this.emit('close')
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- timers -------------------------------------------------------------------------------

  async #waitOrTimeout(p: Promise<void>, timeoutMs: number, message: string): Promise<void> {
    if (!(timeoutMs > 0)) return p
    let timer: TimerHandle | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#timers.after(timeoutMs, () => reject(new TimeoutError(message)))
    })
    try {
      await Promise.race([p, timeout])
    } finally {
      this.#timers.cancel(timer)
    }
  }

  /** Probe, gossip and push/pull loops, each started after a random stagger (`schedule`). */
  #schedule(): void {
    const loop = (interval: () => number, fn: () => void): void => {
      const tick = (): void => {
        if (this.#closed) return
        try {
          fn()
        } finally {
          this.#timers.after(interval(), tick)
        }
      }
      this.#timers.after(Math.floor(this.#random() * interval()), tick)
    }
    const c = this.config
    if (c.probeIntervalMs > 0) {
      loop(
        () => c.probeIntervalMs,
        () => {
          if (this.#probing) return
          this.#probing = true
          this.#probe()
            .catch((err: unknown) => debug('memberlist: probe failed: %s', (err as Error).message))
            .finally(() => {
              this.#probing = false
            })
        },
      )
    }
    if (c.pushPullIntervalMs > 0) {
      loop(
        () => pushPullScale(c.pushPullIntervalMs, this.#numNodes),
        () => {
          this.#pushPull()
        },
      )
    }
    if (c.gossipIntervalMs > 0 && c.gossipNodes > 0)
      loop(
        () => c.gossipIntervalMs,
        () => this.#gossip(),
      )
  }

  // ---- identity -----------------------------------------------------------------------------

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('memberlist is closed')
  }

  #nextSeqNo(): number {
    this.#seqNo = (this.#seqNo + 1) >>> 0
    return this.#seqNo
  }

  #nextIncarnation(): number {
    this.#incarnation = (this.#incarnation + 1) >>> 0
    return this.#incarnation
  }

  #refreshAdvertise(): void {
    // As Go's NetTransport: with no advertise IP the transport's own address and port are used,
    // whatever advertisePort says (its default only mirrors the default bind port).
    const c = this.config
    const { ip, port } =
      c.advertiseAddr === ''
        ? this.#transport.finalAdvertiseAddr()
        : this.#transport.finalAdvertiseAddr(
            c.advertiseAddr,
            c.advertisePort === 0 ? undefined : c.advertisePort,
          )
    this.#advertise = { ip: ipToBytes(ip), port }
  }

  #nodeMeta(): Buffer {
    const meta = this.config.delegate?.nodeMeta?.(META_MAX_SIZE)
    if (meta === undefined) return Buffer.alloc(0)
    if (meta.length > META_MAX_SIZE) {
      throw new InvalidArgumentError(
        `node meta is ${meta.length} bytes, more than the limit of ${META_MAX_SIZE}`,
      )
    }
    return Buffer.from(meta)
  }

  #setAlive(): void {
    this.#aliveNode(
      {
        incarnation: this.#nextIncarnation(),
        node: this.config.name,
        addr: this.#advertise.ip,
        port: this.#advertise.port,
        meta: this.#nodeMeta(),
        vsn: buildVsn(this.config),
      },
      undefined,
      true,
    )
  }

  #target(to: Node | string): NodeRec {
    const name = typeof to === 'string' ? to : to.name
    const node = this.#nodeMap.get(name)
    if (node === undefined) throw new InvalidArgumentError(`unknown member ${JSON.stringify(name)}`)
    return node
  }

  /** `IPAllowed`: within `cidrsAllowed`, or no list at all. */
  #ipAllowed(ip: string): boolean {
    if (this.#allowed === undefined) return true
    if (ip === '') return false
    return this.#allowed.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')
  }

  #anyAlive(): boolean {
    return this.#nodes.some((n) => !deadOrLeft(n) && n.name !== this.config.name)
  }

  async #resolveAddr(s: string): Promise<Address[]> {
    let name: string | undefined
    let host = s
    const slash = s.indexOf('/')
    if (slash >= 0) {
      if (slash === 0) throw new InvalidArgumentError('empty node name provided')
      name = s.slice(0, slash)
      host = s.slice(slash + 1)
    }
    const hp = splitHostPort(ensurePort(host, this.config.bindPort))
    if (hp === undefined) throw new InvalidArgumentError(`not host:port: ${JSON.stringify(host)}`)
    const withName = (ip: string): Address => ({
      addr: joinHostPort(ip, hp.port),
      ...(name === undefined ? {} : { name }),
    })
    if (isIP(hp.host) !== 0) return [withName(hp.host)]
    const found = await lookup(hp.host, { all: true })
    return found.map((a) => withName(a.address))
  }

  // ---- counting and events ------------------------------------------------------------------

  #count(bucket: Record<string, number>, key: string): void {
    bucket[key] = (bucket[key] ?? 0) + 1
  }

  #drop(err: unknown): void {
    const e = err as WanfedError & { reason?: string }
    const reason =
      e.code === 'WANFED_ERR_GOSSIP_DECRYPT' ? 'decrypt' : (e.reason ?? e.code ?? 'error')
    this.#count(this.#stats.dropped, reason)
    debug('memberlist: dropped: %s', e.message)
  }

  #streamError(err: unknown): void {
    this.#stats.streams.errors++
    debug('memberlist: stream: %s', (err as Error).message)
  }

  #notify(type: MemberEventType, node: NodeRec): void {
    const snap = snapshot(node)
    for (const it of this.#iterators) it.push({ type, node: snap })
    this.emit(type, snap)
  }

  // ---- sending ------------------------------------------------------------------------------

  #encryption(): { vsn: EncryptionVersion; key: Buffer } | undefined {
    const key = this.config.keyring?.keysView()[0]
    if (key === undefined || !this.config.gossipVerifyOutgoing) return undefined
    return { vsn: this.config.protocolVersion === 1 ? 0 : 1, key }
  }

  #encryptionEnabled(): boolean {
    return (this.config.keyring?.size ?? 0) > 0
  }

  /** `rawSendMsgPacket`: compression, CRC for peers that read it, encryption, label. */
  async #rawSendMsgPacket(a: Address, node: NodeRec | undefined, msg: Uint8Array): Promise<void> {
    if ((a.name === undefined || a.name === '') && this.config.requireNodeNames) {
      throw new InvalidArgumentError(
        'node names are required by configuration but one was not provided',
      )
    }
    let peer = node
    if (peer === undefined) {
      // As memberlist: this finds the node only when node names are IPs.
      const host = splitHostPort(a.addr)?.host
      if (host !== undefined) peer = this.#nodeMap.get(host)
    }
    const buf = encodePacket(msg, {
      compress: this.config.enableCompression,
      crc: peer !== undefined && peer.pMax >= 5,
      encrypt: this.#encryption(),
      label: this.config.label,
    })
    try {
      await this.#transport.writeToAddress(buf, a)
      this.#stats.packets.sent++
    } catch (err) {
      this.#stats.packets.sendErrors++
      throw err
    }
  }

  /** `sendMsg`: one message with as many broadcasts piggybacked as fit. */
  async #sendMsg(a: Address, msg: Buffer): Promise<void> {
    // Unlike Go, the message's own slot in the compound's length table counts too, and the CRC
    // when the peer gets one, so a packet never exceeds udpBufferSize (Go's can by 2 or 7 bytes).
    let avail =
      this.config.udpBufferSize -
      msg.length -
      COMPOUND_HEADER_OVERHEAD -
      COMPOUND_OVERHEAD -
      labelOverhead(this.config.label)
    const peer = this.#nodeMap.get(splitHostPort(a.addr)?.host ?? '')
    if (peer !== undefined && peer.pMax >= 5) avail -= CRC_OVERHEAD
    const enc = this.#encryption()
    if (enc !== undefined) avail -= encryptOverhead(enc.vsn)
    const extra = this.#getBroadcasts(COMPOUND_OVERHEAD, avail)
    if (extra.length === 0) return this.#rawSendMsgPacket(a, undefined, msg)
    const all = [msg, ...extra]
    for (const c of encodeCompounds(all)) await this.#rawSendMsgPacket(a, undefined, c)
  }

  #getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const toSend = this.#broadcasts.getBroadcasts(overhead, limit)
    const d = this.config.delegate
    if (d?.getBroadcasts !== undefined) {
      let used = 0
      for (const m of toSend) used += m.length + overhead
      const avail = limit - used
      if (avail > overhead + USER_MSG_OVERHEAD) {
        for (const m of d.getBroadcasts(overhead + USER_MSG_OVERHEAD, avail))
          toSend.push(encodeUserMessage(m))
      }
    }
    return toSend
  }

  #queueBroadcast(node: string, msg: Buffer, notify?: () => void): void {
    this.#broadcasts.queueBroadcast(new MemberlistBroadcast(node, msg, notify))
  }

  #send(a: Address, msg: Buffer, what: string): void {
    this.#sendMsg(a, msg).catch((err: unknown) =>
      debug('memberlist: failed to send %s: %s', what, (err as Error).message),
    )
  }

  // ---- packets in ---------------------------------------------------------------------------

  #ingestPacket(p: Packet): void {
    if (this.#closed) return
    this.#stats.packets.received++
    const out = decodePacket(p.buf, {
      label: this.config.label,
      skipInboundLabelCheck: this.config.skipInboundLabelCheck,
      keys: this.config.keyring?.keysView() ?? [],
      verifyIncoming: this.config.gossipVerifyIncoming,
      maxDecompressed: MAX_PACKET_DECOMPRESSED,
    })
    for (const e of out.errors) this.#drop(e)
    for (const m of out.messages) {
      this.#count(this.#stats.messages, m.type)
      try {
        this.#handleMessage(m, p)
      } catch (err) {
        this.#drop(err)
      }
    }
  }

  #handleMessage(m: PacketMessage, p: Packet): void {
    switch (m.type) {
      case 'ping':
        this.#handlePing(m.body, p.from)
        return
      case 'indirectPing':
        this.#handleIndirectPing(m.body, p.from)
        return
      case 'ack': {
        const h = this.#ackHandlers.get(m.body.seqNo)
        if (h === undefined) return
        this.#ackHandlers.delete(m.body.seqNo)
        this.#timers.cancel(h.timer)
        h.ack(m.body.payload, p.timestamp)
        return
      }
      case 'nack':
        this.#ackHandlers.get(m.body.seqNo)?.nack?.()
        return
      case 'suspect':
        this.#suspectNode(m.body)
        return
      case 'alive': {
        const a = m.body
        // `ensureCanConnect`: the packet's source and the address it names must both be allowed.
        if (this.#allowed !== undefined) {
          const src = splitHostPort(p.from)?.host ?? ''
          const inner = bytesToIp(a.addr)
          if (!this.#ipAllowed(src) || (inner !== '' && !this.#ipAllowed(inner))) {
            this.#count(this.#stats.dropped, 'blocked')
            return
          }
        }
        if (this.config.protocolVersion < 2 || a.port === 0) a.port = this.config.bindPort
        this.#aliveNode(a, undefined, false)
        return
      }
      case 'dead':
        this.#deadNode(m.body)
        return
      case 'user':
        this.config.delegate?.notifyMsg?.(m.payload)
        return
    }
  }

  /** Where to answer: the address the sender put in the message, else the packet's source. */
  #replyAddress(
    sourceAddr: Buffer | undefined,
    sourcePort: number | undefined,
    sourceNode: string | undefined,
    from: string,
  ): Address {
    const addr =
      sourceAddr !== undefined && sourceAddr.length > 0 && (sourcePort ?? 0) > 0
        ? joinHostPort(bytesToIp(sourceAddr), sourcePort as number)
        : from
    return { addr, name: sourceNode ?? '' }
  }

  #handlePing(p: Ping, from: string): void {
    if (p.node !== '' && p.node !== this.config.name) {
      this.#count(this.#stats.dropped, 'wrong-node')
      return
    }
    const payload = this.config.ping?.ackPayload()
    const ack = encodeMessage(MessageType.ackResp, 'ack', {
      seqNo: p.seqNo,
      payload: payload === undefined ? undefined : Buffer.from(payload),
    })
    this.#send(this.#replyAddress(p.sourceAddr, p.sourcePort, p.sourceNode, from), ack, 'ack')
  }

  #handleIndirectPing(ind: IndirectPingReq, from: string): void {
    if (this.config.protocolVersion < 2 || ind.port === 0) ind.port = this.config.bindPort
    const seq = this.#nextSeqNo()
    const ping = encodeMessage(MessageType.ping, 'ping', {
      seqNo: seq,
      node: ind.node,
      sourceAddr: this.#advertise.ip,
      sourcePort: this.#advertise.port,
      sourceNode: this.config.name,
    })
    const requester = this.#replyAddress(ind.sourceAddr, ind.sourcePort, ind.sourceNode, from)
    let nackTimer: TimerHandle | undefined
    const handler: AckHandler = {
      ack: () => {
        this.#timers.cancel(nackTimer)
        this.#send(
          requester,
          encodeMessage(MessageType.ackResp, 'ack', { seqNo: ind.seqNo, payload: undefined }),
          'forwarded ack',
        )
      },
      timer: undefined,
    }
    handler.timer = this.#timers.after(this.config.probeTimeoutMs, () =>
      this.#ackHandlers.delete(seq),
    )
    this.#ackHandlers.set(seq, handler)
    this.#send(
      { addr: joinHostPort(bytesToIp(ind.target), ind.port), name: ind.node },
      ping,
      'indirect ping',
    )
    if (ind.nack) {
      nackTimer = this.#timers.after(this.config.probeTimeoutMs, () => {
        this.#send(
          requester,
          encodeMessage(MessageType.nackResp, 'nack', { seqNo: ind.seqNo }),
          'nack',
        )
      })
    }
  }

  // ---- probing (state.go) -------------------------------------------------------------------

  async #probe(): Promise<void> {
    let numCheck = 0
    for (;;) {
      if (numCheck >= this.#nodes.length) return
      if (this.#probeIndex >= this.#nodes.length) {
        this.#resetNodes()
        this.#probeIndex = 0
        numCheck++
        continue
      }
      const node = this.#nodes[this.#probeIndex] as NodeRec
      this.#probeIndex++
      if (node.name === this.config.name || deadOrLeft(node)) {
        numCheck++
        continue
      }
      await this.#probeNode(node)
      return
    }
  }

  /** `resetNodes`: reap nodes dead for longer than `gossipToTheDeadTime`, then reshuffle. */
  #resetNodes(): void {
    const now = this.#clock.now()
    const keep: NodeRec[] = []
    for (const n of this.#nodes) {
      if (deadOrLeft(n) && now - n.stateChange > this.config.gossipToTheDeadTimeMs) {
        this.#nodeMap.delete(n.name)
        continue
      }
      keep.push(n)
    }
    this.#nodes = keep
    this.#numNodes = keep.length
    shuffle(this.#nodes, this.#random)
  }

  async #probeNode(node: NodeRec): Promise<void> {
    if (this.#closed) return
    const c = this.config
    const probeInterval = this.#awareness.scaleTimeout(c.probeIntervalMs)
    const seq = this.#nextSeqNo()
    const ping: Ping = {
      seqNo: seq,
      node: node.name,
      sourceAddr: this.#advertise.ip,
      sourcePort: this.#advertise.port,
      sourceNode: c.name,
    }
    let acked: { payload: Buffer | undefined; timestamp: number } | undefined
    let nacks = 0
    let settle: () => void = () => {}
    const settled = new Promise<void>((resolve) => {
      settle = resolve
    })
    const handler: AckHandler = {
      ack: (payload, timestamp) => {
        acked = { payload, timestamp }
        settle()
      },
      nack: () => {
        nacks++
      },
      timer: undefined,
    }
    // Acks are accepted for the whole (stretched) probe interval, indirect ones included.
    handler.timer = this.#timers.after(probeInterval, () => {
      this.#ackHandlers.delete(seq)
      settle()
    })
    this.#ackHandlers.set(seq, handler)

    const sent = this.#clock.now()
    let awarenessDelta = 0
    this.#stats.probes.sent++
    try {
      let remoteFailure = false
      try {
        if (node.state === 'alive') {
          await this.#sendMsg(fullAddress(node), encodeMessage(MessageType.ping, 'ping', ping))
        } else {
          const s = encodeMessage(MessageType.suspect, 'suspect', {
            incarnation: node.incarnation,
            node: node.name,
            from: c.name,
          })
          await this.#rawSendMsgPacket(
            fullAddress(node),
            node,
            encodeCompound([encodeMessage(MessageType.ping, 'ping', ping), s]),
          )
        }
      } catch (err) {
        // Only a failure on the remote side goes on to indirect probes (memberlist's failedRemote).
        if ((err as WanfedError).remote !== true) return
        remoteFailure = true
      }
      if (!remoteFailure) {
        awarenessDelta = -1
        await Promise.race([settled, this.#timers.sleep(c.probeTimeoutMs)])
        if (acked !== undefined) {
          this.#stats.probes.acked++
          c.ping?.notifyPingComplete(
            snapshot(node),
            acked.timestamp - sent,
            acked.payload ?? Buffer.alloc(0),
          )
          return
        }
      }
      if (this.#closed) return

      // Indirect probes through up to k other alive members.
      const peers = kRandom(
        c.indirectChecks,
        this.#nodes,
        (n) => n.name === c.name || n.name === node.name || n.state !== 'alive',
        this.#random,
      )
      let expectedNacks = 0
      for (const peer of peers) {
        const nack = peer.pMax >= 4
        if (nack) expectedNacks++
        const ind: IndirectPingReq = {
          seqNo: seq,
          target: node.addr,
          port: node.port,
          node: node.name,
          nack,
          sourceAddr: this.#advertise.ip,
          sourcePort: this.#advertise.port,
          sourceNode: c.name,
        }
        this.#stats.probes.indirect++
        this.#send(
          fullAddress(peer),
          encodeMessage(MessageType.indirectPing, 'indirectPing', ind),
          'indirect ping',
        )
      }
      const disableTcp = c.disableTcpPings || (c.disableTcpPingsForNode?.(node.name) ?? false)
      const fallback =
        !disableTcp && node.pMax >= 3
          ? this.#tcpPing(node, ping, sent + probeInterval)
          : Promise.resolve(false)
      await settled
      if (acked !== undefined) {
        this.#stats.probes.acked++
        return
      }
      if (await fallback) {
        debug('memberlist: reached %s over a stream but not with packets', node.name)
        return
      }
      this.#stats.probes.failed++
      debug(
        'memberlist: probe of %s failed: acked=%s nacks=%d fallbackDisabled=%s left=%d',
        node.name,
        String(acked),
        nacks,
        String(disableTcp),
        sent + probeInterval - this.#clock.now(),
      )
      awarenessDelta = expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1
      if (this.#closed) return
      this.#suspectNode({ incarnation: node.incarnation, node: node.name, from: c.name })
    } finally {
      this.#ackHandlers.delete(seq)
      this.#timers.cancel(handler.timer)
      this.#awareness.applyDelta(awarenessDelta)
    }
  }

  /** `sendPingAndWaitForAck`: the stream fallback; a failed dial only means "not reached". */
  async #tcpPing(node: NodeRec, ping: Ping, deadline: number): Promise<boolean> {
    const left = deadline - this.#clock.now()
    if (left <= 0) return false
    let stream: Duplex
    try {
      stream = await this.#dial(fullAddress(node), left)
    } catch {
      return false
    }
    try {
      const reply = await withDeadline(
        stream,
        deadline - this.#clock.now(),
        this.#timers,
        async (reader) => {
          await writeStream(
            stream,
            this.#streamMessage(encodeStreamStruct(MessageType.ping, 'ping', ping)),
          )
          return reader.readMessage(this.#streamDecode(this.config.label))
        },
      )
      return reply !== EMPTY_STREAM && reply.type === 'ack' && reply.body.seqNo === ping.seqNo
    } catch (err) {
      this.#streamError(err)
      return false
    } finally {
      releaseStream(stream, this.#timers)
    }
  }

  // ---- state changes (state.go) -------------------------------------------------------------

  #refute(me: NodeRec, accusedInc: number): void {
    let inc = this.#nextIncarnation()
    if (accusedInc >= inc) {
      this.#incarnation = (accusedInc + 1) >>> 0
      inc = this.#incarnation
    }
    me.incarnation = inc
    this.#awareness.applyDelta(1)
    const a: Alive = {
      incarnation: inc,
      node: me.name,
      addr: me.addr,
      port: me.port,
      meta: me.meta,
      vsn: vsnOf(me),
    }
    this.#queueBroadcast(me.name, encodeMessage(MessageType.alive, 'alive', a))
  }

  #aliveNode(a: Alive, notify: (() => void) | undefined, bootstrap: boolean): void {
    const c = this.config
    let state = this.#nodeMap.get(a.node)
    if (this.#left && a.node === c.name) return
    const vsn = a.vsn
    if (vsn !== undefined && vsn.length >= 3) {
      const [pMin, pMax] = [vsn[0] as number, vsn[1] as number]
      if (pMin === 0 || pMax === 0 || pMin > pMax) {
        this.#count(this.#stats.dropped, 'bad-version')
        return
      }
    }
    if (c.alive !== undefined) {
      if (vsn === undefined || vsn.length < 6) {
        this.#count(this.#stats.dropped, 'no-version')
        return
      }
      try {
        c.alive.notifyAlive(snapshot(recordFromAlive(a, 'alive', this.#clock.now())))
      } catch (err) {
        this.#count(this.#stats.dropped, 'alive-vetoed')
        debug('memberlist: ignoring alive message for %s: %s', a.node, (err as Error).message)
        return
      }
    }
    let updatesNode = false
    if (state === undefined) {
      if (!this.#ipAllowed(bytesToIp(a.addr))) {
        this.#count(this.#stats.dropped, 'blocked')
        return
      }
      state = recordFromAlive(a, 'dead', this.#clock.now())
      this.#nodeMap.set(a.node, state)
      // Insert at a random position so probing order stays random.
      const n = this.#nodes.length
      const offset = Math.floor(this.#random() * (n + 1))
      this.#nodes.push(state)
      if (offset < n) {
        const t = this.#nodes[offset] as NodeRec
        this.#nodes[offset] = state
        this.#nodes[n] = t
      }
      this.#numNodes++
    } else if (
      !Buffer.from(state.addr ?? []).equals(Buffer.from(a.addr ?? [])) ||
      state.port !== a.port
    ) {
      if (!this.#ipAllowed(bytesToIp(a.addr))) {
        this.#count(this.#stats.dropped, 'blocked')
        return
      }
      const canReclaim =
        c.deadNodeReclaimTimeMs > 0 &&
        this.#clock.now() - state.stateChange > c.deadNodeReclaimTimeMs
      if (state.state === 'left' || (state.state === 'dead' && canReclaim)) {
        updatesNode = true
      } else {
        this.#count(this.#stats.dropped, 'conflict')
        c.conflict?.notifyConflict(
          snapshot(state),
          snapshot(recordFromAlive(a, 'alive', this.#clock.now())),
        )
        return
      }
    }
    const isLocal = state.name === c.name
    if (a.incarnation <= state.incarnation && !isLocal && !updatesNode) return
    if (a.incarnation < state.incarnation && isLocal) return

    this.#clearSuspicion(a.node)
    const oldState = state.state
    const oldMeta = state.meta
    if (!bootstrap && isLocal) {
      // Someone gossips about us: refute unless it is exactly what we are.
      if (
        a.incarnation === state.incarnation &&
        Buffer.from(a.meta ?? []).equals(state.meta) &&
        Buffer.from(a.vsn ?? []).equals(vsnOf(state))
      ) {
        return
      }
      this.#refute(state, a.incarnation)
    } else {
      this.#queueBroadcast(a.node, encodeMessage(MessageType.alive, 'alive', a), notify)
      if (vsn !== undefined && vsn.length >= 6) setVsn(state, vsn)
      state.incarnation = a.incarnation
      state.meta = Buffer.from(a.meta ?? [])
      state.addr = a.addr
      state.port = a.port
      if (state.state !== 'alive') {
        state.state = 'alive'
        state.stateChange = this.#clock.now()
      }
    }
    if (oldState === 'dead' || oldState === 'left') {
      this.#notify('join', state)
      this.#notify('alive', state)
    } else {
      if (oldState === 'suspect' && state.state === 'alive') this.#notify('alive', state)
      if (!oldMeta.equals(state.meta)) this.#notify('update', state)
    }
  }

  #clearSuspicion(name: string): void {
    this.#nodeTimers.get(name)?.cancel()
    this.#nodeTimers.delete(name)
  }

  #suspectNode(s: Suspect): void {
    const state = this.#nodeMap.get(s.node)
    if (state === undefined) return
    if (s.incarnation < state.incarnation) return
    const timer = this.#nodeTimers.get(s.node)
    if (timer !== undefined) {
      if (timer.confirm(s.from))
        this.#queueBroadcast(s.node, encodeMessage(MessageType.suspect, 'suspect', s))
      return
    }
    if (state.state !== 'alive') return
    if (state.name === this.config.name) {
      this.#refute(state, s.incarnation)
      return
    }
    this.#queueBroadcast(s.node, encodeMessage(MessageType.suspect, 'suspect', s))
    state.incarnation = s.incarnation
    state.state = 'suspect'
    const changeTime = this.#clock.now()
    state.stateChange = changeTime
    // Lifeguard: wait for k independent confirmations, unless the cluster is too small for them.
    let k = this.config.suspicionMult - 2
    const n = this.#numNodes
    if (n - 2 < k) k = 0
    const min = suspicionTimeout(this.config.suspicionMult, n, this.config.probeIntervalMs)
    const max = this.config.suspicionMaxTimeoutMult * min
    const fn = (confirmations: number): void => {
      const cur = this.#nodeMap.get(s.node)
      if (cur === undefined || cur.state !== 'suspect' || cur.stateChange !== changeTime) return
      this.#nodeTimers.delete(s.node)
      debug(
        'memberlist: marking %s as failed, suspect timeout reached (%d peer confirmations)',
        cur.name,
        confirmations,
      )
      this.#deadNode({ incarnation: cur.incarnation, node: cur.name, from: this.config.name })
    }
    this.#nodeTimers.set(s.node, new Suspicion(s.from, k, min, max, fn, this.#clock))
    this.#notify('suspect', state)
  }

  #deadNode(d: Dead): void {
    const state = this.#nodeMap.get(d.node)
    if (state === undefined) return
    if (d.incarnation < state.incarnation) return
    this.#clearSuspicion(d.node)
    if (deadOrLeft(state)) return
    if (state.name === this.config.name) {
      if (!this.#left) {
        this.#refute(state, d.incarnation)
        return
      }
      this.#queueBroadcast(d.node, encodeMessage(MessageType.dead, 'dead', d), () => {
        const n = this.#leaveNotify
        this.#leaveNotify = undefined
        n?.()
      })
    } else {
      this.#queueBroadcast(d.node, encodeMessage(MessageType.dead, 'dead', d))
    }
    state.incarnation = d.incarnation
    state.state = d.node === d.from ? 'left' : 'dead'
    state.stateChange = this.#clock.now()
    this.#notify('leave', state)
    this.#notify('dead', state)
  }

  #mergeState(remote: readonly PushNodeState[]): void {
    for (const r of remote) {
      switch (nodeStateFromWire(r.state)) {
        case 'alive':
          this.#aliveNode(
            {
              incarnation: r.incarnation,
              node: r.name,
              addr: r.addr,
              port: r.port,
              meta: r.meta,
              vsn: r.vsn,
            },
            undefined,
            false,
          )
          break
        case 'left':
          this.#deadNode({ incarnation: r.incarnation, node: r.name, from: r.name })
          break
        case 'dead':
        case 'suspect':
          this.#suspectNode({ incarnation: r.incarnation, node: r.name, from: this.config.name })
          break
        default:
          break
      }
    }
  }

  #mergeRemoteState(join: boolean, remote: PushNodeState[], userState: Buffer | undefined): void {
    verifyProtocol(remote, this.#nodes)
    if (join && this.config.merge !== undefined) {
      const peers = remote.map((n) => {
        const rec = recordFromAlive(
          {
            incarnation: n.incarnation,
            node: n.name,
            addr: n.addr,
            port: n.port,
            meta: n.meta,
            vsn: n.vsn,
          },
          nodeStateFromWire(n.state) ?? 'dead',
          this.#clock.now(),
        )
        return snapshot(rec)
      })
      try {
        this.config.merge.notifyMerge(peers)
      } catch (err) {
        throw new GossipRefusedError(`merge refused: ${(err as Error).message}`, { cause: err })
      }
    }
    this.#mergeState(remote)
    if (userState !== undefined) this.config.delegate?.mergeRemoteState?.(userState, join)
  }

  // ---- gossip and push/pull -----------------------------------------------------------------

  #gossip(): void {
    const c = this.config
    const now = this.#clock.now()
    const targets = kRandom(
      c.gossipNodes,
      this.#nodes,
      (n) => {
        if (n.name === c.name) return true
        if (n.state === 'alive' || n.state === 'suspect') return false
        if (n.state === 'dead') return now - n.stateChange > c.gossipToTheDeadTimeMs
        return true
      },
      this.#random,
    )
    let avail = c.udpBufferSize - COMPOUND_HEADER_OVERHEAD - labelOverhead(c.label)
    if (this.#encryptionEnabled()) avail -= encryptOverhead(c.protocolVersion === 1 ? 0 : 1)
    for (const node of targets) {
      const msgs = this.#getBroadcasts(
        COMPOUND_OVERHEAD,
        node.pMax >= 5 ? avail - CRC_OVERHEAD : avail,
      )
      if (msgs.length === 0) return
      const packets = msgs.length === 1 ? msgs : encodeCompounds(msgs)
      for (const p of packets) {
        this.#rawSendMsgPacket(fullAddress(node), node, p).catch((err: unknown) =>
          debug('memberlist: failed to send gossip to %s: %s', node.name, (err as Error).message),
        )
      }
    }
  }

  #pushPull(): void {
    const [node] = kRandom(
      1,
      this.#nodes,
      (n) => n.name === this.config.name || n.state !== 'alive',
      this.#random,
    )
    if (node === undefined) return
    this.#pushPullNode(fullAddress(node), false).catch((err: unknown) => {
      this.#streamError(err)
    })
  }

  async #pushPullNode(a: Address, join: boolean): Promise<void> {
    const { nodes, userState } = await this.#sendAndReceiveState(a, join)
    this.#mergeRemoteState(join, nodes, userState)
  }

  async #dial(a: Address, timeoutMs: number): Promise<Duplex> {
    if ((a.name === undefined || a.name === '') && this.config.requireNodeNames) {
      throw new InvalidArgumentError(
        'node names are required by configuration but one was not provided',
      )
    }
    const stream = await this.#transport.dialAddressTimeout(a, timeoutMs)
    this.#stats.streams.dialed++
    if (this.#closed) {
      stream.destroy()
      throw new ClosedError('memberlist is closed')
    }
    this.#track(stream)
    // The label goes once, first, as memberlist's label-wrapping transport writes it.
    if (this.config.label !== '') stream.write(labelHeader(this.config.label))
    return stream
  }

  #track(stream: Duplex): void {
    this.#streams.add(stream)
    stream.once('close', () => this.#streams.delete(stream))
    stream.on('error', () => {})
  }

  #streamDecode(label: string): {
    label: string
    keys: readonly Buffer[]
    verifyIncoming: boolean
  } {
    return {
      label,
      keys: this.config.keyring?.keysView() ?? [],
      verifyIncoming: this.config.gossipVerifyIncoming,
    }
  }

  #streamMessage(body: Buffer, label = this.config.label): Buffer {
    return encodeStreamMessage(body, {
      compress: this.config.enableCompression,
      encrypt: this.#encryption(),
      label,
    })
  }

  #localState(join: boolean, label: string): Buffer {
    const nodes: PushNodeState[] = this.#nodes.map((n) => ({
      name: n.name,
      addr: n.addr,
      port: n.port,
      meta: n.meta,
      incarnation: n.incarnation,
      state: NODE_STATE_WIRE[n.state],
      vsn: vsnOf(n),
    }))
    const user = this.config.delegate?.localState?.(join)
    return this.#streamMessage(
      encodePushPull(join, nodes, user === undefined || user.length === 0 ? undefined : user),
      label,
    )
  }

  async #sendAndReceiveState(
    a: Address,
    join: boolean,
  ): Promise<{ nodes: PushNodeState[]; userState: Buffer | undefined }> {
    const stream = await this.#dial(a, this.config.tcpTimeoutMs)
    try {
      return await withDeadline(stream, this.config.tcpTimeoutMs, this.#timers, async (reader) => {
        await writeStream(stream, this.#localState(join, this.config.label))
        const reply = await reader.readMessage(this.#streamDecode(this.config.label))
        if (reply === EMPTY_STREAM)
          throw new GossipDecodeError('push/pull: the peer closed without answering', {
            reason: 'truncated',
          })
        if (reply.type === 'err') throw new GossipRefusedError(`remote error: ${reply.body.error}`)
        if (reply.type !== 'pushPull') {
          throw new GossipDecodeError(`received ${reply.type}, expected a push/pull`, {
            reason: 'unknown-type',
          })
        }
        return { nodes: reply.nodes, userState: reply.userState }
      })
    } finally {
      releaseStream(stream, this.#timers)
    }
  }

  async #sendUserMsg(a: Address, msg: Uint8Array): Promise<void> {
    const stream = await this.#dial(a, this.config.tcpTimeoutMs)
    try {
      await withDeadline(stream, this.config.tcpTimeoutMs, this.#timers, async () => {
        await writeStream(stream, this.#streamMessage(encodeStreamUserMessage(msg)))
        await new Promise<void>((resolve) => stream.end(resolve))
      })
    } finally {
      releaseStream(stream, this.#timers)
    }
  }

  /** `handleConn`: one inbound stream, one message, one answer at most. */
  async #handleConn(stream: Duplex): Promise<void> {
    if (this.#closed) {
      stream.destroy()
      return
    }
    this.#stats.streams.accepted++
    this.#track(stream)
    try {
      await withDeadline(stream, this.config.tcpTimeoutMs, this.#timers, async (reader) => {
        let label: string | typeof EMPTY_STREAM
        try {
          label = await reader.readLabel(this.config.label, this.config.skipInboundLabelCheck)
        } catch (err) {
          this.#drop(err)
          return
        }
        if (label === EMPTY_STREAM) return
        let msg: StreamMessage | typeof EMPTY_STREAM
        try {
          msg = await reader.readMessage(this.#streamDecode(label))
        } catch (err) {
          this.#drop(err)
          // As memberlist: tell the peer why, in the clear or encrypted as configured.
          const reply = this.#streamMessage(
            encodeStreamStruct(MessageType.err, 'err', { error: (err as Error).message }),
            label,
          )
          await writeStream(stream, reply).catch(() => {})
          return
        }
        if (msg === EMPTY_STREAM) return
        this.#count(this.#stats.messages, `stream-${msg.type}`)
        await this.#answer(stream, msg, label)
      })
    } finally {
      releaseStream(stream, this.#timers)
    }
  }

  async #answer(stream: Duplex, msg: StreamMessage, label: string): Promise<void> {
    switch (msg.type) {
      case 'user':
        this.config.delegate?.notifyMsg?.(msg.payload)
        return
      case 'pushPull': {
        if (this.#pushPulls >= MAX_PUSH_PULL_REQUESTS - 1) {
          this.#count(this.#stats.dropped, 'too-many-push-pulls')
          return
        }
        this.#pushPulls++
        try {
          await writeStream(stream, this.#localState(msg.join, label))
          try {
            this.#mergeRemoteState(msg.join, msg.nodes, msg.userState)
          } catch (err) {
            this.#drop(err)
          }
          await new Promise<void>((resolve) => stream.end(resolve))
        } finally {
          this.#pushPulls--
        }
        return
      }
      case 'ping': {
        if (msg.body.node !== '' && msg.body.node !== this.config.name) {
          this.#count(this.#stats.dropped, 'wrong-node')
          return
        }
        const ack = this.#streamMessage(
          encodeStreamStruct(MessageType.ackResp, 'ack', {
            seqNo: msg.body.seqNo,
            payload: undefined,
          }),
          label,
        )
        await writeStream(stream, ack)
        await new Promise<void>((resolve) => stream.end(resolve))
        return
      }
      default:
        this.#count(this.#stats.dropped, 'unknown-type')
    }
  }
}
