import { beforeAll, describe, expect, it } from 'vitest'
import { isWanfedError } from '../../src/errors.ts'
import { parseClientHello } from '../../src/gateway/client-hello.ts'
import { captureClientHello, refragment } from '../helpers/client-hello.ts'

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data])
}

function sniExt(...names: Array<string | [number, Buffer]>): Buffer {
  const entries = names.map((n) => {
    const [type, bytes] = typeof n === 'string' ? [0, Buffer.from(n, 'latin1')] : n
    return Buffer.concat([Buffer.from([type]), u16(bytes.length), bytes])
  })
  const list = Buffer.concat(entries)
  return ext(0, Buffer.concat([u16(list.length), list]))
}

function alpnExt(...protocols: string[]): Buffer {
  const list = Buffer.concat(
    protocols.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])),
  )
  return ext(16, Buffer.concat([u16(list.length), list]))
}

interface BodyParts {
  version?: number
  sessionId?: Buffer
  suites?: Buffer
  compression?: Buffer
  /** undefined: no extensions block at all. */
  extensions?: Buffer[]
  extLengthDelta?: number
}

function body(parts: BodyParts = {}): Buffer {
  const sessionId = parts.sessionId ?? Buffer.alloc(32, 7)
  const suites = parts.suites ?? Buffer.from([0x13, 0x01, 0x13, 0x02])
  const compression = parts.compression ?? Buffer.from([0])
  const pieces = [
    u16(parts.version ?? 0x0303),
    Buffer.alloc(32, 1),
    Buffer.from([sessionId.length]),
    sessionId,
    u16(suites.length),
    suites,
    Buffer.from([compression.length]),
    compression,
  ]
  if (parts.extensions !== undefined) {
    const exts = Buffer.concat(parts.extensions)
    pieces.push(u16(exts.length + (parts.extLengthDelta ?? 0)), exts)
  }
  return Buffer.concat(pieces)
}

function handshake(b: Buffer, type = 1): Buffer {
  const h = Buffer.alloc(4)
  h[0] = type
  h.writeUIntBE(b.length, 1, 3)
  return Buffer.concat([h, b])
}

function record(payload: Buffer, type = 22, version = 0x0301): Buffer {
  const h = Buffer.alloc(5)
  h[0] = type
  h.writeUInt16BE(version, 1)
  h.writeUInt16BE(payload.length, 3)
  return Buffer.concat([h, payload])
}

function hello(parts: BodyParts = {}): Buffer {
  return record(handshake(body(parts)))
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return isWanfedError(err) ? err.code : `not a wanfed error: ${String(err)}`
  }
}

const BAD = 'WANFED_ERR_BAD_CLIENT_HELLO'

describe('parseClientHello on real Node ClientHellos', () => {
  let withBoth: Buffer
  let tls12: Buffer
  let bare: Buffer

  beforeAll(async () => {
    withBoth = await captureClientHello({
      servername: 'bob.server.dc1.consul',
      alpn: ['consul/wan-gossip/packet', 'h2'],
    })
    tls12 = await captureClientHello({
      servername: 'Server.DC2.consul',
      alpn: ['consul/rpc-raft'],
      maxVersion: 'TLSv1.2',
    })
    bare = await captureClientHello()
  })

  it('reads SNI and ALPN in order, and the byte count of the records', () => {
    expect(parseClientHello(withBoth)).toEqual({
      status: 'ok',
      serverName: 'bob.server.dc1.consul',
      alpn: ['consul/wan-gossip/packet', 'h2'],
      bytes: withBoth.length,
    })
    // Case is kept as sent; routing compares case-insensitively.
    expect(parseClientHello(tls12)).toMatchObject({
      serverName: 'Server.DC2.consul',
      alpn: ['consul/rpc-raft'],
    })
  })

  it('has no serverName and an empty ALPN list when the client sends neither', () => {
    const r = parseClientHello(bare)
    expect(r).toEqual({ status: 'ok', alpn: [], bytes: bare.length })
    expect('serverName' in r).toBe(false)
  })

  it('is incomplete on every proper prefix, and need never overshoots', () => {
    for (let i = 0; i < withBoth.length; i++) {
      const r = parseClientHello(withBoth.subarray(0, i))
      expect(r.status).toBe('incomplete')
      if (r.status === 'incomplete') {
        expect(r.need).toBeGreaterThanOrEqual(1)
        expect(i + (r.need ?? 0)).toBeLessThanOrEqual(withBoth.length)
      }
    }
  })

  it('reassembles a hello fragmented over many records, down to one byte each', () => {
    for (const sizes of [[1], [2, 3], [100], [5, 200, 1]]) {
      const frag = refragment(withBoth, sizes)
      expect(parseClientHello(frag)).toEqual({
        status: 'ok',
        serverName: 'bob.server.dc1.consul',
        alpn: ['consul/wan-gossip/packet', 'h2'],
        bytes: frag.length,
      })
    }
  })

  it('ignores bytes after the records that hold the hello', () => {
    const more = Buffer.concat([withBoth, Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 9, 9])])
    expect(parseClientHello(more)).toMatchObject({ status: 'ok', bytes: withBoth.length })
  })
})

describe('parseClientHello on crafted input', () => {
  it('accepts a minimal hello with no extensions block', () => {
    expect(parseClientHello(hello())).toEqual({ status: 'ok', alpn: [], bytes: 5 + 4 + 75 })
  })

  it('skips unknown extensions and unknown server name types', () => {
    const h = hello({
      extensions: [
        ext(0xff01, Buffer.from([0])),
        sniExt([7, Buffer.from('x')], 'a.b'),
        ext(42, Buffer.alloc(0)),
      ],
    })
    expect(parseClientHello(h)).toMatchObject({ status: 'ok', serverName: 'a.b', alpn: [] })
  })

  it('counts a hello that ends mid-record as incomplete until the record is whole', () => {
    const payload = handshake(body({ extensions: [sniExt('a.b')] }))
    const padded = record(Buffer.concat([payload, Buffer.alloc(3)]))
    expect(parseClientHello(padded)).toMatchObject({ status: 'ok', bytes: padded.length })
    expect(parseClientHello(padded.subarray(0, padded.length - 1))).toEqual({
      status: 'incomplete',
      need: 1,
    })
  })

  it('wants at least a record header and a minimal hello from nothing', () => {
    expect(parseClientHello(Buffer.alloc(0))).toMatchObject({ status: 'incomplete' })
    expect(parseClientHello(Buffer.from([22]))).toMatchObject({ status: 'incomplete' })
  })

  const cases: Array<[string, Buffer]> = [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
    ['an SSLv2 hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15])],
    ['an SSLv2 hello, first byte only', Buffer.from([0x80])],
    ['a memberlist type byte', Buffer.from([0x00, 0x01])],
    ['an alert record', record(Buffer.from([2, 40]), 21)],
    ['record version major 2', Buffer.from([22, 2])],
    ['a zero-length record', record(Buffer.alloc(0))],
    [
      'a record over 16 KiB',
      Buffer.concat([Buffer.from([22, 3, 1, 0x40, 0x01]), Buffer.alloc(10)]),
    ],
    ['a ServerHello', record(handshake(body(), 2))],
    ['a hello shorter than possible', record(handshake(Buffer.alloc(10)))],
    [
      'a change_cipher_spec between fragments',
      (() => {
        const p = handshake(body())
        return Buffer.concat([
          record(p.subarray(0, 10)),
          record(Buffer.from([1]), 20),
          record(p.subarray(10)),
        ])
      })(),
    ],
    ['hello version 2', hello({ version: 0x0200 })],
    ['a session id over 32 bytes', hello({ sessionId: Buffer.alloc(33) })],
    ['an odd cipher suites length', hello({ suites: Buffer.from([1, 2, 3]) })],
    ['no cipher suites', hello({ suites: Buffer.alloc(0) })],
    ['no compression methods', hello({ compression: Buffer.alloc(0) })],
    ['an extensions length too long', hello({ extensions: [sniExt('a')], extLengthDelta: 1 })],
    ['an extensions length too short', hello({ extensions: [sniExt('a')], extLengthDelta: -1 })],
    ['an extension running past the block', hello({ extensions: [Buffer.from([0, 16, 0, 9, 0])] })],
    ['a duplicate extension', hello({ extensions: [alpnExt('a'), alpnExt('b')] })],
    ['two host_names', hello({ extensions: [sniExt('a', 'b')] })],
    ['an empty host_name', hello({ extensions: [sniExt('')] })],
    ['a host_name with a space', hello({ extensions: [sniExt('a b')] })],
    ['a host_name with a NUL', hello({ extensions: [sniExt('a\0.evil')] })],
    ['a host_name with a high byte', hello({ extensions: [sniExt('caf\xe9')] })],
    ['an empty server name list', hello({ extensions: [ext(0, u16(0))] })],
    ['an empty server_name extension', hello({ extensions: [ext(0, Buffer.alloc(0))] })],
    [
      'bytes after the server name list',
      hello({ extensions: [ext(0, Buffer.concat([u16(0), Buffer.from([1])]))] }),
    ],
    ['a server name list running past the extension', hello({ extensions: [ext(0, u16(5))] })],
    ['an empty ALPN list', hello({ extensions: [ext(16, u16(0))] })],
    ['an empty ALPN protocol', hello({ extensions: [alpnExt('')] })],
    [
      'an ALPN protocol running past the list',
      hello({ extensions: [ext(16, Buffer.from([0, 2, 5, 97]))] }),
    ],
  ]
  it.each(cases)('throws ClientHelloError on %s', (_name, bytes) => {
    expect(codeOf(() => parseClientHello(bytes))).toBe(BAD)
  })

  it('says SSLv2 when it sees one', () => {
    expect(() => parseClientHello(Buffer.from([0x80, 0x2e, 0x01]))).toThrow(/SSLv2/)
  })

  it('keeps ALPN protocol bytes as latin1, one code unit per byte', () => {
    const r = parseClientHello(hello({ extensions: [alpnExt('\xff\x01x')] }))
    expect(r).toMatchObject({ alpn: ['\xff\x01x'] })
  })
})
