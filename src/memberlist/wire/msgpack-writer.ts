/**
 * A msgpack writer that produces what Go's go-msgpack `MsgpackHandle` writes by default, byte for
 * byte: the old spec's `raw` for both strings and byte slices (fixraw, raw16, raw32; never str8 or
 * bin), the smallest unsigned form for non-negative integers, `nil` for nil slices, and struct
 * fields in the order the caller gives (memberlist's structs come out in alphabetical order).
 * `@msgpack/msgpack` cannot write byte slices as raw strings, which old Go decoders need for
 * string-typed fields and which makes the bytes differ from Go's, hence this writer.
 */
export class MsgpackWriter {
  #buf: Buffer
  #len = 0

  constructor(initial = 128) {
    this.#buf = Buffer.allocUnsafe(initial)
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#len + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.#buf.copy(next, 0, 0, this.#len)
    this.#buf = next
  }

  byte(b: number): this {
    this.#ensure(1)
    this.#buf[this.#len++] = b
    return this
  }

  bytes(b: Uint8Array): this {
    this.#ensure(b.length)
    this.#buf.set(b, this.#len)
    this.#len += b.length
    return this
  }

  mapHeader(n: number): this {
    if (n < 16) return this.byte(0x80 | n)
    this.#ensure(3)
    this.#buf[this.#len] = 0xde
    this.#buf.writeUInt16BE(n, this.#len + 1)
    this.#len += 3
    return this
  }

  nil(): this {
    return this.byte(0xc0)
  }

  bool(v: boolean): this {
    return this.byte(v ? 0xc3 : 0xc2)
  }

  /** A non-negative integer below 2^53, in the smallest form Go picks. */
  uint(v: number): this {
    if (v < 128) return this.byte(v)
    if (v < 0x100) return this.byte(0xcc).byte(v)
    this.#ensure(9)
    const at = this.#len
    if (v < 0x10000) {
      this.#buf[at] = 0xcd
      this.#buf.writeUInt16BE(v, at + 1)
      this.#len += 3
    } else if (v < 0x100000000) {
      this.#buf[at] = 0xce
      this.#buf.writeUInt32BE(v, at + 1)
      this.#len += 5
    } else {
      this.#buf[at] = 0xcf
      this.#buf.writeBigUInt64BE(BigInt(v), at + 1)
      this.#len += 9
    }
    return this
  }

  #rawHeader(n: number): void {
    if (n < 32) {
      this.byte(0xa0 | n)
    } else if (n < 0x10000) {
      this.#ensure(3)
      this.#buf[this.#len] = 0xda
      this.#buf.writeUInt16BE(n, this.#len + 1)
      this.#len += 3
    } else {
      this.#ensure(5)
      this.#buf[this.#len] = 0xdb
      this.#buf.writeUInt32BE(n, this.#len + 1)
      this.#len += 5
    }
  }

  /** A Go `string`: UTF-8 as a raw. */
  str(s: string): this {
    const b = Buffer.from(s, 'utf8')
    this.#rawHeader(b.length)
    return this.bytes(b)
  }

  /** A Go `[]byte`: a raw, or nil when the slice is nil (`undefined`). */
  raw(b: Uint8Array | undefined): this {
    if (b === undefined) return this.nil()
    this.#rawHeader(b.length)
    return this.bytes(b)
  }

  /** The bytes written so far (a view; copy it before writing more if it must stay). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#len)
  }
}
