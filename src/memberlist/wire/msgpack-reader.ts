import { GossipDecodeError } from '../../errors.ts'

/**
 * A bounded msgpack reader for memberlist's bodies. It reports where each value ends (a push/pull
 * is a run of msgpack values followed by raw bytes), keeps strings as raw bytes and says whether
 * they came as str or bin (Go accepts bin for `[]byte` fields but not for strings), and cannot
 * be made to allocate more than the input holds: every length is checked against the bytes left
 * before anything is allocated, and nesting is capped.
 */
export type MsgValue = null | boolean | number | MsgBytes | MsgValue[] | MsgMap

/** A str (`kind: 'str'`) or bin (`kind: 'bin'`) value, as bytes. */
export interface MsgBytes {
  readonly kind: 'str' | 'bin'
  readonly bytes: Buffer
}

/** A map whose keys were strings, in wire order. Later duplicates win, as in Go. */
export interface MsgMap {
  readonly kind: 'map'
  readonly entries: Map<string, MsgValue>
}

/**
 * Thrown when the input ends inside a value: a stream reader waits for more bytes. Test with
 * {@link truncatedNeed}, not `instanceof` (wanfed errors match `instanceof` by name, and this one
 * is named as its parent so that callers see a `GossipDecodeError`).
 */
export class MsgpackTruncated extends GossipDecodeError {
  /** The input length that would at least be needed to get further (a hint for stream readers). */
  readonly need: number
  constructor(need: number) {
    super('msgpack value is truncated', { reason: 'truncated' })
    this.need = need
    Object.defineProperty(this, kNeed, { value: true })
  }
}

const kNeed = Symbol('need')

/** The `need` of a {@link MsgpackTruncated}, or undefined for any other error. */
export function truncatedNeed(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && kNeed in err
    ? (err as unknown as MsgpackTruncated).need
    : undefined
}

const MAX_DEPTH = 8

export interface ReadResult {
  value: MsgValue
  /** Offset just past the value. */
  end: number
}

/** Reads one value starting at `offset`. Throws {@link GossipDecodeError} (or {@link MsgpackTruncated}). */
export function readMsgpack(buf: Buffer, offset = 0): ReadResult {
  const r = new Reader(buf, offset)
  const value = r.value(0)
  return { value, end: r.pos }
}

class Reader {
  pos: number
  constructor(
    readonly buf: Buffer,
    offset: number,
  ) {
    this.pos = offset
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new MsgpackTruncated(this.pos + n)
  }

  u8(): number {
    this.need(1)
    return this.buf[this.pos++] as number
  }

  u16(): number {
    this.need(2)
    const v = this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  u32(): number {
    this.need(4)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  take(n: number): Buffer {
    this.need(n)
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }

  /** A container of `n` items, each at least one byte: more than the bytes left cannot be real. */
  count(n: number): number {
    if (n > this.buf.length - this.pos) throw new MsgpackTruncated(this.pos + n)
    return n
  }

  value(depth: number): MsgValue {
    if (depth > MAX_DEPTH) {
      throw new GossipDecodeError('msgpack nesting too deep', { reason: 'malformed' })
    }
    const b = this.u8()
    if (b <= 0x7f) return b
    if (b >= 0xe0) return b - 0x100
    if (b >= 0xa0 && b <= 0xbf) return { kind: 'str', bytes: this.take(b & 0x1f) }
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth)
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth)
    switch (b) {
      case 0xc0:
        return null
      case 0xc2:
        return false
      case 0xc3:
        return true
      case 0xc4:
        return { kind: 'bin', bytes: this.take(this.u8()) }
      case 0xc5:
        return { kind: 'bin', bytes: this.take(this.u16()) }
      case 0xc6:
        return { kind: 'bin', bytes: this.take(this.u32()) }
      case 0xca: {
        this.need(4)
        const v = this.buf.readFloatBE(this.pos)
        this.pos += 4
        return v
      }
      case 0xcb: {
        this.need(8)
        const v = this.buf.readDoubleBE(this.pos)
        this.pos += 8
        return v
      }
      case 0xcc:
        return this.u8()
      case 0xcd:
        return this.u16()
      case 0xce:
        return this.u32()
      case 0xcf: {
        this.need(8)
        const v = this.buf.readBigUInt64BE(this.pos)
        this.pos += 8
        return Number(v)
      }
      case 0xd0: {
        this.need(1)
        return this.buf.readInt8(this.pos++)
      }
      case 0xd1: {
        this.need(2)
        const v = this.buf.readInt16BE(this.pos)
        this.pos += 2
        return v
      }
      case 0xd2: {
        this.need(4)
        const v = this.buf.readInt32BE(this.pos)
        this.pos += 4
        return v
      }
      case 0xd3: {
        this.need(8)
        const v = this.buf.readBigInt64BE(this.pos)
        this.pos += 8
        return Number(v)
      }
      case 0xd9:
        return { kind: 'str', bytes: this.take(this.u8()) }
      case 0xda:
        return { kind: 'str', bytes: this.take(this.u16()) }
      case 0xdb:
        return { kind: 'str', bytes: this.take(this.u32()) }
      case 0xdc:
        return this.array(this.u16(), depth)
      case 0xdd:
        return this.array(this.u32(), depth)
      case 0xde:
        return this.map(this.u16(), depth)
      case 0xdf:
        return this.map(this.u32(), depth)
      default:
        // 0xc1 (never used) and the ext family: memberlist's structs carry no extensions.
        throw new GossipDecodeError(`msgpack type 0x${b.toString(16)} not accepted`, {
          reason: 'malformed',
        })
    }
  }

  array(n: number, depth: number): MsgValue[] {
    const len = this.count(n)
    const out: MsgValue[] = []
    for (let i = 0; i < len; i++) out.push(this.value(depth + 1))
    return out
  }

  map(n: number, depth: number): MsgMap {
    const len = this.count(n * 2)
    const entries = new Map<string, MsgValue>()
    for (let i = 0; i < len / 2; i++) {
      const key = this.value(depth + 1)
      if (typeof key !== 'object' || key === null || !('bytes' in key)) {
        throw new GossipDecodeError('msgpack map key is not a string', { reason: 'malformed' })
      }
      entries.set(key.bytes.toString('utf8'), this.value(depth + 1))
    }
    return { kind: 'map', entries }
  }
}
