import { readFileSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  decryptPayload,
  type EncryptionVersion,
  encryptPayload,
} from '../../src/memberlist/wire/encryption.ts'
import { lzwCompress, lzwDecompress } from '../../src/memberlist/wire/lzw.ts'
import { parseStreamMessage } from '../../src/memberlist/wire/stream.ts'
import { decodeStruct, encodeStruct, type StructName } from '../../src/memberlist/wire/structs.ts'

/**
 * Byte-exact checks against output of Go itself: test/fixtures/memberlist/gen/main.go, run with
 * Go 1.19 and go-msgpack 0.5.5 (Debian's, the versions Debian's serf and memberlist 0.2.2 build
 * with), wrote go-vectors.json. Go is not needed to run this test.
 */
interface Vector {
  name: string
  type: string
  value?: Record<string, unknown>
  in?: string
  out: string
  extra?: { vsn: number; key: string; nonce: string; data: string }
}

const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/memberlist/go-vectors.json', import.meta.url), 'utf8'),
) as Vector[]
const hex = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'hex')

/** Go's JSON of a struct (PascalCase keys, []byte as base64) into our camelCase shape. */
function toShape(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const bytesFields = new Set(['SourceAddr', 'Target', 'Payload', 'Addr', 'Meta', 'Vsn', 'Buf'])
  for (const [k, v] of Object.entries(value)) {
    const js = k.charAt(0).toLowerCase() + k.slice(1)
    if (bytesFields.has(k)) out[js] = v === null ? undefined : Buffer.from(v as string, 'base64')
    else out[js] = v
  }
  return out
}

const structTypes = new Set([
  'ping',
  'indirectPing',
  'ack',
  'nack',
  'err',
  'suspect',
  'alive',
  'dead',
  'pushPullHeader',
  'userMsgHeader',
  'pushNodeState',
  'compress',
])

describe('wire codec against Go output', () => {
  it('has the vectors', () => {
    expect(vectors.filter((v) => v.type === 'lzw').length).toBeGreaterThanOrEqual(9)
    expect(vectors.filter((v) => structTypes.has(v.type)).length).toBeGreaterThanOrEqual(20)
  })

  for (const v of vectors.filter((x) => x.type === 'lzw')) {
    it(`LZW compresses as compress/lzw does: ${v.name}`, () => {
      const input = hex(v.in)
      expect(lzwCompress(input).toString('hex')).toBe(v.out)
      expect(lzwDecompress(hex(v.out), input.length)).toEqual(input)
    })
  }

  for (const v of vectors.filter((x) => x.type === 'crc32')) {
    it(`CRC-32 IEEE: ${v.name}`, () => {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(crc32(hex(v.in)))
      expect(b.toString('hex')).toBe(v.out)
    })
  }

  for (const v of vectors.filter((x) => structTypes.has(x.type))) {
    it(`msgpack as go-msgpack writes and reads it: ${v.name}`, () => {
      const name = v.type as StructName
      const shape = toShape(v.value ?? {})
      // biome-ignore lint/suspicious/noExplicitAny: the shape is checked by the byte comparison
      expect(encodeStruct(name, shape as any).toString('hex')).toBe(v.out)
      const decoded = decodeStruct(name, hex(v.out)).value as unknown as Record<string, unknown>
      for (const [k, want] of Object.entries(shape)) {
        // Go omits empty omitempty fields; they decode as zero values.
        if (want === undefined || want === '' || want === 0) continue
        expect(decoded[k], k).toEqual(want)
      }
    })
  }

  it('decodes a push/pull stream Go compressed', () => {
    const v = vectors.find((x) => x.type === 'pushPullStream') as Vector
    const parsed = parseStreamMessage(hex(v.out), { label: '', keys: [], verifyIncoming: false })
    expect(parsed.status).toBe('ok')
    if (parsed.status !== 'ok') return
    expect(parsed.end).toBe(hex(v.out).length)
    expect(parsed.message.type).toBe('pushPull')
    if (parsed.message.type !== 'pushPull') return
    expect(parsed.message.join).toBe(true)
    expect(parsed.message.nodes.map((n) => [n.name, n.port, n.incarnation, n.state])).toEqual([
      ['a', 7946, 1, 0],
      ['b', 7947, 4, 1],
    ])
    expect(parsed.message.userState?.toString()).toBe('state')
    // And the same body uncompressed, straight off the wire.
    const raw = parseStreamMessage(hex(v.in), { label: '', keys: [], verifyIncoming: false })
    expect(raw.status === 'ok' && raw.end).toBe(hex(v.in).length)
  })

  for (const v of vectors.filter((x) => x.type === 'encrypt')) {
    it(`AES-GCM framed as memberlist frames it: ${v.name}`, () => {
      const e = v.extra as NonNullable<Vector['extra']>
      const sealed = encryptPayload(
        e.vsn as EncryptionVersion,
        hex(e.key),
        hex(v.in),
        hex(e.data),
        hex(e.nonce),
      )
      expect(sealed.toString('hex')).toBe(v.out)
      expect(decryptPayload([Buffer.alloc(16, 9), hex(e.key)], hex(v.out), hex(e.data))).toEqual(
        hex(v.in),
      )
    })
  }
})
