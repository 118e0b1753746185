import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import {
  encodeFrame,
  encodeFrameHeader,
  FrameDecoder,
  MAX_PACKET_SIZE,
} from '../../src/alpn/frame.ts'
import { isWanfedError } from '../../src/errors.ts'

// CI machines have 2 cores: bound each property by time as well as by run count.
if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const CODEC_CODES = new Set([
  'WANFED_ERR_FRAME_EMPTY',
  'WANFED_ERR_FRAME_TOO_LARGE',
  'WANFED_ERR_FRAME_TRUNCATED',
])

/**
 * Cuts `bytes` at the given points (taken modulo its length). Each piece is copied into its own
 * ArrayBuffer, as socket reads are, so "is this payload a view of its chunk" can be checked.
 */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let prev = 0
  for (const p of [...points, bytes.length]) {
    pieces.push(new Uint8Array(bytes.subarray(prev, p)))
    prev = p
  }
  return pieces
}

function concat(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts)
}

function header(length: number): Uint8Array {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(length, 0)
  return new Uint8Array(b)
}

interface Outcome {
  frames: string[]
  /** Error code thrown while pushing, or by end(); undefined when the input ended cleanly. */
  code: string | undefined
}

/** Whole-input reference: what any chunking must produce. */
function reference(bytes: Uint8Array, max: number): Outcome {
  const buf = Buffer.from(bytes)
  const frames: string[] = []
  let off = 0
  while (buf.length - off >= 4) {
    const length = buf.readUInt32BE(off)
    if (length === 0) return { frames, code: 'WANFED_ERR_FRAME_EMPTY' }
    if (length > max) return { frames, code: 'WANFED_ERR_FRAME_TOO_LARGE' }
    if (off + 4 + length > buf.length) break
    frames.push(buf.subarray(off + 4, off + 4 + length).toString('hex'))
    off += 4 + length
  }
  return { frames, code: off < buf.length ? 'WANFED_ERR_FRAME_TRUNCATED' : undefined }
}

/** Feeds `chunks`, checking the decoder's invariants after every call. */
function decode(chunks: Uint8Array[], max: number): Outcome {
  const d = new FrameDecoder({ maxFrameSize: max })
  const frames: string[] = []
  let thrown: unknown
  try {
    for (const chunk of chunks) {
      d.write(chunk, (payload) => {
        expect(payload.length).toBeGreaterThanOrEqual(1)
        expect(payload.length).toBeLessThanOrEqual(max)
        frames.push(payload.toString('hex'))
      })
      expect(d.bufferedBytes).toBeLessThanOrEqual(max + 4)
      expect(d.inFrame).toBe(d.bufferedBytes > 0)
    }
    d.end()
  } catch (err) {
    thrown = err
  }
  if (thrown === undefined) return { frames, code: undefined }
  // Totality: only our typed codec errors, never RangeError/TypeError.
  if (!isWanfedError(thrown) || !CODEC_CODES.has(thrown.code)) throw thrown
  // Poisoned: every later call throws the very same error.
  expect(() => d.push(new Uint8Array([0, 0, 0, 1, 1]))).toThrow(thrown)
  expect(() => d.end()).toThrow(thrown)
  return { frames, code: thrown.code }
}

const payloads = fc.array(fc.uint8Array({ minLength: 1, maxLength: 2048 }), { maxLength: 50 })
const cuts = fc.array(fc.nat(), { maxLength: 30 })

/** Byte soup biased towards plausible prefixes, so both valid and invalid paths get exercised. */
const hostile = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.integer({ min: 0, max: 80 }).map(header),
      fc.constantFrom(0, 1, 63, 64, 65, MAX_PACKET_SIZE, 2 ** 32 - 1).map(header),
    ),
    { maxLength: 20 },
  )
  .map(concat)

describe('frame codec properties', () => {
  test.prop([payloads, cuts])('round trip under any chunking', (xs, cs) => {
    const wire = concat(xs.map(encodeFrame))
    const pieces = split(wire, cs)
    const d = new FrameDecoder()
    const out: Buffer[] = []
    for (const piece of pieces) out.push(...d.push(piece))
    d.end()
    expect(out.map((f) => f.toString('hex'))).toEqual(xs.map((x) => Buffer.from(x).toString('hex')))

    // A payload lying within one chunk is a view of it; one spanning chunks is its own buffer.
    const starts: number[] = []
    let pos = 0
    for (const piece of pieces) {
      starts.push(pos)
      pos += piece.length
    }
    let framePos = 0
    out.forEach((frame, i) => {
      const begin = framePos + 4
      const finish = begin + frame.length
      // The chunk holding the payload's first byte.
      const k = pieces.findIndex((p, j) => starts[j]! <= begin && begin < starts[j]! + p.length)
      const chunk = pieces[k]!
      if (finish <= starts[k]! + chunk.length) expect(frame.buffer, `frame ${i}`).toBe(chunk.buffer)
      else expect(frame.buffer.byteLength, `frame ${i}`).toBe(frame.length)
      framePos = finish
    })
  })

  test.prop([payloads])('byte by byte equals one shot on valid streams', (xs) => {
    const wire = concat(xs.map(encodeFrame))
    const oneShot = decode([wire], MAX_PACKET_SIZE)
    const bytes = decode(split(wire, Array.from(wire.keys())), MAX_PACKET_SIZE)
    expect(bytes).toEqual(oneShot)
    expect(oneShot.code).toBeUndefined()
  })

  test.prop([hostile, fc.integer({ min: 1, max: 64 })])(
    'byte by byte equals one shot on any input',
    (bytes, max) => {
      const oneShot = decode([bytes], max)
      expect(decode(split(bytes, Array.from(bytes.keys())), max)).toEqual(oneShot)
    },
  )

  test.prop([hostile, cuts, fc.integer({ min: 1, max: 64 })])(
    'total on any input and chunking: matches the whole-input reference',
    (bytes, cs, max) => {
      expect(decode(split(bytes, cs), max)).toEqual(reference(bytes, max))
    },
  )

  test.prop([fc.uint8Array(), cuts, fc.integer({ min: 1, max: 64 })])(
    'total on uniformly random bytes',
    (bytes, cs, max) => {
      expect(decode(split(bytes, cs), max)).toEqual(reference(bytes, max))
    },
  )

  test.prop([fc.uint8Array({ maxLength: 64 })])('encodeFrame rejects exactly empty', (payload) => {
    if (payload.length === 0) {
      expect(() => encodeFrame(payload)).toThrow(
        expect.objectContaining({ code: 'WANFED_ERR_FRAME_EMPTY' }),
      )
    } else {
      const frame = encodeFrame(payload)
      expect(frame.readUInt32BE(0)).toBe(payload.length)
      expect(frame.subarray(4).equals(payload)).toBe(true)
    }
  })

  test.prop([fc.integer({ min: MAX_PACKET_SIZE - 2, max: MAX_PACKET_SIZE + 2 })], { numRuns: 10 })(
    'encodeFrame rejects exactly oversize',
    (size) => {
      const payload = new Uint8Array(size)
      if (size > MAX_PACKET_SIZE) {
        expect(() => encodeFrame(payload)).toThrow(
          expect.objectContaining({ code: 'WANFED_ERR_FRAME_TOO_LARGE' }),
        )
      } else {
        expect(encodeFrame(payload).length).toBe(size + 4)
      }
    },
  )

  test.prop([
    fc.oneof(
      fc.integer({ min: -10, max: 100 }),
      fc.integer({ min: MAX_PACKET_SIZE - 10, max: MAX_PACKET_SIZE + 10 }),
      fc.integer(),
      fc.double(),
    ),
  ])('encodeFrameHeader accepts exactly 1..MAX_PACKET_SIZE', (length) => {
    let code: string | undefined
    let out: Buffer | undefined
    try {
      out = encodeFrameHeader(length)
    } catch (err) {
      if (!isWanfedError(err)) throw err
      code = err.code
    }
    if (!Number.isSafeInteger(length) || length < 0) expect(code).toBe('WANFED_ERR_INVALID_ARG')
    else if (length === 0) expect(code).toBe('WANFED_ERR_FRAME_EMPTY')
    else if (length > MAX_PACKET_SIZE) expect(code).toBe('WANFED_ERR_FRAME_TOO_LARGE')
    else expect(out?.readUInt32BE(0)).toBe(length)
  })
})
