/**
 * Transports (issue: transports). Two figures, each against a baseline measured in the same run:
 *
 * a. Cross-DC packets: a WanfedTransport in dc1 (over a NetTransport) sends 1,400-byte packets to a
 *    node of dc2 through dc2's MeshGateway (one SNI-routing hop) to dc2's AlpnServer, where dc2's
 *    WanfedTransport counts them (`packet` events). Baseline: a raw `tls.connect` through the same
 *    gateway with the same SNI, ALPN and client certificate, writing pre-encoded frames. Goal >= 0.8x.
 * b. Same-DC passthrough: WanfedTransport over NetTransport against NetTransport alone, UDP on
 *    127.0.0.1. Goal >= 0.95x.
 *
 * The gateway, dc2's server and the UDP sink run in one child process (bench/lib/far-side.ts), so
 * this process only sends.
 */

import { randomFillSync } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { encodeFrame } from '../src/alpn/frame.ts'
import { ALPN_WAN_GOSSIP_PACKET } from '../src/alpn/protocols.ts'
import { secureContextOptions } from '../src/alpn/tls-options.ts'
import { StaticGatewayLocator } from '../src/locator/index.ts'
import { NetTransport } from '../src/transport/net-transport.ts'
import type { Transport } from '../src/transport/types.ts'
import { WanfedTransport } from '../src/transport/wanfed-transport.ts'
import { type BenchCerts, hostPort, MiB, makeCerts } from './lib/fixtures.ts'
import { BenchChild, epochMs } from './lib/ipc.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const FAR_SIDE = fileURLToPath(new URL('./lib/far-side.ts', import.meta.url))
const PAYLOAD_SIZE = 1400
const FRAME_SIZE = PAYLOAD_SIZE + 4
/** Cross-DC: packets per measured pass, and the time bound of a pass. */
const XDC_PACKETS = 200_000
const XDC_TIME_MS = 5_000
const XDC_WARMUP = 10_000
/** Same-DC: packets per pass (two passes per variant, alternating), time bound, window. */
const UDP_PACKETS = 50_000
const UDP_TIME_MS = 2_500
const UDP_WINDOW = 32
const UDP_WARMUP = 5_000
/** The sender waits for 'drain' once this much is queued: a net.Socket's default highWaterMark. */
const QUEUE_LIMIT = 16 * 1024

interface Received {
  count: number
  bytes: number
  lastAt: number
}

interface XdcResult {
  sent: number
  received: number
  seconds: number
  pps: number
  mibps: number
  drains: number
  sendDropped?: number
}

async function farAwait(far: BenchChild, target: number, timeoutMs: number): Promise<Received> {
  return far.request<Received>('await', { target, timeoutMs }, timeoutMs + 10_000)
}

function xdcResult(sent: number, got: Received, t0: number, drains: number): XdcResult {
  const seconds = (got.lastAt - t0) / 1000
  return {
    sent,
    received: got.count,
    seconds,
    pps: got.count / seconds,
    mibps: got.bytes / MiB / seconds,
    drains,
  }
}

/** Baseline: pre-encoded frames written to a raw TLS socket, waiting for 'drain' when write() says so. */
async function rawPass(
  socket: TLSSocket,
  frame: Buffer,
  far: BenchChild,
  count: number,
  timeMs: number,
): Promise<XdcResult> {
  await far.request('reset')
  let drains = 0
  let sent = 0
  const t0 = epochMs()
  const stopAt = performance.now() + timeMs
  while (sent < count) {
    if ((sent & 1023) === 0 && performance.now() > stopAt) break
    sent++
    if (!socket.write(frame)) {
      drains++
      await once(socket, 'drain')
    }
  }
  return xdcResult(sent, await farAwait(far, sent, 15_000), t0, drains)
}

/**
 * WanfedTransport: `await writeToAddress()` per packet; once the pooled connection (seen through
 * the `wanfed:dial:connected` diagnostics channel) has 16 KiB queued, wait for its 'drain', as the
 * baseline does when write() returns false.
 */
async function wanfedPass(
  sender: WanfedTransport,
  pooled: () => TLSSocket | undefined,
  payload: Buffer,
  far: BenchChild,
  count: number,
  timeMs: number,
): Promise<XdcResult> {
  await far.request('reset')
  const to = { name: 'far.dc2', addr: '192.0.2.2:8302' }
  const droppedBefore = sender.stats().packets.sendDropped
  let drains = 0
  let sent = 0
  const t0 = epochMs()
  const stopAt = performance.now() + timeMs
  while (sent < count) {
    if ((sent & 1023) === 0 && performance.now() > stopAt) break
    sent++
    await sender.writeToAddress(payload, to)
    const socket = pooled()
    if (socket !== undefined && socket.writableLength >= QUEUE_LIMIT) {
      drains++
      await once(socket, 'drain')
    }
  }
  const sendDropped = sender.stats().packets.sendDropped - droppedBefore
  const got = await farAwait(far, sent - sendDropped, 15_000)
  return { ...xdcResult(sent, got, t0, drains), sendDropped }
}

async function crossDc(certs: BenchCerts, far: BenchChild) {
  const { address: serverAddr } = await far.request<{ address: string }>('receiver', {
    tls: certs.dc2,
  })
  const { address: gateway } = await far.request<{ address: string }>('gateway', {
    datacenter: 'dc2',
    servers: { far: serverAddr },
  })
  const payload = randomFillSync(Buffer.allocUnsafe(PAYLOAD_SIZE))
  const frame = encodeFrame(payload)

  // Baseline socket: same hop, SNI, ALPN and client certificate as the transport's dial.
  const { host, port } = hostPort(gateway)
  const raw = tlsConnect({
    host,
    port,
    servername: 'far.server.dc2.consul',
    ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
    ...secureContextOptions(certs.dc1),
  })
  raw.setNoDelay(true) // as dialViaGateway sets it
  await once(raw, 'secureConnect')
  if (raw.alpnProtocol !== ALPN_WAN_GOSSIP_PACKET)
    throw new Error(`baseline: ALPN ${raw.alpnProtocol}`)

  let pooledSocket: TLSSocket | undefined
  const onDial = (msg: unknown) => {
    pooledSocket = (msg as { socket: TLSSocket }).socket
  }
  subscribe('wanfed:dial:connected', onDial)
  const sender = new WanfedTransport({
    transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({ dc2: [gateway] }),
    tls: certs.dc1,
  })
  try {
    await sender.listen()
    // Warm-up: the dial, the far side's accept path, and the JIT of both send loops.
    await rawPass(raw, frame, far, XDC_WARMUP, XDC_TIME_MS)
    await wanfedPass(sender, () => pooledSocket, payload, far, XDC_WARMUP, XDC_TIME_MS)
    if (pooledSocket === undefined) throw new Error('the pooled connection was never seen')
    // Measured: baseline, transport, and once more each in the other order; the figures are sums.
    const r1 = await rawPass(raw, frame, far, XDC_PACKETS / 2, XDC_TIME_MS / 2)
    const w1 = await wanfedPass(
      sender,
      () => pooledSocket,
      payload,
      far,
      XDC_PACKETS / 2,
      XDC_TIME_MS / 2,
    )
    const w2 = await wanfedPass(
      sender,
      () => pooledSocket,
      payload,
      far,
      XDC_PACKETS / 2,
      XDC_TIME_MS / 2,
    )
    const r2 = await rawPass(raw, frame, far, XDC_PACKETS / 2, XDC_TIME_MS / 2)
    const stats = sender.stats()
    return { raw: sum(r1, r2), wanfed: sum(w1, w2), passes: { r1, w1, w2, r2 }, pool: stats.pool }
  } finally {
    unsubscribe('wanfed:dial:connected', onDial)
    raw.destroy()
    await sender.close()
  }
}

function sum(a: XdcResult, b: XdcResult): XdcResult {
  const received = a.received + b.received
  const seconds = a.seconds + b.seconds
  const bytes = received * PAYLOAD_SIZE
  const out: XdcResult = {
    sent: a.sent + b.sent,
    received,
    seconds,
    pps: received / seconds,
    mibps: bytes / MiB / seconds,
    drains: a.drains + b.drains,
  }
  if (a.sendDropped !== undefined || b.sendDropped !== undefined)
    out.sendDropped = (a.sendDropped ?? 0) + (b.sendDropped ?? 0)
  return out
}

interface UdpResult {
  sent: number
  received: number
  sendSeconds: number
  recvSeconds: number
}

/** A bounded window of in-flight writeToAddress promises; the same loop for both transports. */
async function udpPass(
  transport: Transport,
  to: { name: string; addr: string },
  payload: Buffer,
  far: BenchChild,
  count: number,
  timeMs: number,
): Promise<UdpResult> {
  await far.request('reset')
  let inflight = 0
  let sent = 0
  let issued = 0
  let failure: unknown
  let wake: (() => void) | undefined
  const settle = () => {
    inflight--
    if (wake !== undefined) {
      const w = wake
      wake = undefined
      w()
    }
  }
  const ok = () => {
    sent++
    settle()
  }
  const fail = (err: unknown) => {
    failure ??= err
    settle()
  }
  const t0 = epochMs()
  const stopAt = performance.now() + timeMs
  while (issued < count && failure === undefined) {
    if ((issued & 255) === 0 && performance.now() > stopAt) break
    while (inflight >= UDP_WINDOW) await new Promise<void>((r) => (wake = r))
    inflight++
    issued++
    transport.writeToAddress(payload, to).then(ok, fail)
  }
  while (inflight > 0) await new Promise<void>((r) => (wake = r))
  const sendSeconds = (epochMs() - t0) / 1000
  if (failure !== undefined) throw failure
  const got = await farAwait(far, sent, 1_000)
  return {
    sent,
    received: got.count,
    sendSeconds,
    recvSeconds: got.count > 0 ? (got.lastAt - t0) / 1000 : Number.NaN,
  }
}

async function sameDc(certs: BenchCerts, far: BenchChild) {
  const { address } = await far.request<{ address: string }>('udpSink')
  const to = { name: 'sink.dc1', addr: address }
  const payload = randomFillSync(Buffer.allocUnsafe(PAYLOAD_SIZE))
  const net = new NetTransport({ bindAddrs: ['127.0.0.1'] })
  const wanfed = new WanfedTransport({
    transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({}),
    tls: certs.dc1,
  })
  try {
    await net.listen()
    await wanfed.listen()
    await udpPass(net, to, payload, far, UDP_WARMUP, UDP_TIME_MS)
    await udpPass(wanfed, to, payload, far, UDP_WARMUP, UDP_TIME_MS)
    const n1 = await udpPass(net, to, payload, far, UDP_PACKETS, UDP_TIME_MS)
    const w1 = await udpPass(wanfed, to, payload, far, UDP_PACKETS, UDP_TIME_MS)
    const w2 = await udpPass(wanfed, to, payload, far, UDP_PACKETS, UDP_TIME_MS)
    const n2 = await udpPass(net, to, payload, far, UDP_PACKETS, UDP_TIME_MS)
    const add = (a: UdpResult, b: UdpResult): UdpResult => ({
      sent: a.sent + b.sent,
      received: a.received + b.received,
      sendSeconds: a.sendSeconds + b.sendSeconds,
      recvSeconds: a.recvSeconds + b.recvSeconds,
    })
    return { net: add(n1, n2), wanfed: add(w1, w2), passes: { n1, w1, w2, n2 } }
  } finally {
    await wanfed.close()
    await net.close()
  }
}

export async function run(): Promise<BenchReport> {
  const certs = await makeCerts()
  const far = await BenchChild.start(FAR_SIDE)
  let xdc: Awaited<ReturnType<typeof crossDc>>
  let udp: Awaited<ReturnType<typeof sameDc>>
  try {
    xdc = await crossDc(certs, far)
    udp = await sameDc(certs, far)
  } finally {
    await far.close()
  }
  const kpps = (r: { received: number }, s: number) => r.received / s / 1000
  const metrics: BenchMetric[] = [
    {
      key: 'xdc_raw_kpps',
      label: 'cross-DC raw TLS baseline, packets',
      value: xdc.raw.pps / 1000,
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'xdc_raw_mibps',
      label: 'cross-DC raw TLS baseline, bytes',
      value: xdc.raw.mibps,
      unit: 'MiB/s',
      digits: 1,
    },
    {
      key: 'xdc_wanfed_kpps',
      label: 'cross-DC WanfedTransport, packets',
      value: xdc.wanfed.pps / 1000,
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'xdc_wanfed_mibps',
      label: 'cross-DC WanfedTransport, bytes',
      value: xdc.wanfed.mibps,
      unit: 'MiB/s',
      digits: 1,
    },
    {
      key: 'xdc_ratio',
      label: 'cross-DC ratio WanfedTransport / raw',
      value: xdc.wanfed.pps / xdc.raw.pps,
      unit: 'x',
      digits: 2,
    },
    {
      key: 'xdc_send_dropped',
      label: 'cross-DC WanfedTransport sendDropped',
      value: xdc.wanfed.sendDropped ?? 0,
      unit: 'packets',
      digits: 0,
    },
    {
      key: 'udp_net_sent_kpps',
      label: 'same-DC NetTransport sent',
      value: udp.net.sent / udp.net.sendSeconds / 1000,
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'udp_net_recv_kpps',
      label: 'same-DC NetTransport received',
      value: kpps(udp.net, udp.net.recvSeconds),
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'udp_wanfed_sent_kpps',
      label: 'same-DC WanfedTransport sent',
      value: udp.wanfed.sent / udp.wanfed.sendSeconds / 1000,
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'udp_wanfed_recv_kpps',
      label: 'same-DC WanfedTransport received',
      value: kpps(udp.wanfed, udp.wanfed.recvSeconds),
      unit: 'k pkts/s',
      digits: 1,
    },
    {
      key: 'udp_ratio_sent',
      label: 'same-DC ratio sent WanfedTransport / NetTransport',
      value: udp.wanfed.sent / udp.wanfed.sendSeconds / (udp.net.sent / udp.net.sendSeconds),
      unit: 'x',
      digits: 2,
    },
    {
      key: 'udp_ratio_recv',
      label: 'same-DC ratio received WanfedTransport / NetTransport',
      value: kpps(udp.wanfed, udp.wanfed.recvSeconds) / kpps(udp.net, udp.net.recvSeconds),
      unit: 'x',
      digits: 2,
    },
    {
      key: 'udp_loss_pct',
      label: 'same-DC UDP loss (both variants)',
      value:
        (100 * (udp.net.sent + udp.wanfed.sent - udp.net.received - udp.wanfed.received)) /
        (udp.net.sent + udp.wanfed.sent),
      unit: '%',
      digits: 2,
    },
  ]
  return {
    title:
      'WanfedTransport against raw TLS (cross-DC, one gateway hop) and against NetTransport (same DC)',
    description: [
      "- Topology: this process sends; one child process (`bench/lib/far-side.ts`) runs dc2's",
      "  `MeshGateway`, dc2's `AlpnServer` with a `WanfedTransport` attached (over a `MemoryNetwork`",
      '  transport) that counts `packet` events, and a `NetTransport` UDP sink. All on 127.0.0.1; TLS',
      "  1.3 with ECDSA P-256 certificates made in memory (dc2's carries `*.server.dc2.consul`).",
      `- Cross-DC: ${PAYLOAD_SIZE}-byte packets (one random payload) to \`far.dc2\`, SNI`,
      '  `far.server.dc2.consul`, ALPN `consul/wan-gossip/packet`, through the gateway (one hop) to',
      '  the far server. Transport: `WanfedTransport` (dc1, over a `NetTransport`), one pooled',
      '  connection, `await writeToAddress()` per packet (it encodes the frame each time). Baseline: one',
      '  `tls.connect` through the same gateway with the same SNI, ALPN and client certificate, writing',
      `  a pre-encoded ${FRAME_SIZE}-byte frame (\`encodeFrame\`) per packet.`,
      '- Backpressure, the same rule for both: the baseline waits for `drain` when `write()` returns',
      '  false (16 KiB queued); the transport sender watches the pooled socket (taken from the',
      '  `wanfed:dial:connected` diagnostics channel) and waits for its `drain` once 16 KiB are queued,',
      "  far below the pool's 1 MiB drop threshold, so `sendDropped` stays 0 (reported).",
      `- Each variant runs ${XDC_WARMUP.toLocaleString('en-US')} packets of warm-up, then two passes of`,
      `  ${(XDC_PACKETS / 2).toLocaleString('en-US')} packets (or ${XDC_TIME_MS / 2000} s each) in the order raw,`,
      '  transport, transport, raw; rates are received packets (counted at the far end) over the time',
      "  from the first send to the last packet's arrival (wall clock shared by both processes).",
      '- Same-DC: `writeToAddress` of the same 1,400-byte packet to the UDP sink by `NetTransport` alone',
      `  and by \`WanfedTransport\` wrapping a \`NetTransport\` (destination \`sink.dc1\`, same DC), ${UDP_WINDOW}`,
      `  promises in flight at most; ${UDP_WARMUP.toLocaleString('en-US')} warm-up packets, then two passes of`,
      `  ${UDP_PACKETS.toLocaleString('en-US')} packets (or ${UDP_TIME_MS / 1000} s) each, alternating. Sent rate: resolved sends over`,
      '  the send time; received rate: packets counted by the sink over first send to last arrival.',
    ].join('\n'),
    metrics,
    raw: { xdc, udp },
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  const xdc = m['xdc_ratio'] ?? Number.NaN
  const udpSent = m['udp_ratio_sent'] ?? Number.NaN
  const udpRecv = m['udp_ratio_recv'] ?? Number.NaN
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met')
  return [
    `Goal cross-DC (WanfedTransport >= 0.8x raw TLS) ${verdict(xdc >= 0.8)}: ${xdc.toFixed(2)}x.`,
    `Goal same-DC (WanfedTransport >= 0.95x NetTransport) ${verdict(udpSent >= 0.95 && udpRecv >= 0.95)}: ${udpSent.toFixed(2)}x sent, ${udpRecv.toFixed(2)}x received.`,
  ]
}
