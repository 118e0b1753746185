import { randomBytes } from 'node:crypto'
import type { Duplex, Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Address, Packet, Transport } from '../transport/types.ts'
import { expectNoLeakedHandles, handleCounts } from './handles.ts'
import type { TransportHarness, TransportPair } from './harness.ts'

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/

/**
 * The transport contract as a vitest suite. Call it at the top level of a test file with a
 * harness for your implementation; it registers its own `describe` block.
 *
 * @example
 * ```ts
 * import { transportConformance } from 'wanfed/testing'
 * transportConformance({
 *   name: 'MyTransport',
 *   async setup() { ... return { a, b, addressOf: (which) => ({ name, addr }) } },
 * })
 * ```
 */
export function transportConformance(harness: TransportHarness): void {
  describe(`transport conformance: ${harness.name}`, {
    timeout: harness.timeoutMs ?? 20_000,
  }, () => {
    let pair: TransportPair
    let baseline: Map<string, number>

    beforeEach(async () => {
      baseline = handleCounts()
      pair = await harness.setup()
    })

    afterEach(async () => {
      await Promise.all([pair.a.close(), pair.b.close()])
      await harness.teardown?.(pair)
      expect(pair.a.status).toBe('closed')
      expect(pair.b.status).toBe('closed')
      await expectNoLeakedHandles(baseline)
    })

    const listenBoth = () => Promise.all([pair.a.listen(), pair.b.listen()])

    describe('lifecycle', () => {
      it('does no I/O before listen(), then listens and advertises an address', async () => {
        expect(pair.a.status).toBe('idle')
        await expect(
          pair.a.writeToAddress(Buffer.from('x'), { name: 'b.dc1', addr: '127.0.0.1:9' }),
        ).rejects.toMatchObject({
          code: 'WANFED_ERR_NOT_LISTENING',
        })
        await listenBoth()
        expect(pair.a.status).toBe('listening')
        const { ip, port } = pair.a.finalAdvertiseAddr()
        expect(typeof ip).toBe('string')
        expect(ip.length).toBeGreaterThan(0)
        expect(Number.isInteger(port) && port > 0 && port < 65536).toBe(true)
        // Given values win, as in memberlist.
        expect(pair.a.finalAdvertiseAddr('10.1.2.3', 7946)).toEqual({ ip: '10.1.2.3', port: 7946 })
      })

      it('close() is idempotent, emits close once, and later operations reject as closed', async () => {
        await listenBoth()
        let closes = 0
        pair.a.on('close', () => closes++)
        await Promise.all([pair.a.close(), pair.a.close()])
        await pair.a.close()
        expect(closes).toBe(1)
        expect(pair.a.status).toBe('closed')
        await expect(
          pair.a.writeToAddress(Buffer.from('x'), pair.addressOf('b')),
        ).rejects.toMatchObject({
          code: 'WANFED_ERR_CLOSED',
        })
        await expect(pair.a.dialAddressTimeout(pair.addressOf('b'), 1_000)).rejects.toMatchObject({
          code: 'WANFED_ERR_CLOSED',
        })
      })

      it('closes at the end of an `await using` scope', async () => {
        await listenBoth()
        {
          await using t = pair.a
          expect(t.status).toBe('listening')
        }
        expect(pair.a.status).toBe('closed')
      })

      it('destroy(err) releases everything at once', async () => {
        await listenBoth()
        let closed = false
        pair.a.on('close', () => {
          closed = true
        })
        pair.a.destroy(new Error('test'))
        await pair.a.close()
        expect(closed).toBe(true)
        expect(pair.a.status).toBe('closed')
      })

      it('close() ends the packet and stream iterators', async () => {
        await listenBoth()
        const packets = pair.b.packets()
        const streams = pair.b.streams()
        const drained = Promise.all([drain(packets), drain(streams)])
        await pair.b.close()
        await expect(withTimeout(drained, 2_000, 'iterators did not end')).resolves.toBeDefined()
      })
    })

    describe('packets', () => {
      it('delivers a packet byte for byte, with a host:port origin and monotonic timestamps', async () => {
        await listenBoth()
        const got = nextPacket(pair.b)
        const payload = randomBytes(1_000)
        const before = performance.now()
        const sentAt = await pair.a.writeToAddress(payload, pair.addressOf('b'))
        const packet = await withTimeout(got, 5_000, 'packet not delivered')
        expect(Buffer.from(packet.buf).equals(payload)).toBe(true)
        expect(packet.from).toMatch(HOST_PORT)
        const after = performance.now()
        // Both on the monotonic clock (performance.now()), never Date.now().
        expect(sentAt).toBeGreaterThanOrEqual(before)
        expect(sentAt).toBeLessThanOrEqual(after)
        expect(packet.timestamp).toBeGreaterThanOrEqual(before)
        expect(packet.timestamp).toBeLessThanOrEqual(after)
        expect(pair.b.stats().packets.received).toBeGreaterThanOrEqual(1)
      })

      it('delivers through the packets() iterator and in both directions', async () => {
        await listenBoth()
        const it = pair.a.packets()
        await pair.b.writeToAddress(Buffer.from('pong'), pair.addressOf('a'))
        const first = await withTimeout(it.next(), 5_000, 'iterator got nothing')
        expect(first.done).toBe(false)
        expect(Buffer.from((first.value as Packet).buf).toString()).toBe('pong')
        await it.return?.()
      })

      it('carries 10,000 small packets: all of them, or on a lossy transport, no corrupt ones', async () => {
        await listenBoth()
        const total = 10_000
        const seen = new Set<number>()
        let corrupt = 0
        pair.b.on('packet', (p) => {
          const buf = Buffer.from(p.buf)
          if (buf.length !== 8 || buf.readUInt32BE(4) !== (buf.readUInt32BE(0) ^ 0x5a5a5a5a))
            corrupt++
          else seen.add(buf.readUInt32BE(0))
        })
        // Batches of 50, each followed by a turn of the event loop: with both ends in one process,
        // a sender that never yields starves the receiver and the kernel buffer decides the result.
        for (let i = 0; i < total; i += 50) {
          const batch: Promise<number>[] = []
          for (let j = i; j < i + 50; j++) {
            const buf = Buffer.alloc(8)
            buf.writeUInt32BE(j, 0)
            buf.writeUInt32BE(j ^ 0x5a5a5a5a, 4)
            batch.push(pair.a.writeToAddress(buf, pair.addressOf('b')))
          }
          await Promise.all(batch)
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
        const deadline = Date.now() + 10_000
        while (seen.size < total && Date.now() < deadline) await sleep(20)
        expect(corrupt).toBe(0)
        if (pair.a.capabilities.lossyPackets) {
          // Loss is allowed, but what arrives must be what was sent, and on loopback nearly all of it.
          expect(seen.size).toBeGreaterThan(total * 0.9)
        } else {
          expect(seen.size).toBe(total)
        }
        expect(pair.b.stats().packets.received).toBeGreaterThanOrEqual(seen.size)
      })

      it('counts a packet that nobody consumes as dropped', async () => {
        await listenBoth()
        const before = pair.b.stats().packets.dropped
        await pair.a.writeToAddress(Buffer.from('nobody'), pair.addressOf('b'))
        const deadline = Date.now() + 5_000
        while (pair.b.stats().packets.dropped === before && Date.now() < deadline) await sleep(10)
        expect(pair.b.stats().packets.dropped).toBe(before + 1)
      })

      it('rejects a packet above maxPacketSize before sending anything', async () => {
        await listenBoth()
        const { maxPacketSize } = pair.a.capabilities
        await expect(
          pair.a.writeToAddress(Buffer.alloc(maxPacketSize + 1), pair.addressOf('b')),
        ).rejects.toMatchObject({
          code: 'WANFED_ERR_PACKET_TOO_LARGE',
          remote: false,
        })
      })

      it('refuses a send whose signal has already fired, sending nothing', async () => {
        await listenBoth()
        await expect(
          pair.a.writeToAddress(Buffer.from('never'), pair.addressOf('b'), {
            signal: AbortSignal.abort(),
          }),
        ).rejects.toMatchObject({ code: 'WANFED_ERR_ABORTED', remote: false })
        expect(pair.a.stats().packets).toMatchObject({ sent: 0, sendDropped: 0 })
      })
    })

    describe('streams', () => {
      it('round-trips bytes and supports half-close', async () => {
        await listenBoth()
        const accepted = nextStream(pair.b)
        const stream = await pair.a.dialAddressTimeout(pair.addressOf('b'), 5_000)
        const remote = await withTimeout(accepted, 5_000, 'stream not delivered')
        const request = randomBytes(1024 * 1024)
        stream.end(request)
        // The far side sees the end of the request and can still answer.
        const received = await withTimeout(readAll(remote), 10_000, 'request not received')
        expect(received.equals(request)).toBe(true)
        remote.end(Buffer.from('reply'))
        const reply = await withTimeout(readAll(stream), 10_000, 'reply not received')
        expect(reply.toString()).toBe('reply')
        expect(pair.a.stats().streams.dialed).toBeGreaterThanOrEqual(1)
      })

      it('delivers streams through the streams() iterator', async () => {
        await listenBoth()
        const it = pair.b.streams()
        const stream = await pair.a.dialAddressTimeout(pair.addressOf('b'), 5_000)
        const next = await withTimeout(it.next(), 5_000, 'iterator got nothing')
        expect(next.done).toBe(false)
        const remote = next.value as Duplex
        stream.write('hi')
        const [chunk] = await withTimeout(once(remote, 'data'), 5_000, 'no data')
        expect(Buffer.from(chunk as Uint8Array).toString()).toBe('hi')
        stream.destroy()
        remote.destroy()
        await it.return?.()
      })

      it('destroys and counts a stream that nobody consumes', async () => {
        await listenBoth()
        const stream = await pair.a.dialAddressTimeout(pair.addressOf('b'), 5_000)
        stream.on('error', () => {})
        const deadline = Date.now() + 5_000
        while (pair.b.stats().streams.dropped === 0 && Date.now() < deadline) await sleep(10)
        expect(pair.b.stats().streams.dropped).toBe(1)
        stream.destroy()
      })

      it('rejects an already aborted dial with AbortError and opens nothing', async () => {
        await listenBoth()
        const ac = new AbortController()
        ac.abort()
        const before = handleCounts()
        await expect(
          pair.a.dialAddressTimeout(pair.addressOf('b'), 5_000, { signal: ac.signal }),
        ).rejects.toMatchObject({
          name: 'AbortError',
        })
        expect(handleCounts()).toEqual(before)
      })
    })

    describe('failures', () => {
      /** Runs `fn` against a destination that never completes a dial, then releases it. */
      const withUnresponsive = (fn: (address: Address) => Promise<void>) => async () => {
        await listenBoth()
        const make = harness.unresponsiveDestination as NonNullable<
          TransportHarness['unresponsiveDestination']
        >
        const target = await make(pair)
        try {
          await fn(target.address)
        } finally {
          await target.close()
        }
      }
      const hasUnresponsive = harness.unresponsiveDestination !== undefined

      it.skipIf(!hasUnresponsive)(
        'times out a dial that does not complete, as a remote TimeoutError',
        withUnresponsive(async (address) => {
          const started = performance.now()
          const err = await pair.a.dialAddressTimeout(address, 200).catch((e: unknown) => e)
          expect(err).toMatchObject({ code: 'WANFED_ERR_TIMEOUT', remote: true })
          expect(performance.now() - started).toBeGreaterThanOrEqual(150)
        }),
      )

      it.skipIf(!hasUnresponsive)(
        'aborts a dial in progress',
        withUnresponsive(async (address) => {
          const ac = new AbortController()
          const dial = pair.a.dialAddressTimeout(address, 10_000, { signal: ac.signal })
          await sleep(50)
          ac.abort()
          await expect(dial).rejects.toMatchObject({ name: 'AbortError' })
        }),
      )

      it.skipIf(!hasUnresponsive)(
        'close() interrupts a dial in progress',
        withUnresponsive(async (address) => {
          const dial = pair.a.dialAddressTimeout(address, 10_000)
          await sleep(50)
          await pair.a.close()
          await expect(dial).rejects.toMatchObject({ code: 'WANFED_ERR_CLOSED' })
        }),
      )

      it.skipIf(harness.unknownDestination === undefined)(
        'fails locally for an unknown destination',
        async () => {
          await listenBoth()
          const to = (
            harness.unknownDestination as NonNullable<TransportHarness['unknownDestination']>
          )(pair)
          const sendErr = await pair.a.writeToAddress(Buffer.from('x'), to).catch((e: unknown) => e)
          expect(sendErr).toMatchObject({ remote: false })
          expect((sendErr as { code?: string }).code).toMatch(/^WANFED_ERR_/)
          const dialErr = await pair.a.dialAddressTimeout(to, 1_000).catch((e: unknown) => e)
          expect(dialErr).toMatchObject({ remote: false })
        },
      )

      it.skipIf(harness.refusedDestination === undefined)(
        'fails remotely when the destination refuses',
        async () => {
          await listenBoth()
          const to = await (
            harness.refusedDestination as NonNullable<TransportHarness['refusedDestination']>
          )(pair)
          const err = await pair.a.dialAddressTimeout(to, 5_000).catch((e: unknown) => e)
          expect(err).toMatchObject({ remote: true })
          expect((err as { code?: string }).code).toMatch(/^WANFED_ERR_/)
        },
      )
    })
  })
}

function nextPacket(t: Transport): Promise<Packet> {
  return new Promise((resolve) => t.once('packet', resolve))
}

function nextStream(t: Transport): Promise<Duplex> {
  return new Promise((resolve) => t.once('stream', resolve))
}

function once(stream: Duplex, event: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    stream.once(event, (...args: unknown[]) => resolve(args))
    stream.once('error', reject)
  })
}

async function readAll(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = []
  // Iterating a stream destroys it at the end unless told not to; half-close tests need it alive.
  for await (const chunk of (stream as Readable).iterator({ destroyOnReturn: false })) {
    chunks.push(Buffer.from(chunk as Uint8Array))
  }
  return Buffer.concat(chunks)
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0
  for await (const _ of it) n++
  return n
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
