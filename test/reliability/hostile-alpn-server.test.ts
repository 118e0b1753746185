import type { TLSSocket } from 'node:tls'
import { fc } from '@fast-check/vitest'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  dialViaGateway,
  MAX_PACKET_SIZE,
} from '../../src/alpn/index.ts'
import type { AlpnServerStats } from '../../src/alpn/server.ts'
import { TlsSessionCache } from '../../src/alpn/session-cache.ts'
import { captureClientHello, chunk } from '../helpers/client-hello.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import {
  expectAllTyped,
  fuzzParams,
  fuzzTimeout,
  mutation,
  processErrorWatch,
  sendRaw,
} from '../helpers/fuzz.ts'
import { type TargetAndPeer, targetAndPeer } from '../helpers/legit-peer.ts'
import { until } from '../helpers/net.ts'
import { nodeContext } from '../helpers/wanfed-node.ts'

// Hostile bytes at a real AlpnServer (betty.dc2's, with her WanfedTransport attached): before the
// handshake (random bytes, mutated ClientHellos) and after it, on the packet ALPN (frames of every
// bad kind) and the stream ALPN. After each case, bob.dc1, a legitimate peer, still gets a packet
// through, and a stream now and then.

const ctx = nodeContext()
const watch = processErrorWatch()

function rejectedTotal(s: AlpnServerStats): number {
  return Object.values(s.rejected).reduce((a, b) => a + b, 0)
}

let hello: Buffer
beforeAll(async () => {
  hello = await captureClientHello({
    servername: 'betty.server.dc2.consul',
    alpn: [ALPN_WAN_GOSSIP_PACKET],
  })
})

async function setup(): Promise<TargetAndPeer> {
  return targetAndPeer(ctx, { server: { handshakeTimeoutMs: 2_000 } })
}

/**
 * Sends `chunks` on a raw TCP connection and checks the server refused it: closed by the server,
 * counted once under some reason, nothing dispatched, nothing delivered.
 */
async function refusedBeforeHandshake(t: TargetAndPeer, chunks: Buffer[]): Promise<void> {
  const before = t.betty.server.stats()
  const packets = t.packets.length
  const { closed } = await sendRaw(Number(t.betty.serverAddr.split(':')[1]), chunks)
  expect(closed).toBe(true)
  await until(() => t.betty.server.stats().open === 2, 'the hostile connection to be dropped')
  const after = t.betty.server.stats()
  expect(rejectedTotal(after) - rejectedTotal(before)).toBe(1)
  expect(after.byAlpn).toEqual(before.byAlpn)
  expect(t.packets.length).toBe(packets)
  watch.expectNone()
}

/** Turns the legitimate peer's pooled connection and one stream into a steady `open` baseline. */
async function warm(t: TargetAndPeer): Promise<void> {
  await t.packetRoundTrip()
  await t.streamRoundTrip()
  // Left open: bob's pooled packet connection only (the stream closed after its echo).
  await until(() => t.betty.server.stats().open === 1, 'only the pooled connection open')
}

/**
 * A legitimate stream held open through the attack, beside bob's pooled connection: `open === 2`
 * then means "only the legitimate connections left".
 */
async function holdStream(t: TargetAndPeer): Promise<void> {
  const idle = await dialViaGateway({
    gateway: t.betty.serverAddr,
    datacenter: 'dc2',
    node: 'betty',
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls: { ca: caPem(), ...tlsFixture('bob') },
  })
  ctx.cleanups.push(() => {
    idle.destroy()
  })
  await until(() => t.betty.server.stats().open === 2, 'the held stream to be dispatched')
}

describe('AlpnServer under hostile input, a legitimate peer served throughout', () => {
  it(
    'random bytes before the handshake: refused, counted once each',
    async () => {
      const t = await setup()
      await warm(t)
      await holdStream(t)
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 3_000 }),
          fc.array(fc.nat(), { maxLength: 4 }),
          async (bytes, cuts) => {
            await refusedBeforeHandshake(t, chunk(Buffer.from(bytes), cuts))
            await t.packetRoundTrip()
          },
        ),
        fuzzParams(300),
      )
      await t.streamRoundTrip()
      expectAllTyped(t.errors)
    },
    fuzzTimeout(60_000),
  )

  it(
    'mutated ClientHellos: refused, counted once each',
    async () => {
      const t = await setup()
      await warm(t)
      await holdStream(t)
      const reasons = new Set<string>()
      const refusals: Error[] = []
      t.betty.server.on('rejected', (info) => {
        reasons.add(info.reason)
        if (info.error !== undefined) refusals.push(info.error)
      })
      await fc.assert(
        fc.asyncProperty(mutation(), fc.array(fc.nat(), { maxLength: 3 }), async (mutate, cuts) => {
          await refusedBeforeHandshake(t, chunk(mutate(hello), cuts))
          await t.packetRoundTrip()
        }),
        fuzzParams(300),
      )
      await t.streamRoundTrip()
      // The mutations reach the TLS engine and the first-byte rule, not only one of them.
      expect(reasons.has('tls-error')).toBe(true)
      expect(refusals.length).toBeGreaterThan(0)
      expectAllTyped(refusals)
      expectAllTyped(t.errors)
    },
    fuzzTimeout(60_000),
  )

  it(
    'packet ALPN frames of every kind: exactly the whole frames before the first bad one are delivered',
    async () => {
      const t = await setup()
      await warm(t)
      const sessions = new TlsSessionCache()
      const seen = new Set<string>()
      await fc.assert(
        fc.asyncProperty(
          fc.array(segment(), { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 5 }),
          async (segments, cuts) => {
            const bytes = Buffer.concat(segments)
            const expected = model(bytes)
            seen.add(expected.error ?? 'clean')
            const beforeErrors = { ...t.betty.transport.stats().protocolErrors }
            const start = t.packets.length
            const socket = await dialViaGateway({
              gateway: t.betty.serverAddr,
              datacenter: 'dc2',
              node: 'betty',
              alpn: ALPN_WAN_GOSSIP_PACKET,
              tls: { ca: caPem(), ...tlsFixture('bob') },
              sessionCache: sessions,
            })
            await writeAndWaitClose(socket, chunk(bytes, cuts))
            const errCount = () => {
              const now = t.betty.transport.stats().protocolErrors
              return Object.keys(now).reduce(
                (sum, k) => sum + ((now[k] ?? 0) - (beforeErrors[k] ?? 0)),
                0,
              )
            }
            await until(
              () => t.betty.transport.stats().inbound.packetConns === 1,
              'the hostile packet connection to close',
            )
            const got = t.packets.slice(start)
            expect(got.length).toBe(expected.delivered.length)
            expect(got.map((p) => p.toString('hex'))).toEqual(
              expected.delivered.map((p) => p.toString('hex')),
            )
            if (expected.error === undefined) expect(errCount()).toBe(0)
            else {
              expect(errCount()).toBe(1)
              const now = t.betty.transport.stats().protocolErrors[expected.error] ?? 0
              expect(now - (beforeErrors[expected.error] ?? 0)).toBe(1)
            }
            t.packets.splice(start)
            watch.expectNone()
            await t.packetRoundTrip()
          },
        ),
        fuzzParams(400),
      )
      await t.streamRoundTrip()
      // Every outcome came up, so the property tested each of them.
      expect([...seen].sort()).toEqual([
        'WANFED_ERR_FRAME_EMPTY',
        'WANFED_ERR_FRAME_TOO_LARGE',
        'WANFED_ERR_FRAME_TRUNCATED',
        'clean',
      ])
      expect(t.errors.length).toBeGreaterThan(0)
      expectAllTyped(t.errors)
    },
    fuzzTimeout(60_000),
  )

  it(
    'stream ALPN: any bytes reach the consumer untouched, and the stream closes',
    async () => {
      const t = await setup()
      await warm(t)
      const sessions = new TlsSessionCache()
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 0, maxLength: 20_000 }),
          fc.array(fc.nat(), { maxLength: 5 }),
          async (bytes, cuts) => {
            const socket = await dialViaGateway({
              gateway: t.betty.serverAddr,
              datacenter: 'dc2',
              node: 'betty',
              alpn: ALPN_WAN_GOSSIP_STREAM,
              tls: { ca: caPem(), ...tlsFixture('bob') },
              sessionCache: sessions,
            })
            const echoed = await writeAndWaitClose(socket, chunk(Buffer.from(bytes), cuts))
            expect(echoed.equals(Buffer.from(bytes))).toBe(true)
            await until(
              () => t.betty.transport.stats().inbound.streams === 0,
              'the stream to close',
            )
            watch.expectNone()
            await t.packetRoundTrip()
          },
        ),
        fuzzParams(200),
      )
      await t.streamRoundTrip()
      expectAllTyped(t.errors)
    },
    fuzzTimeout(60_000),
  )
})

/** One piece of a packet connection's byte stream: good frames and each kind of bad one. */
function segment(): fc.Arbitrary<Buffer> {
  const header = (n: number) => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  return fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 1_500 }).map(frame) },
    { weight: 1, arbitrary: fc.constant(header(0)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: MAX_PACKET_SIZE + 1, max: 0xffff_ffff }), fc.uint8Array())
        .map(([n, rest]) => Buffer.concat([header(n), rest])),
    },
    {
      weight: 1,
      // A frame cut short: its prefix promises more than follows.
      arbitrary: fc
        .tuple(fc.integer({ min: 2, max: 3_000 }), fc.nat())
        .map(([n, k]) => Buffer.concat([header(n), Buffer.alloc(k % n, 0xab)])),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b)),
    },
  )
}

function frame(payload: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + payload.length)
  b.writeUInt32BE(payload.length)
  b.set(payload, 4)
  return b
}

/**
 * The packet protocol's rule, written out independently of FrameDecoder: frames until the first
 * bad prefix (zero, or above 4 MiB), and a frame the end cuts short is not a frame.
 */
function model(bytes: Buffer): { delivered: Buffer[]; error: string | undefined } {
  const delivered: Buffer[] = []
  let at = 0
  while (at < bytes.length) {
    if (bytes.length - at < 4) return { delivered, error: 'WANFED_ERR_FRAME_TRUNCATED' }
    const n = bytes.readUInt32BE(at)
    if (n === 0) return { delivered, error: 'WANFED_ERR_FRAME_EMPTY' }
    if (n > MAX_PACKET_SIZE) return { delivered, error: 'WANFED_ERR_FRAME_TOO_LARGE' }
    if (bytes.length - at - 4 < n) return { delivered, error: 'WANFED_ERR_FRAME_TRUNCATED' }
    delivered.push(bytes.subarray(at + 4, at + 4 + n))
    at += 4 + n
  }
  return { delivered, error: undefined }
}

/** Writes `chunks`, half-closes, collects what comes back until the far side closes. */
async function writeAndWaitClose(socket: TLSSocket, chunks: Buffer[]): Promise<Buffer> {
  const got: Buffer[] = []
  socket.on('data', (c: Buffer) => got.push(c))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  for (const c of chunks) socket.write(c)
  socket.end()
  await closed
  return Buffer.concat(got)
}
