import { fc, test } from '@fast-check/vitest'
import { encode as msgpackEncode } from '@msgpack/msgpack'
import { describe, expect } from 'vitest'
import { isWanfedError } from '../../src/errors.ts'
import { bytesToIp, ipToBytes } from '../../src/memberlist/address.ts'
import { decodeSerfTags, encodeSerfTags } from '../../src/memberlist/serf-tags.ts'
import { decodeCompound, encodeCompound } from '../../src/memberlist/wire/compound.ts'
import { decryptPayload, encryptPayload } from '../../src/memberlist/wire/encryption.ts'
import { addLabelToPacket, splitLabel } from '../../src/memberlist/wire/label.ts'
import { lzwCompress, lzwDecompress } from '../../src/memberlist/wire/lzw.ts'
import { encodeMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { type MsgValue, readMsgpack } from '../../src/memberlist/wire/msgpack-reader.ts'
import { decodePacket, encodePacket } from '../../src/memberlist/wire/packet.ts'
import {
  encodePushPull,
  encodeStreamMessage,
  parseStreamMessage,
} from '../../src/memberlist/wire/stream.ts'
import { decodeStruct, encodeStruct } from '../../src/memberlist/wire/structs.ts'

if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const GOSSIP_CODES = new Set(['WANFED_ERR_GOSSIP_DECODE', 'WANFED_ERR_GOSSIP_DECRYPT'])
function typedOnly(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!isWanfedError(err) || !GOSSIP_CODES.has(err.code)) throw err
  }
}

const bytes = (max = 64) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b))
const u32 = fc.nat({ max: 0xffffffff })
const u16 = fc.nat({ max: 0xffff })
const name = fc.string({ maxLength: 40 })
const optBytes = fc.option(
  bytes(20).filter((b) => b.length > 0),
  { nil: undefined },
)
const key = fc.constantFrom(16, 24, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))

/** Our reader's value as plain JS, to compare with what @msgpack/msgpack was given. */
function plain(v: MsgValue): unknown {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(plain)
  if (v.kind === 'map') return Object.fromEntries([...v.entries].map(([k, x]) => [k, plain(x)]))
  return v.kind === 'str' ? v.bytes.toString('utf8') : new Uint8Array(v.bytes)
}

const msgValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 5 }),
  ),
})).value

describe('msgpack reader', () => {
  test.prop([msgValue])('reads what @msgpack/msgpack writes, to the last byte', (v) => {
    const encoded = Buffer.from(msgpackEncode(v))
    const { value, end } = readMsgpack(encoded)
    expect(end).toBe(encoded.length)
    expect(plain(value)).toEqual(v)
  })

  test.prop([bytes(200)])('arbitrary bytes give a value or a typed error', (b) => {
    typedOnly(() => readMsgpack(b))
  })
})

describe('structs', () => {
  test.prop([u32, name, optBytes, u16, name])(
    'ping round-trips',
    (seqNo, node, sourceAddr, sourcePort, sourceNode) => {
      const p = { seqNo, node, sourceAddr, sourcePort, sourceNode }
      expect(decodeStruct('ping', encodeStruct('ping', p)).value).toEqual(p)
    },
  )

  test.prop([u32, name, optBytes, u16, optBytes, optBytes])(
    'alive round-trips',
    (incarnation, node, addr, port, meta, vsn) => {
      const a = { incarnation, node, addr, port, meta, vsn }
      expect(decodeStruct('alive', encodeStruct('alive', a)).value).toEqual(a)
    },
  )

  test.prop([u32, name, name])('suspect and dead round-trip', (incarnation, node, from) => {
    const s = { incarnation, node, from }
    expect(decodeStruct('suspect', encodeStruct('suspect', s)).value).toEqual(s)
    expect(decodeStruct('dead', encodeStruct('dead', s)).value).toEqual(s)
  })

  test.prop([bytes(120)])('arbitrary bytes decode as any struct or fail typed', (b) => {
    for (const n of [
      'ping',
      'indirectPing',
      'ack',
      'alive',
      'pushNodeState',
      'pushPullHeader',
      'compress',
    ] as const) {
      typedOnly(() => decodeStruct(n, b))
    }
  })
})

describe('LZW', () => {
  test.prop([fc.uint8Array({ maxLength: 6000 })])('round-trips', (b) => {
    expect(new Uint8Array(lzwDecompress(lzwCompress(b), b.length))).toEqual(b)
  })

  test.prop([fc.array(fc.constantFrom(0, 1, 2), { maxLength: 30_000 })])(
    'round-trips low-entropy input past table resets',
    (a) => {
      const b = Uint8Array.from(a)
      expect(new Uint8Array(lzwDecompress(lzwCompress(b), b.length))).toEqual(b)
    },
  )

  test.prop([bytes(300), fc.nat({ max: 5000 })])(
    'arbitrary input decompresses within the limit or fails typed',
    (b, max) => {
      typedOnly(() => {
        const out = lzwDecompress(b, max)
        expect(out.length).toBeLessThanOrEqual(max)
      })
    },
  )
})

describe('compound, label, encryption', () => {
  test.prop([fc.array(bytes(300), { maxLength: 20 })])('compound round-trips', (parts) => {
    expect(decodeCompound(encodeCompound(parts).subarray(1))).toEqual({ parts, truncated: 0 })
  })

  test.prop([bytes(100)])('compound and label parse arbitrary bytes or fail typed', (b) => {
    typedOnly(() => decodeCompound(b))
    typedOnly(() => splitLabel(b))
  })

  test.prop([bytes(50), fc.string({ minLength: 1, maxLength: 30 })])(
    'labels round-trip',
    (b, label) => {
      const split = splitLabel(addLabelToPacket(b, label))
      expect(split).toEqual({ status: 'ok', label, rest: b })
    },
  )

  test.prop([fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>, key, bytes(200), bytes(10)])(
    'encryption round-trips',
    (vsn, k, msg, data) => {
      expect(decryptPayload([k], encryptPayload(vsn, k, msg, data), data)).toEqual(msg)
    },
  )

  test.prop([key, bytes(120)])('arbitrary ciphertext fails typed', (k, b) => {
    typedOnly(() => decryptPayload([k], b, undefined))
  })
})

describe('packets and streams', () => {
  const packetOpts = {
    label: '',
    skipInboundLabelCheck: false,
    keys: [],
    verifyIncoming: true,
    maxDecompressed: 1 << 20,
  }

  test.prop([bytes(300)])('decodePacket never throws, and every error is typed', (b) => {
    const out = decodePacket(b, packetOpts)
    for (const e of out.errors) expect(GOSSIP_CODES.has(e.code)).toBe(true)
    const withKey = decodePacket(b, { ...packetOpts, keys: [Buffer.alloc(16)], label: 'x' })
    for (const e of withKey.errors) expect(GOSSIP_CODES.has(e.code)).toBe(true)
  })

  test.prop([
    fc.array(fc.tuple(u32, name), { minLength: 1, maxLength: 30 }),
    fc.boolean(),
    fc.boolean(),
  ])('encodePacket then decodePacket gives the messages back', (pings, compress, crc) => {
    const msgs = pings.map(([seqNo, node]) =>
      encodeMessage(MessageType.ping, 'ping', { seqNo, node }),
    )
    const wire = encodePacket(encodeCompound(msgs), { compress, crc, label: 'lbl' })
    const out = decodePacket(wire, { ...packetOpts, label: 'lbl' })
    expect(out.errors).toEqual([])
    expect(
      out.messages.map((m) => (m.type === 'ping' ? [m.body.seqNo, m.body.node] : null)),
    ).toEqual(pings)
  })

  test.prop([bytes(300)])('parseStreamMessage on arbitrary bytes: ok, partial or typed', (b) => {
    typedOnly(() => parseStreamMessage(b, { label: '', keys: [], verifyIncoming: false }))
    typedOnly(() =>
      parseStreamMessage(b, { label: '', keys: [Buffer.alloc(16)], verifyIncoming: true }),
    )
  })

  test.prop([
    fc.array(fc.tuple(name, u32, fc.nat({ max: 3 })), { maxLength: 20 }),
    fc.option(bytes(100), { nil: undefined }),
    fc.boolean(),
  ])('push/pull round-trips, and every prefix asks for more', (list, userState, compress) => {
    const nodes = list.map(([n, incarnation, state]) => ({
      name: n,
      addr: Buffer.from([10, 0, 0, 1]),
      port: 8301,
      meta: undefined,
      incarnation,
      state,
      vsn: Buffer.from([1, 5, 2, 2, 5, 4]),
    }))
    const wire = encodeStreamMessage(encodePushPull(false, nodes, userState), {
      compress,
      label: '',
    })
    const opts = { label: '', keys: [], verifyIncoming: false }
    const out = parseStreamMessage(wire, opts)
    if (out.status !== 'ok' || out.message.type !== 'pushPull') throw new Error('not parsed')
    expect(out.end).toBe(wire.length)
    expect(out.message.nodes).toEqual(nodes)
    expect(out.message.userState).toEqual(
      userState !== undefined && userState.length > 0 ? userState : undefined,
    )
    const cut = Math.floor(wire.length / 2)
    expect(parseStreamMessage(wire.subarray(0, cut), opts).status).toBe('partial')
  })
})

describe('Serf tags and addresses', () => {
  test.prop([
    fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ maxLength: 40 }), {
      maxKeys: 8,
    }),
  ])('Serf tags round-trip', (tags) => {
    expect({ ...decodeSerfTags(encodeSerfTags(tags)) }).toEqual(tags)
  })

  test.prop([bytes(100)])('arbitrary meta decodes as tags, a bare role, or fails typed', (b) => {
    typedOnly(() => decodeSerfTags(b))
  })

  test.prop([fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 40 }))])(
    'IP parsing gives 4 or 16 bytes that print back to the same address, or a typed refusal',
    (ip) => {
      let b: Buffer
      try {
        b = ipToBytes(ip)
      } catch (err) {
        expect(isWanfedError(err, 'WANFED_ERR_INVALID_ARG')).toBe(true)
        return
      }
      expect([4, 16]).toContain(b.length)
      expect(ipToBytes(bytesToIp(b))).toEqual(
        b.length === 16 && bytesToIp(b).includes('.') ? b.subarray(12) : b,
      )
    },
  )
})
