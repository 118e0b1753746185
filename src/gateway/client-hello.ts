import { ClientHelloError } from '../errors.ts'

/** TLS record content type of handshake records. */
const CONTENT_HANDSHAKE = 22
/** Handshake message type of a ClientHello. */
const HANDSHAKE_CLIENT_HELLO = 1
const RECORD_HEADER = 5
const HANDSHAKE_HEADER = 4
/** RFC 8446 5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 16_384
/** version 2 + random 32 + session id length 1 + one cipher suite 2+2 + one compression method 1+1. */
const MIN_HELLO_BODY = 41
const EXT_SERVER_NAME = 0
const EXT_ALPN = 16
const NAME_TYPE_HOST_NAME = 0

/** More bytes are needed before the ClientHello can be parsed. */
export interface ClientHelloIncomplete {
  status: 'incomplete'
  /**
   * A lower bound on how many more bytes must arrive before the result can change to `ok`; a
   * caller holding a byte budget can refuse early when `buf.length + need` already exceeds it.
   */
  need?: number
}

/** The whole ClientHello is present. */
export interface ClientHelloParsed {
  status: 'ok'
  /** The `host_name` of the server_name extension, exactly as sent; absent without SNI. */
  serverName?: string
  /** The ALPN protocols offered, in the client's order; empty without the extension. */
  alpn: string[]
  /** Bytes of `buf` taken by the records that carry the ClientHello (a record-aligned prefix). */
  bytes: number
}

export type ClientHelloResult = ClientHelloIncomplete | ClientHelloParsed

/**
 * Parses the ClientHello at the start of a TLS connection without terminating TLS: what an
 * SNI-routing proxy needs to pick a route (HAProxy's `req.ssl_sni`, nginx's `ssl_preread`).
 *
 * Call it again with the grown buffer each time bytes arrive: it keeps no state, and until the
 * ClientHello is complete it only walks the 5-byte record headers, so a hello trickled one byte at
 * a time costs little. The ClientHello may be fragmented over several handshake records (their
 * payloads are concatenated, RFC 8446 5.1) and over any TCP segmentation. Bytes after the records
 * that complete it are ignored.
 *
 * Every length is checked against its container; nothing here reads past the end of `buf`.
 *
 * @throws {ClientHelloError} the bytes are not a TLS handshake (another protocol, an SSLv2 hello),
 *   or the ClientHello is malformed. `ClientHelloError` is the only thing this throws.
 */
export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  if (buf.length === 0) return { status: 'incomplete', need: RECORD_HEADER + HANDSHAKE_HEADER }
  const first = buf[0] as number
  if (first !== CONTENT_HANDSHAKE) {
    // An SSLv2-compatible hello has a 2-byte length with the top bit set, then message type 1.
    if ((first & 0x80) !== 0 && (buf.length < 3 || buf[2] === HANDSHAKE_CLIENT_HELLO)) {
      throw new ClientHelloError('SSLv2-compatible ClientHello is not supported')
    }
    throw new ClientHelloError(`not a TLS handshake record (first byte 0x${hex(first)})`)
  }

  // Walk the records, counting handshake payload, until the handshake header and then the whole
  // ClientHello are covered. Payloads are only copied once everything is present.
  const records: Array<[start: number, end: number]> = []
  let offset = 0
  let payload = 0
  let helloLength = -1
  for (;;) {
    if (helloLength < 0 && payload >= HANDSHAKE_HEADER) {
      const header = gather(buf, records, HANDSHAKE_HEADER)
      if (header[0] !== HANDSHAKE_CLIENT_HELLO) {
        throw new ClientHelloError(`first handshake message is type ${header[0]}, not ClientHello`)
      }
      helloLength =
        ((header[1] as number) << 16) | ((header[2] as number) << 8) | (header[3] as number)
      if (helloLength < MIN_HELLO_BODY) {
        throw new ClientHelloError(`ClientHello of ${helloLength} bytes is too short`)
      }
    }
    const wanted =
      helloLength < 0 ? HANDSHAKE_HEADER + MIN_HELLO_BODY : HANDSHAKE_HEADER + helloLength
    if (helloLength >= 0 && payload >= wanted) break

    const left = buf.length - offset
    if (left < RECORD_HEADER) {
      // Mid-header (or at a boundary): the rest of this header, then the payload still missing.
      if (left > 0) checkRecordHeaderPrefix(buf, offset)
      return { status: 'incomplete', need: RECORD_HEADER - left + (wanted - payload) }
    }
    const length = checkRecordHeader(buf, offset)
    const start = offset + RECORD_HEADER
    const available = Math.min(length, buf.length - start)
    if (available < length) {
      const missing = wanted - payload
      // If this record cannot hold the rest, another header and the rest must follow it.
      const need =
        missing <= length
          ? length - available
          : length - available + RECORD_HEADER + (missing - length)
      return { status: 'incomplete', need }
    }
    records.push([start, start + length])
    payload += length
    offset = start + length
  }

  const message = gather(buf, records, HANDSHAKE_HEADER + helloLength)
  return { status: 'ok', ...parseBody(message.subarray(HANDSHAKE_HEADER)), bytes: offset }
}

/** Checks the full 5-byte record header at `offset` and returns its payload length. */
function checkRecordHeader(buf: Uint8Array, offset: number): number {
  checkRecordHeaderPrefix(buf, offset)
  const length = ((buf[offset + 3] as number) << 8) | (buf[offset + 4] as number)
  // RFC 8446 5.1: zero-length handshake fragments are forbidden, and plaintext records are capped.
  if (length === 0) throw new ClientHelloError('empty handshake record')
  if (length > MAX_RECORD_PAYLOAD) {
    throw new ClientHelloError(`handshake record of ${length} bytes exceeds 16384`)
  }
  return length
}

/** Checks what is present of the record header at `offset`, so garbage fails before it is whole. */
function checkRecordHeaderPrefix(buf: Uint8Array, offset: number): void {
  const type = buf[offset]
  if (type !== CONTENT_HANDSHAKE) {
    // Handshake messages must not be interleaved with other record types (RFC 8446 5.1).
    throw new ClientHelloError(`record of type ${type} before the ClientHello was complete`)
  }
  const major = buf[offset + 1]
  if (major !== undefined && major !== 3) {
    throw new ClientHelloError(`record version major ${major} is not TLS`)
  }
}

/** The first `n` handshake payload bytes, copied out of the records (the caller knows they exist). */
function gather(buf: Uint8Array, records: ReadonlyArray<[number, number]>, n: number): Buffer {
  const out = Buffer.allocUnsafe(n)
  let filled = 0
  for (const [start, end] of records) {
    if (filled >= n) break
    const take = Math.min(end - start, n - filled)
    out.set(buf.subarray(start, start + take), filled)
    filled += take
  }
  return out
}

/** A bounds-checked cursor: every read past `end` is a malformed hello, never a RangeError. */
class Reader {
  readonly #buf: Buffer
  #pos: number
  readonly #end: number

  constructor(buf: Buffer, start = 0, end = buf.length) {
    this.#buf = buf
    this.#pos = start
    this.#end = end
  }

  get remaining(): number {
    return this.#end - this.#pos
  }

  u8(what: string): number {
    this.#need(1, what)
    const v = this.#buf[this.#pos] as number
    this.#pos += 1
    return v
  }

  u16(what: string): number {
    this.#need(2, what)
    const v = ((this.#buf[this.#pos] as number) << 8) | (this.#buf[this.#pos + 1] as number)
    this.#pos += 2
    return v
  }

  skip(n: number, what: string): void {
    this.#need(n, what)
    this.#pos += n
  }

  /** A sub-reader over the next `n` bytes, which this reader skips. */
  sub(n: number, what: string): Reader {
    this.#need(n, what)
    const r = new Reader(this.#buf, this.#pos, this.#pos + n)
    this.#pos += n
    return r
  }

  bytes(n: number, what: string): Buffer {
    this.#need(n, what)
    const b = this.#buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return b
  }

  #need(n: number, what: string): void {
    if (n > this.#end - this.#pos) {
      throw new ClientHelloError(`ClientHello ${what} runs past its end`)
    }
  }
}

function parseBody(body: Buffer): { serverName?: string; alpn: string[] } {
  const r = new Reader(body)
  const major = r.u8('version')
  r.u8('version')
  if (major !== 3) throw new ClientHelloError(`ClientHello version major ${major} is not TLS`)
  r.skip(32, 'random')
  const sessionId = r.u8('session id length')
  if (sessionId > 32) throw new ClientHelloError(`session id of ${sessionId} bytes exceeds 32`)
  r.skip(sessionId, 'session id')
  const suites = r.u16('cipher suites length')
  if (suites < 2 || suites % 2 !== 0) {
    throw new ClientHelloError(`cipher suites length ${suites} is not a positive even number`)
  }
  r.skip(suites, 'cipher suites')
  const compression = r.u8('compression methods length')
  if (compression < 1) throw new ClientHelloError('no compression methods')
  r.skip(compression, 'compression methods')
  const result: { serverName?: string; alpn: string[] } = { alpn: [] }
  // A ClientHello without the extensions block is valid (TLS 1.0 and SSLv3 clients).
  if (r.remaining === 0) return result

  const extLength = r.u16('extensions length')
  if (extLength !== r.remaining) {
    throw new ClientHelloError(
      `extensions length ${extLength} does not match the ${r.remaining} bytes left`,
    )
  }
  const seen = new Set<number>()
  while (r.remaining > 0) {
    const type = r.u16('extension type')
    const ext = r.sub(r.u16('extension length'), `extension ${type}`)
    // RFC 8446 4.2: at most one of each; two SNIs would make the route ambiguous.
    if (seen.has(type)) throw new ClientHelloError(`duplicate extension ${type}`)
    seen.add(type)
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(ext)
      if (name !== undefined) result.serverName = name
    } else if (type === EXT_ALPN) {
      result.alpn = parseAlpn(ext)
    }
  }
  return result
}

function parseServerName(ext: Reader): string | undefined {
  const list = ext.sub(ext.u16('server name list length'), 'server name list')
  if (ext.remaining !== 0) throw new ClientHelloError('bytes after the server name list')
  if (list.remaining === 0) throw new ClientHelloError('empty server name list')
  let hostName: string | undefined
  while (list.remaining > 0) {
    const nameType = list.u8('server name type')
    const name = list.bytes(list.u16('server name length'), 'server name')
    // Unknown name types are skipped (RFC 6066 3 allows new ones); host_name is the only one in use.
    if (nameType !== NAME_TYPE_HOST_NAME) continue
    if (hostName !== undefined) throw new ClientHelloError('more than one host_name')
    if (name.length === 0) throw new ClientHelloError('empty host_name')
    for (const byte of name) {
      // HostName is ASCII (RFC 6066 3); anything else cannot match a route and may fool a log.
      if (byte <= 0x20 || byte >= 0x7f) {
        throw new ClientHelloError(`host_name has byte 0x${hex(byte)}`)
      }
    }
    hostName = name.toString('latin1')
  }
  return hostName
}

function parseAlpn(ext: Reader): string[] {
  const list = ext.sub(ext.u16('ALPN list length'), 'ALPN list')
  if (ext.remaining !== 0) throw new ClientHelloError('bytes after the ALPN list')
  if (list.remaining === 0) throw new ClientHelloError('empty ALPN list')
  const out: string[] = []
  while (list.remaining > 0) {
    const length = list.u8('ALPN protocol length')
    if (length === 0) throw new ClientHelloError('empty ALPN protocol name')
    // latin1 maps each byte to one code unit, so any protocol id survives the round trip.
    out.push(list.bytes(length, 'ALPN protocol').toString('latin1'))
  }
  return out
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0')
}
