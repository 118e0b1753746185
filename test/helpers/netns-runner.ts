/**
 * The process that runs inside a namespace (`ip netns exec <ns> node --import tsx <this file>`):
 * one wanfed node (NetTransport + AlpnServer + WanfedTransport), one MeshGateway, or delay relays,
 * driven by the test over the IPC channel (see netns-child.ts for the parent side). Requests are
 * `{ id, op, ...args }`, answers `{ id, ok, result }` or `{ id, ok: false, error }`. The process
 * exits when the channel closes, so a test that dies takes its children with it.
 */

import { createSocket } from 'node:dgram'
import { subscribe } from 'node:diagnostics_channel'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { ALPN_DIAGNOSTICS_CHANNELS, AlpnServer } from '../../src/alpn/index.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { ALPN_FEDERATION_STATE } from '../../src/locator/federation/rpc-protocol.ts'
import type { MeshGatewayInput } from '../../src/locator/federation/validate.ts'
import { FederationControlPlane, StaticGatewayLocator } from '../../src/locator/index.ts'
import { DefaultWANConfig, Memberlist } from '../../src/memberlist/index.ts'
import { expectNoLeakedHandles, handleCounts } from '../../src/testing/handles.ts'
import { splitNodeName } from '../../src/transport/index.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { DelayRelay } from './delay-relay.ts'

export interface TlsPem {
  ca: string
  cert: string
  key: string
}

type Peer = { name: string; addr: string }

export interface NodeConfig {
  /** `<node>.<dc>` */
  name: string
  ip: string
  tls: TlsPem
  /** Gateways by datacenter (this DC's own gateways' LAN addresses, as production has it). */
  gateways: Record<string, string[]>
  /** Always pick the first healthy gateway, so a test knows which one carries the traffic. */
  firstHealthy?: boolean
  /** Pooled packet connections idle this long are closed. Default here 1,000 ms (the library's: 120 s). */
  poolIdleTimeoutMs?: number
}

/** Federation states on a node: its store, service, locator and (in a secondary) replication. */
export interface FederationConfig {
  primaryDatacenter: string
  /** This DC's mesh gateways, as anti-entropy reports them. */
  gateways: MeshGatewayInput[]
  /** A secondary's route to the primary until replication knows better. */
  primaryGateways?: string[]
  /** Replication's blocking wait and the client's request timeout (defaults here: the library's). */
  replicationWaitMs?: number
  requestTimeoutMs?: number
}

export interface GatewayConfig {
  datacenter: string
  servers: Record<string, string>
  gateways: Record<string, string[]>
  /** Always pick the first healthy gateway, so a test knows which one carries the traffic. */
  firstHealthy?: boolean
  /** MeshGateway's writeStallTimeoutMs. Default here 2,000 ms (the library's: 15 s). */
  writeStallTimeoutMs?: number
}

/** An error as it crosses the channel: enough to tell a typed WanfedError from a raw one. */
export interface WireError {
  name: string
  message: string
  code?: string
  remote?: boolean
}

export interface ProbeResult {
  ok: boolean
  ms: number
  error?: WireError
}

export interface FlowReport {
  /** Packets the flow tried to send (its next sequence number), once stopped. */
  attempted?: number
  /** Sends that resolved: written, or dropped by the transport (`dropped` of these). */
  resolved: number
  /**
   * Cross-DC packets the transport dropped while the flow ran (congested, waiting for a dial, in
   * a dial backoff), from its `packets.sendDropped` counter: a dropped send still resolves.
   */
  dropped: number
  /** Sends that rejected. */
  errors: number
  errorCodes: Record<string, number>
  /** The first few distinct error messages. */
  errorSamples: string[]
}

export interface StreamReport {
  state: 'open' | 'ended' | 'errored' | 'closed'
  written: number
  echoed: number
  error?: WireError
  /** ms from the last echo received to the end or error. */
  endedAfterMs?: number
  endedAt?: number
}

const NODE_PORT = 8302
const SERVER_PORT = 8300
const GATEWAY_PORT = 8443

let node:
  | {
      transport: WanfedTransport
      server: AlpnServer
      locator: StaticGatewayLocator
      name: string
      addr: string
    }
  | undefined
let gateway: MeshGateway | undefined
let plane: FederationControlPlane | undefined
let federationGateways: MeshGatewayInput[] = []
const federationDials = new Map<string, { connected: number; failed: number }>()
/** Counts this node's federation-state dials (the secondary's client to the primary) by gateway. */
function onFederationDial(message: unknown, name: string | symbol): void {
  const m = message as { gateway: string; alpn: string }
  if (m.alpn !== ALPN_FEDERATION_STATE) return
  const d = federationDials.get(m.gateway) ?? { connected: 0, failed: 0 }
  if (name === ALPN_DIAGNOSTICS_CHANNELS.dialError) d.failed++
  else d.connected++
  federationDials.set(m.gateway, d)
}
let gossip: Memberlist | undefined
/** Membership events seen by this node's memberlist: what happened to whom, and when. */
const memberEvents: { type: string; node: string; at: number; incarnation: number }[] = []
/** Probe round trips memberlist measured (its ping delegate), by peer. */
const probeRtts: { node: string; rttMs: number }[] = []
let nodeTls: TlsPem | undefined
const relays = new Map<string, DelayRelay>()
/** Flow packets received: sequence number, send time (the sender's Date.now()) and arrival time. */
export interface Received {
  flow: string
  seq: number
  sentAt: number
  at: number
}
const received: Received[] = []
const messages: string[] = []
const pongs = new Map<number, () => void>()
const flows = new Map<
  string,
  { timer: NodeJS.Timeout; report: FlowReport; seq: number; droppedAtStart: number }
>()
const streams = new Map<number, { stream: Duplex; timer: NodeJS.Timeout; report: StreamReport }>()
let nextStream = 1

function wire(err: unknown): WireError {
  const e = err as Error & { code?: unknown; remote?: unknown }
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.remote === 'boolean' ? { remote: e.remote } : {}),
  }
}

function locator(gateways: Record<string, string[]>, firstHealthy = false): StaticGatewayLocator {
  return new StaticGatewayLocator(gateways, firstHealthy ? { random: () => 0 } : {})
}

function send(to: Peer, body: unknown): Promise<number> {
  if (node === undefined) throw new Error('not a node')
  return node.transport.writeToAddress(Buffer.from(JSON.stringify(body)), to)
}

function onPacket(buf: Buffer): void {
  let msg: {
    k?: string
    seq?: number
    from?: string
    addr?: string
    flow?: string
    text?: string
    t?: number
  }
  try {
    msg = JSON.parse(buf.toString())
  } catch {
    return
  }
  if (msg.k === 'ping' && msg.from !== undefined && msg.addr !== undefined) {
    send({ name: msg.from, addr: msg.addr }, { k: 'pong', seq: msg.seq }).catch(() => {})
  } else if (msg.k === 'pong') {
    pongs.get(msg.seq as number)?.()
  } else if (msg.k === 'flow') {
    received.push({
      flow: msg.flow as string,
      seq: msg.seq as number,
      sentAt: msg.t as number,
      at: Date.now(),
    })
  } else if (msg.k === 'msg') {
    messages.push(msg.text as string)
  }
}

/** Every stream echoes what it reads: round trips and cut streams are measured by the dialler. */
function echo(s: Duplex): void {
  s.on('error', () => {})
  s.pipe(s)
}

/**
 * A memberlist on this node's WanfedTransport, as Consul's WAN pool: WAN timings made quicker for
 * tests, node names `<node>.<dc>` required, no stream pings across datacenters.
 */
async function startGossip(probeTimeoutMs: number): Promise<null> {
  if (node === undefined) throw new Error('not a node')
  // memberlist owns the transport's streams from now on.
  node.transport.off('stream', echo)
  const local = splitNodeName(node.name).datacenter
  gossip = await Memberlist.create({
    ...DefaultWANConfig(),
    name: node.name,
    transport: node.transport,
    probeIntervalMs: 500,
    probeTimeoutMs,
    gossipIntervalMs: 100,
    pushPullIntervalMs: 5_000,
    suspicionMult: 2,
    suspicionMaxTimeoutMult: 2,
    tcpTimeoutMs: 5_000,
    requireNodeNames: true,
    disableTcpPingsForNode: (name: string) => splitNodeName(name).datacenter !== local,
    ping: {
      ackPayload: () => new Uint8Array(0),
      notifyPingComplete: (other, rttMs) => probeRtts.push({ node: other.name, rttMs }),
    },
  })
  for (const type of ['join', 'suspect', 'dead', 'alive'] as const) {
    gossip.on(type, (n) =>
      memberEvents.push({ type, node: n.name, at: Date.now(), incarnation: n.incarnation }),
    )
  }
  return null
}

async function startNode(c: NodeConfig): Promise<{ addr: string; serverAddr: string }> {
  const inner = new NetTransport({ bindAddrs: [c.ip], bindPort: NODE_PORT })
  const server = new AlpnServer({ tls: c.tls, closeGraceMs: 200, maxConnsPerClient: 0 })
  const gateways = locator(c.gateways, c.firstHealthy)
  const transport = new WanfedTransport({
    transport: inner,
    datacenter: c.name.slice(c.name.lastIndexOf('.') + 1),
    locator: gateways,
    tls: c.tls,
    // Idle pooled connections go within about a second by default, so a test can see every
    // handle come back once traffic stops.
    pool: { idleTimeoutMs: c.poolIdleTimeoutMs ?? 1_000, reapIntervalMs: 250 },
    // Shorter than the library's defaults to keep tests quick, in the same order: a gateway gives
    // up on a remote gateway (connect or answer) well before the node gives up on its handshake.
    connectTimeoutMs: 2_000,
    handshakeTimeoutMs: 4_000,
  }).attach(server)
  transport.on('packet', (p) => onPacket(p.buf))
  transport.on('stream', echo)
  transport.on('error', () => {})
  await server.listen({ host: c.ip, port: SERVER_PORT })
  await transport.listen()
  node = { transport, server, locator: gateways, name: c.name, addr: `${c.ip}:${NODE_PORT}` }
  nodeTls = c.tls
  return { addr: `${c.ip}:${NODE_PORT}`, serverAddr: `${c.ip}:${SERVER_PORT}` }
}

async function startGateway(c: GatewayConfig): Promise<{ port: number }> {
  gateway = new MeshGateway({
    datacenter: c.datacenter,
    servers: c.servers,
    locator: locator(c.gateways, c.firstHealthy),
    connectTimeoutMs: 1_500,
    answerTimeoutMs: 1_500,
    writeStallTimeoutMs: c.writeStallTimeoutMs ?? 2_000,
    closeGraceMs: 200,
  })
  gateway.on('error', () => {})
  // Both legs: nodes reach it on the LAN, other DCs' gateways on the WAN.
  const { port } = await gateway.listen({ host: '0.0.0.0', port: GATEWAY_PORT })
  return { port }
}

async function ping(
  to: Peer,
  count: number,
  timeoutMs: number,
): Promise<{ rtts: number[]; lost: number }> {
  if (node === undefined) throw new Error('not a node')
  const { name: me, addr: myAddr } = node
  const rtts: number[] = []
  let lost = 0
  for (let seq = 0; seq < count; seq++) {
    const start = performance.now()
    const got = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      pongs.set(seq, () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    await send(to, { k: 'ping', seq, from: me, addr: myAddr })
    if (await got) rtts.push(performance.now() - start)
    else lost++
    pongs.delete(seq)
  }
  return { rtts, lost }
}

/** Opens a stream and measures the dial and `count` one-chunk echo round trips. */
async function streamRtt(to: Peer, count: number): Promise<{ dialMs: number; rtts: number[] }> {
  if (node === undefined) throw new Error('not a node')
  const start = performance.now()
  const s = await node.transport.dialAddressTimeout(to, 10_000)
  const dialMs = performance.now() - start
  const rtts: number[] = []
  try {
    for (let i = 0; i < count; i++) {
      const t = performance.now()
      const echoed = new Promise<void>((resolve, reject) => {
        s.once('data', () => resolve())
        s.once('error', reject)
      })
      s.write(Buffer.alloc(64, i))
      await echoed
      rtts.push(performance.now() - t)
    }
  } finally {
    s.destroy()
  }
  return { dialMs, rtts }
}

/** A long-lived stream writing a chunk every `intervalMs`; the test reads its fate later. */
async function streamOpen(to: Peer, intervalMs: number): Promise<number> {
  if (node === undefined) throw new Error('not a node')
  const stream = await node.transport.dialAddressTimeout(to, 10_000)
  const id = nextStream++
  const report: StreamReport = { state: 'open', written: 0, echoed: 0 }
  let lastEcho = Date.now()
  const finish = (state: StreamReport['state'], err?: unknown) => {
    if (report.state !== 'open') return
    report.state = state
    if (err !== undefined) report.error = wire(err)
    report.endedAt = Date.now()
    report.endedAfterMs = report.endedAt - lastEcho
    clearInterval(timer)
  }
  stream.on('data', (d: Buffer) => {
    report.echoed += d.length
    lastEcho = Date.now()
  })
  stream.on('error', (err) => finish('errored', err))
  stream.on('end', () => {
    finish('ended')
    // The far side is done (half-close): end ours too, as an application must, or the socket
    // and the gateways' splices stay half-open until their idle timeouts.
    stream.end()
  })
  stream.on('close', () => finish('closed'))
  const timer = setInterval(() => {
    if (stream.writable) {
      stream.write(Buffer.alloc(256, 1))
      report.written += 256
    }
  }, intervalMs)
  streams.set(id, { stream, timer, report })
  return id
}

function startFlow(flow: string, to: Peer, intervalMs: number, padBytes = 0): void {
  const report: FlowReport = {
    resolved: 0,
    dropped: 0,
    errors: 0,
    errorCodes: {},
    errorSamples: [],
  }
  const droppedAtStart = node?.transport.stats().packets.sendDropped ?? 0
  const state = { report, seq: 0, droppedAtStart, timer: undefined as unknown as NodeJS.Timeout }
  // One packet per tick, numbered, each carrying its send time: the receiver's log gives losses
  // and the gap around a failure.
  state.timer = setInterval(() => {
    const seq = state.seq++
    send(to, {
      k: 'flow',
      flow,
      seq,
      t: Date.now(),
      ...(padBytes > 0 ? { pad: pad(padBytes) } : {}),
    })
      .then(() => {
        report.resolved++
      })
      .catch((err) => {
        report.errors++
        const code = wire(err).code ?? wire(err).name
        report.errorCodes[code] = (report.errorCodes[code] ?? 0) + 1
        const text = wire(err).message
        if (report.errorSamples.length < 5 && !report.errorSamples.includes(text)) {
          report.errorSamples.push(text)
        }
      })
  }, intervalMs)
  flows.set(flow, state)
}

const pads = new Map<number, string>()
function pad(n: number): string {
  let p = pads.get(n)
  if (p === undefined) {
    p = 'x'.repeat(n)
    pads.set(n, p)
  }
  return p
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const start = performance.now()
  return new Promise((resolve) => {
    const s: Socket = connect({ host, port })
    const done = (ok: boolean, err?: unknown) => {
      clearTimeout(timer)
      s.destroy()
      resolve({
        ok,
        ms: performance.now() - start,
        ...(err === undefined ? {} : { error: wire(err) }),
      })
    }
    const timer = setTimeout(
      () => done(false, Object.assign(new Error('timed out'), { code: 'TIMEOUT' })),
      timeoutMs,
    )
    s.once('connect', () => done(true))
    s.once('error', (err) => done(false, err))
  })
}

function probeUdp(host: string, port: number): Promise<ProbeResult> {
  const start = performance.now()
  return new Promise((resolve) => {
    const s = createSocket('udp4')
    s.send(Buffer.from('direct'), port, host, (err) => {
      s.close()
      resolve({
        ok: err === null || err === undefined,
        ms: performance.now() - start,
        ...(err ? { error: wire(err) } : {}),
      })
    })
  })
}

/** One request from the test; each op reads the fields it needs. */
interface Request {
  id: number
  op: string
  config?: NodeConfig | GatewayConfig | FederationConfig
  key?: string
  host?: string
  port?: number
  target?: string
  delayMs?: number
  jitterMs?: number
  to?: Peer
  text?: string
  count?: number
  timeoutMs?: number
  intervalMs?: number
  flow?: string
  stream?: number
  baseline?: [string, number][]
  peers?: string[]
  /** flowStart: bytes of padding in each packet, so a flow can be sized like real gossip. */
  padBytes?: number
}

type Handler = (m: Request) => unknown
const ops: Record<string, Handler> = {
  node: (m) => startNode(m.config as NodeConfig),
  gateway: (m) => startGateway(m.config as GatewayConfig),
  relay: async (m) => {
    const r = new DelayRelay({
      target: m.target as string,
      delayMs: m.delayMs as number,
      jitterMs: m.jitterMs ?? 0,
    })
    relays.set(m.key as string, r)
    return r.listen(m.host as string, m.port as number)
  },
  relayDelay: (m) => {
    for (const r of relays.values()) r.setDelay(m.delayMs as number, m.jitterMs ?? 0)
    return null
  },
  relayStats: () => Object.fromEntries([...relays].map(([k, r]) => [k, r.stats()])),
  send: (m) => send(m.to as Peer, { k: 'msg', text: m.text }),
  messages: () => messages.splice(0),
  ping: (m) => ping(m.to as Peer, m.count as number, m.timeoutMs as number),
  streamRtt: (m) => streamRtt(m.to as Peer, m.count as number),
  streamOpen: (m) => streamOpen(m.to as Peer, m.intervalMs as number),
  streamReport: (m) => streams.get(m.stream as number)?.report,
  flowStart: (m) =>
    startFlow(m.flow as string, m.to as Peer, m.intervalMs as number, m.padBytes ?? 0),
  flowStop: async (m) => {
    const f = flows.get(m.flow as string)
    if (f === undefined) throw new Error(`no flow ${m.flow as string}`)
    clearInterval(f.timer)
    flows.delete(m.flow as string)
    // Let sends waiting on a dial settle before the tally.
    await new Promise((r) => setTimeout(r, 200))
    const dropped = (node?.transport.stats().packets.sendDropped ?? 0) - f.droppedAtStart
    return { ...f.report, dropped, attempted: f.seq }
  },
  received: (m) => received.filter((r) => r.flow === m.flow),
  federation: async (m) => {
    if (node === undefined || nodeTls === undefined) throw new Error('not a node')
    const c = m.config as FederationConfig
    const datacenter = node.name.slice(node.name.lastIndexOf('.') + 1)
    federationGateways = [...c.gateways]
    plane = await FederationControlPlane.start({
      datacenter,
      primaryDatacenter: c.primaryDatacenter,
      tls: nodeTls,
      server: node.server,
      // Read at each anti-entropy round, so a test can change this DC's gateways.
      gateways: () => federationGateways,
      ...(c.primaryGateways === undefined
        ? { knows: () => true }
        : { primaryGateways: c.primaryGateways, primaryGatewaysIntervalMs: 200 }),
      // Quicker rounds than Consul's, so a test sees replication in seconds.
      tuning: {
        locatorRefreshRate: 1000,
        replicationRate: 1000,
        replicationMinBackoffMs: 50,
        replicationMaxBackoffMs: 500,
        antiEntropyRate: 1000,
        ...(c.replicationWaitMs === undefined ? {} : { replicationWaitMs: c.replicationWaitMs }),
        ...(c.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: c.requestTimeoutMs }),
      },
    })
    subscribe(ALPN_DIAGNOSTICS_CHANNELS.dialConnected, onFederationDial)
    subscribe(ALPN_DIAGNOSTICS_CHANNELS.dialError, onFederationDial)
    return null
  },
  /** Replaces this DC's gateways as anti-entropy reports them. */
  federationSetGateways: (m) => {
    federationGateways = [...((m.config as FederationConfig).gateways ?? [])]
    // The source is a function: anti-entropy blocks until told it changed.
    plane?.antiEntropy?.notify()
    return null
  },
  /** Stops the node's federation states (its control plane and its connection to the primary). */
  federationStop: async () => {
    await plane?.close()
    plane = undefined
    return null
  },
  /** Federation-state dials since the last call, by gateway: how many connected, how many failed. */
  federationDials: () => {
    const out = Object.fromEntries(federationDials)
    federationDials.clear()
    return out
  },
  /** What the node's federation-state store holds, and how its locator would reach the primary. */
  federationView: (m) => {
    if (plane === undefined) throw new Error('no federation states on this node')
    return {
      states: plane.store.list().states.map((st) => ({
        datacenter: st.datacenter,
        gateways: st.meshGateways.length,
      })),
      localGateways: plane.locator.localGateways(),
      primaryGateways: plane.locator.primaryGateways(),
      throughLocal: plane.locator.dialPrimaryThroughLocalGateway(),
      pick: plane.locator.pickGateway(m.text as string) ?? null,
      decision: plane.locator.decision(),
    }
  },
  gossip: (m) => startGossip(m.timeoutMs ?? 1_000),
  gossipJoin: (m) => {
    if (gossip === undefined) throw new Error('no memberlist')
    return gossip.join(m.peers ?? [])
  },
  /** The memberlist's members, counters, events and probe round trips so far (the last two drained). */
  gossipView: () => {
    if (gossip === undefined) throw new Error('no memberlist')
    return {
      members: gossip
        .members()
        .map((n) => n.name)
        .sort(),
      stats: gossip.stats(),
      events: memberEvents.splice(0),
      rtts: probeRtts.splice(0),
    }
  },
  /** Watched handle kinds and their counts now. */
  handles: () => [...handleCounts()],
  /** Waits until no watched handle kind exceeds the baseline (from `handles`); throws naming the surplus. */
  leakCheck: async (m) => {
    await expectNoLeakedHandles(new Map(m.baseline), m.timeoutMs)
    return [...handleCounts()]
  },
  /** The node's locator's view of its gateways, by datacenter. */
  health: () =>
    node === undefined
      ? null
      : Object.fromEntries(node.locator.datacenters().map((dc) => [dc, node?.locator.health(dc)])),
  stats: () => (node !== undefined ? node.transport.stats() : gateway?.stats()),
  probeTcp: (m) => probeTcp(m.host as string, m.port as number, m.timeoutMs as number),
  probeUdp: (m) => probeUdp(m.host as string, m.port as number),
  close: async () => {
    for (const f of flows.values()) clearInterval(f.timer)
    for (const s of streams.values()) {
      clearInterval(s.timer)
      s.stream.destroy()
    }
    await gossip?.close()
    await plane?.close()
    await node?.transport.close()
    await node?.server.close()
    await gateway?.close()
    for (const r of relays.values()) await r.close()
    return null
  },
}

process.on('message', (raw) => {
  const m = raw as Request
  const handler = ops[m.op]
  Promise.resolve()
    .then(() => {
      if (handler === undefined) throw new Error(`unknown op ${m.op}`)
      return handler(m)
    })
    .then(
      (result) => process.send?.({ id: m.id, ok: true, result: result ?? null }),
      (err) => process.send?.({ id: m.id, ok: false, error: wire(err) }),
    )
})
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: process.pid })
