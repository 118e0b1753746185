import { fc, test } from '@fast-check/vitest'
import { beforeAll, describe, expect } from 'vitest'
import { isWanfedError } from '../../src/errors.ts'
import { type ClientHelloResult, parseClientHello } from '../../src/gateway/client-hello.ts'
import {
  captureClientHello,
  chunk,
  type HelloOptions,
  refragment,
} from '../helpers/client-hello.ts'

// CI machines have 2 cores: bound each property by time as well as by run count.
if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const VARIANTS: HelloOptions[] = [
  { servername: 'bob.server.dc1.consul', alpn: ['consul/wan-gossip/packet'] },
  { servername: 'server.dc2.consul', alpn: ['consul/wan-gossip/stream', 'consul/rpc-raft', 'h2'] },
  { servername: 'betty.server.dc2.consul', maxVersion: 'TLSv1.2' },
  { alpn: ['x'] },
  {},
  {
    servername:
      'A-Very-Long-Node-Name-1234567890.server.datacenter-with-long-name.example.internal',
    alpn: ['a'.repeat(255)],
  },
  { servername: 'n.server.dc3.consul', alpn: ['consul/rpc-grpc'], minVersion: 'TLSv1.3' },
]

interface Sample {
  options: HelloOptions
  bytes: Buffer
}

const samples: Sample[] = []

beforeAll(async () => {
  for (const options of VARIANTS)
    samples.push({ options, bytes: await captureClientHello(options) })
})

function expected(options: HelloOptions): { serverName?: string; alpn: string[] } {
  return {
    ...(options.servername === undefined ? {} : { serverName: options.servername }),
    alpn: options.alpn ?? [],
  }
}

/** Feeds chunks as a socket would, re-parsing the grown buffer each time; returns the first non-incomplete result. */
function feed(chunks: Buffer[]): { result: ClientHelloResult; fed: number; calls: number } {
  let acc = Buffer.alloc(0)
  let calls = 0
  for (const c of chunks) {
    acc = Buffer.concat([acc, c])
    calls++
    const result = parseClientHello(acc)
    if (result.status === 'incomplete') {
      expect(result.need ?? 1).toBeGreaterThanOrEqual(1)
      continue
    }
    return { result, fed: acc.length, calls }
  }
  return { result: parseClientHello(acc), fed: acc.length, calls }
}

/** Only the typed error may escape; anything else (RangeError, TypeError) fails the property. */
function parseOrTyped(bytes: Uint8Array): ClientHelloResult | 'error' {
  try {
    const r = parseClientHello(bytes)
    if (r.status === 'ok') {
      expect(r.bytes).toBeLessThanOrEqual(bytes.length)
      expect(Array.isArray(r.alpn)).toBe(true)
    } else {
      expect(r.need === undefined || r.need >= 1).toBe(true)
    }
    return r
  } catch (err) {
    if (isWanfedError(err, 'WANFED_ERR_BAD_CLIENT_HELLO')) return 'error'
    throw err
  }
}

const sizes = fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 12 })
const cuts = fc.array(fc.nat({ max: 4000 }), { maxLength: 40 })

describe('parseClientHello properties', () => {
  test.prop([fc.nat(), sizes, cuts])(
    'real hellos, re-fragmented into records and chunked anyhow, give the same SNI and ALPN',
    (pick, recordSizes, cutPoints) => {
      const sample = samples[pick % samples.length] as Sample
      const bytes = refragment(sample.bytes, recordSizes)
      const chunks = chunk(bytes, cutPoints)
      const { result, fed, calls } = feed(chunks)
      // The records end exactly where the hello ends, so only the last chunk completes it.
      expect(calls).toBe(chunks.length)
      expect(fed).toBe(bytes.length)
      expect(result).toEqual({ status: 'ok', ...expected(sample.options), bytes: bytes.length })
    },
  )

  test.prop([fc.nat(), sizes, fc.nat()])(
    'on every prefix of a valid hello, need is a lower bound on what is missing',
    (pick, recordSizes, at) => {
      const sample = samples[pick % samples.length] as Sample
      const bytes = refragment(sample.bytes, recordSizes)
      const cut = at % bytes.length
      const r = parseClientHello(bytes.subarray(0, cut))
      expect(r.status).toBe('incomplete')
      if (r.status === 'incomplete') expect(cut + (r.need ?? 1)).toBeLessThanOrEqual(bytes.length)
    },
  )

  test.prop([fc.uint8Array({ maxLength: 3000 })])(
    'on arbitrary bytes it returns incomplete or ok, or throws ClientHelloError',
    (bytes) => {
      parseOrTyped(bytes)
    },
  )

  test.prop([fc.uint8Array({ maxLength: 3000 })])(
    'on arbitrary bytes behind a plausible record header, the same',
    (tail) => {
      const head = Buffer.from([22, 3, 1, (tail.length >> 8) & 0xff, tail.length & 0xff, 1])
      parseOrTyped(Buffer.concat([head, tail]))
    },
  )

  test.prop([
    fc.nat(),
    sizes,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    fc.option(fc.nat(), { nil: undefined }),
  ])(
    'real hellos with bytes overwritten or cut short never throw anything but ClientHelloError',
    (pick, recordSizes, edits, truncate) => {
      const sample = samples[pick % samples.length] as Sample
      const bytes = Buffer.from(refragment(sample.bytes, recordSizes))
      for (const [at, value] of edits) bytes[at % bytes.length] = value
      const input =
        truncate === undefined ? bytes : bytes.subarray(0, truncate % (bytes.length + 1))
      const r = parseOrTyped(input)
      if (r !== 'error' && r.status === 'ok') expect(r.bytes).toBeLessThanOrEqual(input.length)
    },
  )
})

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/)
const protocol = fc.stringMatching(/^[\x21-\x7e]{1,40}$/)

describe('parseClientHello against live Node clients', () => {
  test.prop(
    [
      fc.option(fc.array(label, { minLength: 1, maxLength: 5 }), { nil: undefined }),
      fc.option(fc.uniqueArray(protocol, { minLength: 1, maxLength: 5 }), { nil: undefined }),
      fc.constantFrom<HelloOptions['maxVersion']>('TLSv1.2', 'TLSv1.3'),
      sizes,
      cuts,
    ],
    { numRuns: 15 },
  )(
    'random SNI and ALPN offered by tls.connect come back exactly',
    async (labels, alpn, maxVersion, recordSizes, cutPoints) => {
      const options: HelloOptions = {
        ...(labels === undefined ? {} : { servername: labels.join('.') }),
        ...(alpn === undefined ? {} : { alpn }),
        ...(maxVersion === undefined ? {} : { maxVersion }),
      }
      const bytes = refragment(await captureClientHello(options), recordSizes)
      const { result } = feed(chunk(bytes, cutPoints))
      expect(result).toEqual({ status: 'ok', ...expected(options), bytes: bytes.length })
    },
  )
})
