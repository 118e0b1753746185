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

  it('tells the operator when a peer keeps closing connections right after the handshake', async () => {
    // As a server that refuses our certificate after a TLS 1.3 handshake behaves.
    const far = await farEnd(cleanups, (s) => s.destroy())
    const b = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [far] }))
    const errors: Error[] = []
    b.transport.on('error', (e) => errors.push(e))
    for (let i = 0; i < 3; i++) {
      await b.transport
        .writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
        .catch(() => {})
      await until(() => b.transport.stats().pool.open === 0, 'the close')
    }
    await until(() => errors.length === 1, 'the error')
    expect(errors[0]).toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(errors[0]?.message).toContain('client certificate')
    expect(b.transport.stats().pool.closedEarly).toBe(3)
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
