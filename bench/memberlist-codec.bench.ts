/**
 * CPU per gossip packet: encode + decode of a typical compound packet by our memberlist codec
 * (src/memberlist/wire), plain, LZW-compressed, AES-GCM-encrypted and both, against Go
 * memberlist's own codec on the same machine (bench/lib/go-memberlist.ts), when Go is here.
 */

import { encodeCompound } from '../src/memberlist/wire/compound.ts'
import { encodeMessage } from '../src/memberlist/wire/message.ts'
import { MessageType } from '../src/memberlist/wire/message-type.ts'
import {
  type DecodedPacket,
  decodePacket,
  encodePacket,
  type PacketEncodeOptions,
} from '../src/memberlist/wire/packet.ts'
import { goUnavailable, runGoCodec } from './lib/go-memberlist.ts'
import type { BenchMetric, BenchReport } from './types.ts'

const KEY = Buffer.from('0123456789abcdef0123456789abcdef')
/** Serf-like tags, as bench/go/memberlist_codec_test.go has them. */
const META = Buffer.from('role\0consul\0dc\0dc1\0port\x008300\0vsn\x002\0build\x001.9.0', 'latin1')
const VSN = Buffer.from([1, 5, 2, 2, 5, 4])
const MESSAGES_PER_PACKET = 6
const MEASURE_MS = 1_000

const VARIANTS = [
  { key: 'Plain', label: 'plain', compress: false, encrypt: false },
  { key: 'Compress', label: 'LZW', compress: true, encrypt: false },
  { key: 'Encrypt', label: 'AES-GCM', compress: false, encrypt: true },
  { key: 'CompressEncrypt', label: 'LZW + AES-GCM', compress: true, encrypt: true },
] as const

/** A probe with its piggyback: a ping, four alive messages and a suspect, as Go's side builds. */
function parts(): Buffer[] {
  const out = [
    encodeMessage(MessageType.ping, 'ping', {
      seqNo: 4242,
      node: 'n7.dc1',
      sourceAddr: Buffer.from([10, 0, 0, 1]),
      sourcePort: 7946,
      sourceNode: 'n0.dc1',
    }),
  ]
  for (let i = 1; i <= 4; i++) {
    out.push(
      encodeMessage(MessageType.alive, 'alive', {
        incarnation: 3,
        node: `n${i}.dc1`,
        addr: Buffer.from([10, 0, 0, i]),
        port: 7946,
        meta: META,
        vsn: VSN,
      }),
    )
  }
  out.push(
    encodeMessage(MessageType.suspect, 'suspect', {
      incarnation: 2,
      node: 'n9.dc1',
      from: 'n0.dc1',
    }),
  )
  return out
}

function roundTrip(compress: boolean, encrypt: boolean): () => number {
  const encodeOptions: PacketEncodeOptions = {
    compress,
    crc: false,
    encrypt: encrypt ? { vsn: 1, key: KEY } : undefined,
    label: '',
  }
  const decodeOptions = {
    label: '',
    skipInboundLabelCheck: false,
    keys: encrypt ? [KEY] : [],
    verifyIncoming: true,
    maxDecompressed: 4 * 1024 * 1024,
  }
  return () => {
    // As sendMsg builds a packet: each message encoded, then one compound, then the wrappers.
    const pkt = encodePacket(encodeCompound(parts()), encodeOptions)
    const got: DecodedPacket = decodePacket(pkt, decodeOptions)
    if (got.messages.length !== MESSAGES_PER_PACKET || got.errors.length > 0)
      throw new Error(`decoded ${got.messages.length} messages, ${got.errors.length} errors`)
    return pkt.length
  }
}

/** ns per call of `fn`, over about MEASURE_MS after a warmup. */
function time(fn: () => number): number {
  for (let i = 0; i < 2_000; i++) fn()
  let ops = 0
  const t0 = process.hrtime.bigint()
  const end = t0 + BigInt(MEASURE_MS * 1e6)
  let now = t0
  while (now < end) {
    for (let i = 0; i < 100; i++) fn()
    ops += 100
    now = process.hrtime.bigint()
  }
  return Number(now - t0) / ops
}

export async function run(): Promise<BenchReport> {
  const metrics: BenchMetric[] = []
  const raw: Record<string, unknown> = {}
  for (const v of VARIANTS) {
    const fn = roundTrip(v.compress, v.encrypt)
    const bytes = fn()
    const ns = time(fn)
    raw[`ts-${v.key}`] = { nsPerOp: ns, packetBytes: bytes }
    metrics.push(
      {
        key: `ts-${v.key}`,
        label: `${v.label}: wanfed, encode + decode per packet (${bytes} bytes)`,
        value: ns / 1000,
        unit: 'µs',
        digits: 2,
      },
      {
        key: `ts-msg-${v.key}`,
        label: `${v.label}: wanfed, per gossip message`,
        value: ns / 1000 / MESSAGES_PER_PACKET,
        unit: 'µs',
        digits: 2,
      },
    )
  }
  const skip = goUnavailable()
  if (skip !== undefined) {
    console.log(skip)
  } else {
    const go = runGoCodec()
    raw['go'] = go
    for (const v of VARIANTS) {
      const g = go.results[v.key]!
      const ts = metrics.find((m) => m.key === `ts-${v.key}`)!.value
      metrics.push(
        {
          key: `go-${v.key}`,
          label: `${v.label}: Go memberlist, encode + decode per packet (${g.packetBytes} bytes)`,
          value: g.nsPerOp / 1000,
          unit: 'µs',
          digits: 2,
        },
        {
          key: `ratio-${v.key}`,
          label: `${v.label}: wanfed time / Go time`,
          value: ts / (g.nsPerOp / 1000),
          unit: 'x',
          digits: 2,
        },
      )
    }
  }
  return {
    title: 'memberlist codec: CPU per gossip packet, against Go memberlist',
    description: [
      `One packet as a probe carries it: a ping with four alive messages (Serf-like meta, ${META.length} bytes) and a suspect piggybacked, in one compound message (${MESSAGES_PER_PACKET} gossip messages). Each operation encodes every message (msgpack), builds the compound, optionally LZW-compresses it (kept only when smaller, as memberlist does) and seals it with AES-256-GCM (encryption version 1, a fresh nonce each time), then decodes it all back to structs: memberlist's sendMsg/rawSendMsgPacket and ingestPacket/handleCommand, without the socket. No label, no CRC (protocol version 2, the default). Timed for about ${MEASURE_MS / 1000} s per variant after a warmup, one thread.`,
      '',
      `Go: the same packet through Go memberlist's own unexported functions (\`encode\`, \`makeCompoundMessage\`, \`compressPayload\`, \`encryptPayload\`, \`decryptPayload\`, \`decompressPayload\`, \`decodeCompoundMessage\`, \`decode\`), from Debian's golang-github-hashicorp-memberlist-dev 0.2.2 built with Go 1.19 in GOPATH mode: \`bench/go/memberlist_codec_test.go\`, run by \`go test -bench Wanfed -benchtime 1s\`. Skipped with a message when \`go\` or those sources are absent. A ratio below 1 means wanfed is faster.`,
    ].join('\n'),
    metrics,
    raw,
  }
}
