import { GossipDecodeError } from '../../errors.ts'

/**
 * LZW exactly as Go's `compress/lzw` does it with `LSB` order and literal width 8, the only
 * variant memberlist uses: a clear code (256) first, an end code (257) last, codes packed least
 * significant bit first and widening from 9 to 12 bits, and a clear code (and a fresh table)
 * when the table reaches 4095 entries. The encoder reproduces Go's output byte for byte; the
 * decoder accepts what Go's reader accepts and stops at `maxOutput` bytes, so a small input that
 * expands enormously (a bomb) is refused before it is held in memory.
 */

const CLEAR = 256
const EOF = 257
const MAX_WIDTH = 12
const MAX_CODE = (1 << MAX_WIDTH) - 1
const TABLE_SIZE = 4 * (1 << MAX_WIDTH)
const TABLE_MASK = TABLE_SIZE - 1

/** Compresses `input`. */
export function lzwCompress(input: Uint8Array): Buffer {
  const out: number[] = []
  let bits = 0
  let nBits = 0
  let width = 9
  let hi = EOF
  let overflow = 512
  // Open addressing like Go's: entry = key << 12 | code, 0 = empty. Keys fit 20 bits.
  const table = new Uint32Array(TABLE_SIZE)

  const write = (code: number): void => {
    bits |= code << nBits
    nBits += width
    while (nBits >= 8) {
      out.push(bits & 0xff)
      bits >>>= 8
      nBits -= 8
    }
  }
  /** Returns false when the table was full and has been reset. */
  const incHi = (): boolean => {
    hi++
    if (hi === overflow) {
      width++
      overflow <<= 1
    }
    if (hi === MAX_CODE) {
      write(CLEAR)
      width = 9
      hi = EOF
      overflow = 512
      table.fill(0)
      return false
    }
    return true
  }

  if (input.length === 0) {
    write(CLEAR)
  } else {
    write(CLEAR)
    let code = input[0] as number
    outer: for (let i = 1; i < input.length; i++) {
      const literal = input[i] as number
      const key = (code << 8) | literal
      let hash = ((key >>> 12) ^ key) & TABLE_MASK
      for (let h = hash, t = table[hash] as number; t !== 0; ) {
        if (key === t >>> 12) {
          code = t & MAX_CODE
          continue outer
        }
        h = (h + 1) & TABLE_MASK
        t = table[h] as number
      }
      write(code)
      code = literal
      if (!incHi()) continue
      while (table[hash] !== 0) hash = (hash + 1) & TABLE_MASK
      table[hash] = ((key << 12) | hi) >>> 0
    }
    write(code)
    incHi()
  }
  write(EOF)
  if (nBits > 0) out.push(bits & 0xff)
  return Buffer.from(out)
}

/**
 * Decompresses `input`, refusing output beyond `maxOutput` bytes.
 *
 * @throws {GossipDecodeError} reason `compression` (corrupt, or no end code) or `oversized`
 */
export function lzwDecompress(input: Uint8Array, maxOutput: number): Buffer {
  const suffix = new Uint8Array(1 << MAX_WIDTH)
  const prefix = new Uint16Array(1 << MAX_WIDTH)
  const scratch = new Uint8Array(1 << MAX_WIDTH)
  const chunks: Buffer[] = []
  let pending = Buffer.allocUnsafe(Math.min(65_536, Math.max(16, maxOutput)))
  let pendingLen = 0
  let total = 0
  const emit = (src: Uint8Array, from: number, to: number): void => {
    const n = to - from
    total += n
    if (total > maxOutput) {
      throw new GossipDecodeError(`lzw: output exceeds ${maxOutput} bytes`, { reason: 'oversized' })
    }
    if (pendingLen + n > pending.length) {
      chunks.push(pending.subarray(0, pendingLen))
      pending = Buffer.allocUnsafe(Math.max(65_536, n))
      pendingLen = 0
    }
    pending.set(src.subarray(from, to), pendingLen)
    pendingLen += n
  }

  let bits = 0
  let nBits = 0
  let width = 9
  let hi = EOF
  let overflow = 1 << width
  let last = -1
  let pos = 0
  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) {
        throw new GossipDecodeError('lzw: input ends before the end code', {
          reason: 'compression',
        })
      }
      bits |= (input[pos++] as number) << nBits
      nBits += 8
    }
    const code = bits & ((1 << width) - 1)
    bits >>>= width
    nBits -= width

    if (code < CLEAR) {
      scratch[0] = code
      emit(scratch, 0, 1)
      if (last !== -1) {
        suffix[hi] = code
        prefix[hi] = last
      }
    } else if (code === CLEAR) {
      width = 9
      hi = EOF
      overflow = 1 << width
      last = -1
      continue
    } else if (code === EOF) {
      break
    } else if (code <= hi) {
      let c = code
      let i = scratch.length - 1
      if (code === hi && last !== -1) {
        // KwKwK: the last expansion followed by its own first byte.
        c = last
        while (c >= CLEAR) c = prefix[c] as number
        scratch[i--] = c
        c = last
      }
      while (c >= CLEAR) {
        scratch[i--] = suffix[c] as number
        c = prefix[c] as number
        if (i < 0) throw new GossipDecodeError('lzw: invalid code chain', { reason: 'compression' })
      }
      scratch[i] = c
      emit(scratch, i, scratch.length)
      if (last !== -1) {
        suffix[hi] = c
        prefix[hi] = last
      }
    } else {
      throw new GossipDecodeError('lzw: invalid code', { reason: 'compression' })
    }
    last = code
    hi++
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        last = -1
        hi--
      } else {
        width++
        overflow = 1 << width
      }
    }
  }
  chunks.push(pending.subarray(0, pendingLen))
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total)
}
