import { describe, expect, it } from 'vitest'
import {
  encodeFrame,
  encodeFrameHeader,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  MAX_PACKET_SIZE,
} from '../../src/alpn/frame.ts'
import {
  FrameEmptyError,
  FrameTooLargeError,
  FrameTruncatedError,
  InvalidArgumentError,
} from '../../src/errors.ts'

function header(length: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(length, 0)
  return b
}

function payloadOf(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

describe('constants', () => {
  it('match Consul', () => {
    expect(MAX_PACKET_SIZE).toBe(4194304)
    expect(FRAME_HEADER_SIZE).toBe(4)
  })
})

describe('encodeFrame', () => {
  it('writes a big-endian length then the payload in one buffer', () => {
    const frame = encodeFrame(Buffer.from('hello'))
    expect(frame).toBeInstanceOf(Buffer)
    expect([...frame]).toEqual([0, 0, 0, 5, 104, 101, 108, 108, 111])
  })

  it('accepts a plain Uint8Array view and copies only the view', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9])
    const frame = encodeFrame(backing.subarray(2, 5))
    expect([...frame]).toEqual([0, 0, 0, 3, 1, 2, 3])
  })

  it('accepts length 1 and exactly MAX_PACKET_SIZE', () => {
    expect([...encodeFrame(new Uint8Array([7]))]).toEqual([0, 0, 0, 1, 7])
    const big = encodeFrame(new Uint8Array(MAX_PACKET_SIZE))
    expect(big.length).toBe(MAX_PACKET_SIZE + 4)
    expect(big.readUInt32BE(0)).toBe(MAX_PACKET_SIZE)
  })

  it('rejects an empty payload', () => {
    expect(() => encodeFrame(new Uint8Array(0))).toThrow(FrameEmptyError)
  })

  it('rejects a payload over MAX_PACKET_SIZE, naming size and limit', () => {
    const err = catchError(() => encodeFrame(new Uint8Array(MAX_PACKET_SIZE + 1)))
    expect(err).toBeInstanceOf(FrameTooLargeError)
    expect((err as Error).message).toContain('4194305')
    expect((err as Error).message).toContain('4194304')
  })

  it('rejects a non-Uint8Array', () => {
    expect(() => encodeFrame('abc' as unknown as Uint8Array)).toThrow(InvalidArgumentError)
  })
})

describe('encodeFrameHeader', () => {
  it('encodes the length big-endian', () => {
    expect([...encodeFrameHeader(0x00030201)]).toEqual([0, 3, 2, 1])
    expect([...encodeFrameHeader(MAX_PACKET_SIZE)]).toEqual([0, 0x40, 0, 0])
  })

  it('validates like encodeFrame', () => {
    expect(() => encodeFrameHeader(0)).toThrow(FrameEmptyError)
    expect(() => encodeFrameHeader(MAX_PACKET_SIZE + 1)).toThrow(FrameTooLargeError)
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => encodeFrameHeader(bad)).toThrow(InvalidArgumentError)
    }
  })
})

describe('FrameDecoder', () => {
  it('decodes a length-1 frame', () => {
    const d = new FrameDecoder()
    expect(d.push(Buffer.from([0, 0, 0, 1, 42])).map((f) => [...f])).toEqual([[42]])
    expect(d.inFrame).toBe(false)
    expect(d.bufferedBytes).toBe(0)
    d.end()
  })

  it('rejects length 0 and stays poisoned with the same error', () => {
    const d = new FrameDecoder()
    const err = catchError(() => d.push(header(0)))
    expect(err).toBeInstanceOf(FrameEmptyError)
    expect((err as FrameEmptyError).code).toBe('WANFED_ERR_FRAME_EMPTY')
    expect(catchError(() => d.push(Buffer.from([0, 0, 0, 1, 1])))).toBe(err)
    expect(catchError(() => d.write(Buffer.from([0, 0, 0, 1, 1]), () => {}))).toBe(err)
    expect(catchError(() => d.end())).toBe(err)
  })

  it('accepts exactly MAX_PACKET_SIZE, assembled across chunks', () => {
    const d = new FrameDecoder()
    const payload = payloadOf(MAX_PACKET_SIZE)
    const wire = encodeFrame(payload)
    const frames: Buffer[] = []
    for (let off = 0; off < wire.length; off += 65536) {
      frames.push(...d.push(wire.subarray(off, off + 65536)))
      if (off + 65536 < wire.length) {
        expect(d.inFrame).toBe(true)
        expect(d.expectedLength).toBe(MAX_PACKET_SIZE)
        expect(d.bufferedBytes).toBe(Math.min(off + 65536, wire.length))
      }
    }
    expect(frames).toHaveLength(1)
    expect(frames[0]!.length).toBe(MAX_PACKET_SIZE)
    expect(frames[0]!.equals(payload)).toBe(true)
    expect(d.bufferedBytes).toBe(0)
    d.end()
  })

  it('rejects MAX_PACKET_SIZE + 1 from the header alone, before buffering any body', () => {
    const d = new FrameDecoder()
    const err = catchError(() => d.push(header(MAX_PACKET_SIZE + 1)))
    expect(err).toBeInstanceOf(FrameTooLargeError)
    expect((err as FrameTooLargeError).code).toBe('WANFED_ERR_FRAME_TOO_LARGE')
    expect((err as Error).message).toContain('4194305')
    expect((err as Error).message).toContain('4194304')
    expect(d.bufferedBytes).toBe(0)
    expect(d.expectedLength).toBeUndefined()
    expect(catchError(() => d.push(Buffer.alloc(10)))).toBe(err)
  })

  it('rejects MAX_PACKET_SIZE + 1 when the header arrives byte by byte', () => {
    const d = new FrameDecoder()
    const h = header(MAX_PACKET_SIZE + 1)
    for (let i = 0; i < 3; i++) {
      expect(d.push(h.subarray(i, i + 1))).toEqual([])
      expect(d.bufferedBytes).toBe(i + 1)
      expect(d.inFrame).toBe(true)
    }
    expect(() => d.push(h.subarray(3))).toThrow(FrameTooLargeError)
    expect(d.bufferedBytes).toBe(0)
  })

  it('rejects a length of 2^32 - 1', () => {
    const d = new FrameDecoder()
    const err = catchError(() => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])))
    expect(err).toBeInstanceOf(FrameTooLargeError)
    expect((err as Error).message).toContain(String(2 ** 32 - 1))
    expect(d.bufferedBytes).toBe(0)
  })

  it('delivers the frames before a bad header, then throws', () => {
    const d = new FrameDecoder()
    const got: number[][] = []
    const wire = Buffer.concat([
      encodeFrame(Buffer.from([1])),
      encodeFrame(Buffer.from([2])),
      header(0),
    ])
    expect(() => d.write(wire, (f) => got.push([...f]))).toThrow(FrameEmptyError)
    expect(got).toEqual([[1], [2]])
  })

  it('decodes many frames in one chunk, in order', () => {
    const payloads = Array.from({ length: 100 }, (_, i) => payloadOf(1 + ((i * 37) % 300), i))
    const d = new FrameDecoder()
    const frames = d.push(Buffer.concat(payloads.map(encodeFrame)))
    expect(frames.map((f) => f.toString('hex'))).toEqual(payloads.map((p) => p.toString('hex')))
    d.end()
  })

  it('decodes a frame pair split at every possible place', () => {
    const a = payloadOf(10, 1)
    const b = payloadOf(7, 2)
    const wire = Buffer.concat([encodeFrame(a), encodeFrame(b)])
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const d = new FrameDecoder()
        const frames = [
          ...d.push(wire.subarray(0, i)),
          ...d.push(wire.subarray(i, j)),
          ...d.push(wire.subarray(j)),
        ]
        expect(frames.map((f) => f.toString('hex'))).toEqual([a.toString('hex'), b.toString('hex')])
        expect(d.inFrame).toBe(false)
        d.end()
      }
    }
  })

  it('decodes byte by byte, tracking the pending state', () => {
    const payload = payloadOf(5)
    const wire = encodeFrame(payload)
    const d = new FrameDecoder()
    for (let i = 0; i < wire.length - 1; i++) {
      expect(d.push(wire.subarray(i, i + 1))).toEqual([])
      expect(d.inFrame).toBe(true)
      expect(d.bufferedBytes).toBe(i + 1)
      expect(d.expectedLength).toBe(i + 1 >= 4 ? 5 : undefined)
    }
    const last = d.push(wire.subarray(wire.length - 1))
    expect(last).toHaveLength(1)
    expect(last[0]!.equals(payload)).toBe(true)
    expect(d.inFrame).toBe(false)
    expect(d.expectedLength).toBeUndefined()
  })

  it('hands out views of the input chunk (no copy) when a frame lies within it', () => {
    const wire = Buffer.concat([encodeFrame(payloadOf(3)), encodeFrame(payloadOf(4))])
    const d = new FrameDecoder()
    const frames = d.push(wire)
    expect(frames).toHaveLength(2)
    for (const f of frames) expect(f.buffer).toBe(wire.buffer)
    expect(frames[0]!.byteOffset).toBe(wire.byteOffset + 4)
    expect(frames[1]!.byteOffset).toBe(wire.byteOffset + 11)
  })

  it('hands out a view for a plain Uint8Array chunk too', () => {
    const wire = new Uint8Array(encodeFrame(payloadOf(8)))
    const [frame] = new FrameDecoder().push(wire)
    expect(frame).toBeInstanceOf(Buffer)
    expect(frame!.buffer).toBe(wire.buffer)
  })

  it('hands out a view when only the header was split', () => {
    const wire = encodeFrame(payloadOf(6))
    const d = new FrameDecoder()
    expect(d.push(wire.subarray(0, 2))).toEqual([])
    const rest = Buffer.from(wire.subarray(2))
    const [frame] = d.push(rest)
    expect(frame!.buffer).toBe(rest.buffer)
  })

  it('assembles a spanning frame into one buffer of exactly its size', () => {
    const payload = payloadOf(100)
    const wire = encodeFrame(payload)
    const d = new FrameDecoder()
    const first = Buffer.from(wire.subarray(0, 50))
    const second = Buffer.from(wire.subarray(50))
    d.push(first)
    const [frame] = d.push(second)
    expect(frame!.equals(payload)).toBe(true)
    expect(frame!.length).toBe(100)
    expect(frame!.buffer).not.toBe(first.buffer)
    expect(frame!.buffer).not.toBe(second.buffer)
    // Its own allocation, not a slice of Node's shared pool that a retained frame would pin.
    expect(frame!.byteOffset).toBe(0)
    expect(frame!.buffer.byteLength).toBe(100)
  })

  it('write() calls back per frame, in order', () => {
    const d = new FrameDecoder()
    const got: string[] = []
    d.write(Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('bc'))]), (f) =>
      got.push(f.toString()),
    )
    expect(got).toEqual(['a', 'bc'])
  })

  it('is poisoned by an error thrown from the callback', () => {
    const d = new FrameDecoder()
    const boom = new Error('boom')
    expect(() =>
      d.write(encodeFrame(Buffer.from('a')), () => {
        throw boom
      }),
    ).toThrow(boom)
    expect(catchError(() => d.push(encodeFrame(Buffer.from('b'))))).toBe(boom)
  })

  it('end() between frames returns normally', () => {
    const d = new FrameDecoder()
    d.end()
    d.push(encodeFrame(Buffer.from('x')))
    d.end()
  })

  it('end() with a partial header throws FrameTruncatedError and drops it', () => {
    const d = new FrameDecoder()
    d.push(Buffer.from([0, 0]))
    const err = catchError(() => d.end())
    expect(err).toBeInstanceOf(FrameTruncatedError)
    expect((err as FrameTruncatedError).code).toBe('WANFED_ERR_FRAME_TRUNCATED')
    expect((err as Error).message).toContain('2 of 4')
    expect(d.bufferedBytes).toBe(0)
    expect(catchError(() => d.push(Buffer.from([0, 1, 1])))).toBe(err)
  })

  it('end() with a partial body throws FrameTruncatedError and never delivers it', () => {
    const d = new FrameDecoder()
    const delivered: Buffer[] = []
    d.write(Buffer.concat([header(10), Buffer.from([1, 2, 3])]), (f) => delivered.push(f))
    expect(d.expectedLength).toBe(10)
    expect(d.bufferedBytes).toBe(7)
    const err = catchError(() => d.end())
    expect(err).toBeInstanceOf(FrameTruncatedError)
    expect((err as Error).message).toContain('3 of 10')
    expect(delivered).toEqual([])
    expect(d.inFrame).toBe(false)
    expect(catchError(() => d.end())).toBe(err)
  })

  it('honours a lower maxFrameSize', () => {
    const d = new FrameDecoder({ maxFrameSize: 16 })
    expect(d.maxFrameSize).toBe(16)
    expect(d.push(encodeFrame(payloadOf(16)))).toHaveLength(1)
    const err = catchError(() => d.push(header(17)))
    expect(err).toBeInstanceOf(FrameTooLargeError)
    expect((err as Error).message).toContain('17')
    expect((err as Error).message).toContain('16')
    expect(d.bufferedBytes).toBe(0)
  })

  it('defaults maxFrameSize to MAX_PACKET_SIZE', () => {
    expect(new FrameDecoder().maxFrameSize).toBe(MAX_PACKET_SIZE)
    expect(new FrameDecoder({}).maxFrameSize).toBe(MAX_PACKET_SIZE)
  })

  it('rejects invalid options', () => {
    for (const bad of [0, -1, 1.5, MAX_PACKET_SIZE + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new FrameDecoder({ maxFrameSize: bad })).toThrow(InvalidArgumentError)
    }
    expect(() => new FrameDecoder({ maxFrameSize: '8' as unknown as number })).toThrow(
      InvalidArgumentError,
    )
    expect(new FrameDecoder({ maxFrameSize: 1 }).maxFrameSize).toBe(1)
  })

  it('rejects a non-Uint8Array chunk or a missing callback with InvalidArgumentError', () => {
    const d = new FrameDecoder()
    expect(() => d.push('abc' as unknown as Uint8Array)).toThrow(InvalidArgumentError)
    const d2 = new FrameDecoder()
    expect(() => d2.write(Buffer.from([0]), undefined as unknown as () => void)).toThrow(
      InvalidArgumentError,
    )
  })

  it('accepts empty chunks', () => {
    const d = new FrameDecoder()
    expect(d.push(new Uint8Array(0))).toEqual([])
    d.push(Buffer.from([0, 0]))
    expect(d.push(new Uint8Array(0))).toEqual([])
    expect(d.bufferedBytes).toBe(2)
  })
})

describe('FrameDecoder, prefix complete but payload not started', () => {
  it('holds the prefix without allocating and hands the payload out as a view', () => {
    const d = new FrameDecoder()
    const a = encodeFrame(payloadOf(3, 1))
    expect(d.push(Buffer.concat([a, header(5)]))).toHaveLength(1)
    expect(d.inFrame).toBe(true)
    expect(d.expectedLength).toBe(5)
    expect(d.bufferedBytes).toBe(4)
    const body = Buffer.from(payloadOf(5, 2))
    const [frame] = d.push(body)
    expect(frame!.buffer).toBe(body.buffer)
    expect(frame!.equals(payloadOf(5, 2))).toBe(true)
  })

  it('end() reports 0 of N payload bytes', () => {
    const d = new FrameDecoder()
    d.push(header(9))
    expect(() => d.end()).toThrow(/0 of 9 payload bytes/)
  })
})

describe('FrameDecoder memory under a hostile length', () => {
  it('does not allocate a frame’s announced size before its bytes arrive', () => {
    const before = process.memoryUsage().arrayBuffers
    const decoders: FrameDecoder[] = []
    const header = Buffer.alloc(4)
    header.writeUInt32BE(MAX_PACKET_SIZE)
    for (let i = 0; i < 50; i++) {
      const d = new FrameDecoder()
      d.push(Buffer.concat([header, Buffer.alloc(10)]))
      expect(d.inFrame).toBe(true)
      decoders.push(d)
    }
    // 50 announced 4 MiB frames would be 200 MiB at the announced size; growth keeps it small.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50 * 256 * 1024)
    expect(decoders[0]?.expectedLength).toBe(MAX_PACKET_SIZE)
  })

  it('still assembles a 4 MiB frame that arrives in small chunks', () => {
    const payload = Buffer.alloc(MAX_PACKET_SIZE, 7)
    payload[MAX_PACKET_SIZE - 1] = 9
    const frame = encodeFrame(payload)
    const d = new FrameDecoder()
    const out: Buffer[] = []
    for (let off = 0; off < frame.length; off += 50_000) {
      out.push(...d.push(frame.subarray(off, Math.min(frame.length, off + 50_000))))
    }
    expect(out).toHaveLength(1)
    expect(out[0]?.equals(payload)).toBe(true)
  })
})
