import { describe, expect, it } from 'vitest'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import type { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { farEnd } from '../helpers/far-end.ts'
import { MiB, memoryPeak, mib } from '../helpers/memory.ts'
import { until } from '../helpers/net.ts'
import { dc1Sender, dc2Receiver, nodeContext } from '../helpers/wanfed-node.ts'

// A flood of cross-DC packets from one WanfedTransport, at a receiver that consumes slowly and at
// a remote that stalls (accepts, never reads): every send settles, every packet is accounted for
// (sent, or dropped and counted by reason), nothing crashes, and memory stays far below what was
// offered. The figures (peak growth of RSS, heap and Buffers) are printed.

const ctx = nodeContext()
const PACKETS = 40_000
const SIZE = 8 * 1024
const WAVE = 200
const OFFERED = PACKETS * SIZE

/**
 * Sends PACKETS packets in waves of WAVE, yielding one event-loop turn between waves (so sockets
 * get to write: without it the whole flood meets one congested write buffer); every send must
 * settle. Returns how they settled.
 */
async function flood(from: WanfedTransport, to: string) {
  const payload = Buffer.alloc(SIZE, 0x5a)
  let resolved = 0
  let rejected = 0
  for (let i = 0; i < PACKETS; i += WAVE) {
    const wave: Promise<number>[] = []
    for (let j = 0; j < WAVE; j++) wave.push(from.writeToAddress(payload, { name: to, addr: '' }))
    for (const r of await Promise.allSettled(wave)) {
      if (r.status === 'fulfilled') resolved++
      else rejected++
    }
    await new Promise((r) => setImmediate(r))
  }
  return { resolved, rejected }
}

function print(
  what: string,
  peak: ReturnType<ReturnType<typeof memoryPeak>['stop']>,
  extra: string,
) {
  console.log(
    `[load-flood] ${what}: ${PACKETS} x ${SIZE / 1024} KiB (${mib(OFFERED)} MiB offered); peak growth RSS ${mib(peak.rss)} MiB, ` +
      `heap ${mib(peak.heap)} MiB, Buffers ${mib(peak.buffers)} MiB; ${extra}`,
  )
}

describe('a flood of packets: bounded memory, every send settled, every drop counted', () => {
  it('to a receiver whose consumer is slow', async () => {
    const betty = await dc2Receiver(ctx)
    // The consumer takes one packet per timer turn; its queue holds 256.
    const stopConsumer = new AbortController()
    const iterator = betty.transport.packets({ highWaterMark: 256, signal: stopConsumer.signal })
    let consumed = 0
    const consumer = (async () => {
      for await (const _ of iterator) {
        consumed++
        await new Promise((r) => setTimeout(r, 1))
      }
    })()
    ctx.cleanups.push(async () => {
      stopConsumer.abort()
      await consumer
    })
    const bob = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [betty.serverAddr] }))
    const peak = memoryPeak()
    const settled = await flood(bob.transport, 'betty.dc2')
    const mem = peak.stop()
    expect(settled).toEqual({ resolved: PACKETS, rejected: 0 })
    const sent = bob.transport.stats().packets
    expect(sent.sent + sent.sendDropped).toBe(PACKETS)
    // Every packet sent arrives (`received`), then is queued for the consumer or dropped at its
    // full queue and counted.
    const inbound = () => betty.transport.stats().packets
    await until(() => inbound().received === sent.sent, 'every sent packet to land', 30_000)
    expect(inbound().dropped).toBeGreaterThan(0)
    expect(iterator.dropped).toBe(inbound().dropped)
    const pool = bob.transport.stats().pool
    expect(pool.dropped).toBe(sent.sendDropped)
    print(
      'slow receiver',
      mem,
      `sender: ${sent.sent} sent, ${pool.droppedPendingFull} dropped waiting for the dial, ${pool.droppedCongested} congested; ` +
        `receiver: ${inbound().received} received, ${inbound().dropped} of them dropped at its full queue (${consumed} consumed so far)`,
    )
    expect(mem.rss).toBeLessThan(OFFERED / 2)
    expect(mem.heap + mem.buffers).toBeLessThan(OFFERED / 4)
  }, 120_000)

  it('to a remote that stalls: accepts, never reads', async () => {
    const far = await farEnd(ctx.cleanups, (s) => s.pause())
    const bob = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [far] }), {
      transport: {
        pool: {
          maxConnsPerNode: 2,
          congestionTimeoutMs: 500,
          progressWindowMs: 300,
          reapIntervalMs: 50,
        },
      },
    })
    const peak = memoryPeak()
    const settled = await flood(bob.transport, 'betty.dc2')
    // Keep offering a little for a while: the stalled connections are judged and closed.
    await until(
      () => bob.transport.stats().pool.stalled >= 1,
      'a stalled connection to be closed',
      20_000,
    )
    const mem = peak.stop()
    expect(settled).toEqual({ resolved: PACKETS, rejected: 0 })
    const { packets, pool } = bob.transport.stats()
    expect(packets.sent + packets.sendDropped).toBe(PACKETS)
    expect(pool.droppedCongested).toBeGreaterThan(PACKETS / 2)
    expect(pool.dropped).toBe(packets.sendDropped)
    print(
      'stalled remote',
      mem,
      `${packets.sent} written before congestion, ${pool.droppedCongested} dropped congested, ` +
        `${pool.droppedPendingFull} dropped waiting for the dial, ${pool.stalled} stalled connections closed`,
    )
    expect(mem.rss).toBeLessThan(OFFERED / 2)
    expect(mem.heap + mem.buffers).toBeLessThan(OFFERED / 4)
    expect(OFFERED).toBeGreaterThan(256 * MiB)
  }, 120_000)
})
