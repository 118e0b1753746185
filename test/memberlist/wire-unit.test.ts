import { describe, expect, it } from 'vitest'
import { GossipDecodeError, GossipDecryptError, InvalidArgumentError } from '../../src/errors.ts'
import { Keyring } from '../../src/memberlist/keyring.ts'
import {
  decodeCompound,
  encodeCompound,
  encodeCompounds,
} from '../../src/memberlist/wire/compound.ts'
import { compressPayload } from '../../src/memberlist/wire/compress.ts'
import { addCrc, removeCrc } from '../../src/memberlist/wire/crc.ts'
import {
  decryptPayload,
  encryptedLength,
  encryptPayload,
} from '../../src/memberlist/wire/encryption.ts'
import {
  addLabelToPacket,
  labelHeader,
  removePacketLabel,
  splitLabel,
} from '../../src/memberlist/wire/label.ts'
import { lzwCompress, lzwDecompress } from '../../src/memberlist/wire/lzw.ts'
import { encodeMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import {
  decodePacket,
  encodePacket,
  type PacketDecodeOptions,
} from '../../src/memberlist/wire/packet.ts'
import {
  encodePushPull,
  encodeStreamMessage,
  encodeStreamUserMessage,
  parseStreamMessage,
} from '../../src/memberlist/wire/stream.ts'
import { decodeStruct } from '../../src/memberlist/wire/structs.ts'

const key1 = Buffer.alloc(16, 1)
const key2 = Buffer.alloc(32, 2)
const plainOpts: PacketDecodeOptions = {
  label: '',
  skipInboundLabelCheck: false,
  keys: [],
  verifyIncoming: true,
  maxDecompressed: 1 << 20,
}
const ping = encodeMessage(MessageType.ping, 'ping', { seqNo: 5, node: 'b' })
const suspect = encodeMessage(MessageType.suspect, 'suspect', {
  incarnation: 2,
  node: 'c',
  from: 'a',
})

describe('Keyring', () => {
  it('adds, uses and removes keys as memberlist does; the primary key cannot be removed', () => {
    const k = new Keyring([key2], key1)
    expect(k.getKeys()).toEqual([key1, key2])
    k.addKey(key2)
    expect(k.size).toBe(2)
    k.useKey(key2)
    expect(k.getPrimaryKey()).toEqual(key2)
    expect(k.getKeys()).toEqual([key2, key1])
    expect(() => k.removeKey(key2)).toThrow(InvalidArgumentError)
    k.removeKey(key1)
    expect(k.getKeys()).toEqual([key2])
    expect(() => k.useKey(key1)).toThrow(/not in the keyring/)
    expect(() => new Keyring([key1])).toThrow(/empty primary key/)
    expect(() => new Keyring([], Buffer.alloc(15))).toThrow(/16, 24 or 32/)
    expect(new Keyring().getPrimaryKey()).toBeUndefined()
    const b = Keyring.fromBase64(key1.toString('base64'))
    expect(b.getPrimaryKey()).toEqual(key1)
    expect(() => Keyring.fromBase64('not base64!')).toThrow(InvalidArgumentError)
  })
})

describe('encryption', () => {
  it('round-trips both versions, with rotation: any installed key opens, the wrong one does not', () => {
    for (const vsn of [0, 1] as const) {
      for (const len of [0, 1, 15, 16, 17, 1000]) {
        const msg = Buffer.alloc(len, 7)
        const sealed = encryptPayload(vsn, key2, msg, Buffer.from('lbl'))
        expect(sealed.length).toBe(encryptedLength(vsn, len))
        expect(decryptPayload([key1, key2], sealed, Buffer.from('lbl'))).toEqual(msg)
        expect(() => decryptPayload([key1], sealed, Buffer.from('lbl'))).toThrow(GossipDecryptError)
        // The label is authenticated.
        expect(() => decryptPayload([key2], sealed, Buffer.from('other'))).toThrow(
          GossipDecryptError,
        )
      }
    }
    expect(() => decryptPayload([key1], Buffer.alloc(0), undefined)).toThrow(/empty/)
    expect(() => decryptPayload([key1], Buffer.from([2, ...Buffer.alloc(40)]), undefined)).toThrow(
      /version 2/,
    )
    expect(() => decryptPayload([key1], Buffer.from([1, 2, 3]), undefined)).toThrow(/too small/)
  })
})

describe('labels, CRC, compound', () => {
  it('frames a label as label.go does and refuses other or missing labels', () => {
    expect(labelHeader('ab')).toEqual(Buffer.from([244, 2, 0x61, 0x62]))
    expect(labelHeader('')).toEqual(Buffer.alloc(0))
    expect(() => labelHeader('x'.repeat(256))).toThrow(InvalidArgumentError)
    const labelled = addLabelToPacket(ping, 'dc1')
    expect(removePacketLabel(labelled, 'dc1', false)).toEqual(ping)
    expect(() => removePacketLabel(labelled, 'dc2', false)).toThrow(GossipDecodeError)
    expect(() => removePacketLabel(ping, 'dc1', false)).toThrow(/unacceptable label ""/)
    expect(removePacketLabel(ping, 'dc1', true)).toEqual(ping)
    expect(() => removePacketLabel(labelled, 'dc1', true)).toThrow(/double label/)
    expect(() => splitLabel(Buffer.from([244, 0]))).toThrow(/cannot be empty/)
    expect(splitLabel(Buffer.from([244, 5, 1]))).toEqual({ status: 'partial' })
  })

  it('checks the CRC and leaves short or unmarked buffers alone', () => {
    const c = addCrc(ping)
    expect(c[0]).toBe(12)
    expect(removeCrc(c)).toEqual(ping)
    c[7] = (c[7] as number) ^ 1
    expect(() => removeCrc(c)).toThrow(expect.objectContaining({ reason: 'crc' }))
    expect(removeCrc(Buffer.from([12, 0, 0]))).toEqual(Buffer.from([12, 0, 0]))
  })

  it('builds compounds Go can read and counts truncated parts', () => {
    const c = encodeCompound([ping, suspect])
    expect(c.subarray(0, 6)).toEqual(Buffer.from([7, 2, 0, ping.length, 0, suspect.length]))
    expect(decodeCompound(c.subarray(1))).toEqual({ parts: [ping, suspect], truncated: 0 })
    expect(decodeCompound(c.subarray(1, c.length - 1)).truncated).toBe(1)
    expect(() => decodeCompound(Buffer.from([3, 0]))).toThrow(/length table/)
    expect(encodeCompounds(new Array(300).fill(ping)).length).toBe(2)
    expect(() => encodeCompound(new Array(256).fill(ping))).toThrow(RangeError)
  })
})

describe('LZW limits', () => {
  it('refuses a bomb before holding its output, and corrupt or unterminated input', () => {
    const huge = lzwCompress(Buffer.alloc(8 << 20))
    expect(huge.length).toBeLessThan(64 * 1024)
    expect(() => lzwDecompress(huge, 1 << 20)).toThrow(
      expect.objectContaining({ reason: 'oversized' }),
    )
    const small = lzwCompress(Buffer.from('hello hello hello'))
    expect(() => lzwDecompress(small.subarray(0, small.length - 2), 100)).toThrow(/end code/)
    // 0x1ff after a clear is a code far beyond the table.
    expect(() => lzwDecompress(Buffer.from([0x00, 0xfe, 0xff, 0x07]), 100)).toThrow(
      expect.objectContaining({ reason: 'compression' }),
    )
  })
})

describe('packet pipeline', () => {
  it('unwraps label, encryption, CRC, compression and compounds down to messages', () => {
    const keyring = new Keyring([], key1)
    const msg = encodeCompound([
      ping,
      suspect,
      encodeMessage(MessageType.user, 'nack', { seqNo: 1 }),
    ])
    const wire = encodePacket(msg, {
      compress: true,
      crc: true,
      encrypt: { vsn: 1, key: key1 },
      label: 'dc1',
    })
    const out = decodePacket(wire, { ...plainOpts, label: 'dc1', keys: keyring.keysView() })
    expect(out.errors).toEqual([])
    expect(out.messages.map((m) => m.type)).toEqual(['ping', 'suspect', 'user'])
    expect(out.messages[0]).toEqual({
      type: 'ping',
      body: { seqNo: 5, node: 'b', sourceAddr: undefined, sourcePort: 0, sourceNode: '' },
    })
  })

  it('drops and reports bad input without throwing: wrong key, plaintext when encrypted, bad parts', () => {
    const sealed = encodePacket(ping, {
      compress: false,
      crc: false,
      encrypt: { vsn: 1, key: key1 },
      label: '',
    })
    const wrong = decodePacket(sealed, { ...plainOpts, keys: [key2] })
    expect(wrong.messages).toEqual([])
    expect(wrong.errors[0]).toBeInstanceOf(GossipDecryptError)
    expect(decodePacket(ping, { ...plainOpts, keys: [key1] }).errors[0]).toBeInstanceOf(
      GossipDecryptError,
    )
    // Without verifyIncoming plaintext is accepted alongside encryption, as memberlist does.
    expect(
      decodePacket(ping, { ...plainOpts, keys: [key1], verifyIncoming: false }).messages,
    ).toHaveLength(1)
    const mixed = encodeCompound([
      ping,
      Buffer.from([4, 0xc1]),
      Buffer.from([99]),
      Buffer.alloc(0),
      suspect,
    ])
    const out = decodePacket(mixed, plainOpts)
    expect(out.messages.map((m) => m.type)).toEqual(['ping', 'suspect'])
    expect(out.errors.map((e) => (e as GossipDecodeError).reason)).toEqual([
      'malformed',
      'unknown-type',
      'truncated',
    ])
    // A push/pull has no business in a packet.
    expect(decodePacket(Buffer.from([6, 0x80]), plainOpts).errors[0]).toMatchObject({
      reason: 'unknown-type',
    })
  })

  it('bounds nesting and the total decompressed size of one packet', () => {
    let nested: Buffer = ping
    for (let i = 0; i < 6; i++) nested = encodeCompound([nested])
    expect(decodePacket(nested, plainOpts).errors[0]?.message).toMatch(/too deep/)
    const bomb = compressPayload(Buffer.alloc(4 << 20))
    expect(decodePacket(bomb, plainOpts).errors[0]).toMatchObject({ reason: 'oversized' })
  })
})

describe('stream messages', () => {
  const node = {
    name: 'a',
    addr: Buffer.from([127, 0, 0, 1]),
    port: 7946,
    meta: undefined,
    incarnation: 3,
    state: 0,
    vsn: Buffer.from([1, 5, 2, 0, 0, 0]),
  }
  const body = encodePushPull(true, [node, { ...node, name: 'b' }], Buffer.from('user'))

  it('parses push/pull plain, compressed and encrypted, and says how much more it needs', () => {
    const keys = [key1]
    for (const opts of [
      { compress: false, label: '' },
      { compress: true, label: '' },
      { compress: true, label: 'L', encrypt: { vsn: 1 as const, key: key1 } },
      { compress: false, label: 'L', encrypt: { vsn: 0 as const, key: key1 } },
    ]) {
      const wire = encodeStreamMessage(body, opts)
      const dec = { label: opts.label, keys: opts.encrypt ? keys : [], verifyIncoming: true }
      const whole = parseStreamMessage(Buffer.concat([wire, Buffer.from('next')]), dec)
      expect(whole).toMatchObject({ status: 'ok', end: wire.length })
      if (whole.status !== 'ok' || whole.message.type !== 'pushPull')
        throw new Error('no push/pull')
      expect(whole.message.nodes.map((n) => n.name)).toEqual(['a', 'b'])
      expect(whole.message.userState?.toString()).toBe('user')
      for (let cut = 0; cut < wire.length; cut++) {
        const part = parseStreamMessage(wire.subarray(0, cut), dec)
        expect(part.status, `cut ${cut}`).toBe('partial')
        if (part.status === 'partial') expect(part.need).toBeGreaterThan(cut)
      }
    }
  })

  it('refuses a plaintext stream when encryption is required and an encrypted one when not configured', () => {
    const sealed = encodeStreamMessage(body, {
      compress: true,
      label: '',
      encrypt: { vsn: 1, key: key1 },
    })
    expect(() =>
      parseStreamMessage(body, { label: '', keys: [key1], verifyIncoming: true }),
    ).toThrow(/not encrypted/)
    expect(() => parseStreamMessage(sealed, { label: '', keys: [], verifyIncoming: true })).toThrow(
      /encryption is not configured/,
    )
    expect(() =>
      parseStreamMessage(sealed, { label: '', keys: [key2], verifyIncoming: true }),
    ).toThrow(GossipDecryptError)
  })

  it('refuses oversized headers before reading what they announce', () => {
    const bigEnc = Buffer.from([10, 0xff, 0xff, 0xff, 0xff])
    expect(() =>
      parseStreamMessage(bigEnc, { label: '', keys: [key1], verifyIncoming: true }),
    ).toThrow(/larger than limit/)
    const w = encodeMessage(MessageType.pushPull, 'pushPullHeader', {
      nodes: 2_000_000,
      userStateLen: 0,
      join: false,
    })
    expect(() => parseStreamMessage(w, { label: '', keys: [], verifyIncoming: false })).toThrow(
      /exceeds limit/,
    )
    const u = encodeMessage(MessageType.user, 'userMsgHeader', { userMsgLen: 30 << 20 })
    expect(() => parseStreamMessage(u, { label: '', keys: [], verifyIncoming: false })).toThrow(
      /exceeds limit/,
    )
    const ok = parseStreamMessage(encodeStreamUserMessage(Buffer.from('hi')), {
      label: '',
      keys: [],
      verifyIncoming: false,
    })
    expect(ok.status === 'ok' && ok.message.type === 'user' && ok.message.payload.toString()).toBe(
      'hi',
    )
  })

  it('applies Go decoding rules: bin refused for strings, overflow refused, unknown keys ignored', () => {
    // {"Node": bin "b", "SeqNo": 1}
    const binName = Buffer.from([
      0x82,
      0xa4,
      ...Buffer.from('Node'),
      0xc4,
      1,
      0x62,
      0xa5,
      ...Buffer.from('SeqNo'),
      1,
    ])
    expect(() => decodeStruct('ping', binName)).toThrow(/expected a string/)
    const overflow = Buffer.from([0x81, 0xa4, ...Buffer.from('Port'), 0xce, 0, 1, 0, 0])
    expect(() => decodeStruct('alive', overflow)).toThrow(/overflows u16/)
    const extra = Buffer.from([
      0x82,
      0xa3,
      ...Buffer.from('Zed'),
      0xc3,
      0xa5,
      ...Buffer.from('SeqNo'),
      9,
    ])
    expect(decodeStruct('nack', extra).value).toEqual({ seqNo: 9 })
    expect(() => decodeStruct('nack', Buffer.from([0x91, 1]))).toThrow(/expected a map/)
  })
})
