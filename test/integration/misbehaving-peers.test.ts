import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { farEnd } from '../helpers/far-end.ts'
import { closedPort, until } from '../helpers/net.ts'
import { dc1Sender, nodeContext } from '../helpers/wanfed-node.ts'

// Far sides that stop reading, close right after the handshake, or cannot be reached while no
// packet may wait: each must cost a bounded amount and be told to the operator.

const ctx = nodeContext()
const { cleanups } = ctx

describe('WanfedTransport: peers that misbehave', () => {
  it('closes a pooled connection whose peer stopped reading, freeing the slot', async () => {
    // The far end never reads: writes back up until the connection is congested for good.
    const far = await farEnd(cleanups, (s) => s.pause())
    const b = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [far] }), {
      transport: {
        pool: {
          maxConnsPerNode: 1,
          writeHighWaterMark: 64 * 1024,
          congestionTimeoutMs: 1_000,
          reapIntervalMs: 20,
        },
      },
    })
    const big = Buffer.alloc(60_000, 1)
    // Keep sending until drops persist: then the kernel's buffers are full and nothing drains any
    // more. The 1 ms pause only paces the sender (it lets the socket write between packets); no
    // assertion depends on its length.
    let consecutive = 0
    for (let i = 0; i < 3_000 && consecutive < 30; i++) {
      const before = b.transport.stats().packets.sendDropped
      await b.transport.writeToAddress(big, { name: 'betty.dc2', addr: '' })
      consecutive = b.transport.stats().packets.sendDropped > before ? consecutive + 1 : 0
      await sleep(1)
    }
    expect(consecutive).toBe(30)
    await until(() => b.transport.stats().pool.stalled >= 1, 'the stalled connection to be closed')
    await until(() => b.transport.stats().pool.open === 0, 'the slot to be free')
  })

  it('fails the dial to a peer that closes right after the handshake, counting its packets as not sent', async () => {
    // As a server that refuses our certificate after a TLS 1.3 handshake behaves when it sends no
    // alert: the dial waits for the session ticket that only an accepting server sends.
    const far = await farEnd(cleanups, (s) => s.destroy())
    const b = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [far] }))
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: true })
    await until(() => b.transport.stats().pool.dialFailures === 1, 'the dial to fail')
    // The node is backed off now: the next packet is dropped and counted, not dialled for.
    await b.transport.writeToAddress(Buffer.from('y'), { name: 'betty.dc2', addr: '' })
    const { packets, pool } = b.transport.stats()
    expect(packets.sent).toBe(0)
    expect(packets.sendErrors).toBe(1)
    expect(pool.dialFailures).toBe(1)
    expect(pool.droppedBackoff).toBe(1)
    expect(pool.closedEarly).toBe(0)
  })

  it('drops the first packet of a failed dial without an unhandled rejection when no packet may wait', async () => {
    const dead = `127.0.0.1:${await closedPort()}`
    const b = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [dead] }), {
      transport: { pool: { maxPendingPerNode: 0 } },
    })
    await b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    expect(b.transport.stats().packets.sendDropped).toBe(1)
    await until(() => b.transport.stats().pool.dialFailures === 1, 'the dial to fail')
  })
})
