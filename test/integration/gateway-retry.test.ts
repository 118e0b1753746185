import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import type { Packet } from '../../src/transport/types.ts'
import { closedPort, silentServer } from '../helpers/net.ts'
import { dc1Sender, dc2Receiver, nodeContext, type WanfedNode } from '../helpers/wanfed-node.ts'

// A cross-DC dial whose gateway fails in a way that is the gateway's own (refused, silent) is
// retried once on another gateway, so the caller never pays for a dead gateway's re-probe.
// Gateways are picked in order (random 0 takes the first healthy one): the dead one first.

const ctx = nodeContext()
const { clock, cleanups } = ctx

const betty = (): Promise<WanfedNode> => dc2Receiver(ctx)

/** A TCP listener that counts the connections it accepts and closes them. */
async function countingServer(): Promise<{ address: string; accepted: () => number }> {
  let accepted = 0
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    accepted++
    sockets.add(s)
    s.on('error', () => {})
    s.destroy()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())))
  const { port } = server.address() as { port: number }
  return { address: `127.0.0.1:${port}`, accepted: () => accepted }
}

const inOrder = (gateways: string[]) =>
  new StaticGatewayLocator({ dc2: gateways }, { clock, random: () => 0 })

describe('WanfedTransport: a dial the gateway failed is retried once on another gateway', () => {
  it('a stream dial through a refusing gateway completes through the next one', async () => {
    const far = await betty()
    far.transport.on('stream', (s) => s.resume())
    const dead = `127.0.0.1:${await closedPort()}`
    const locator = inOrder([dead, far.serverAddr])
    const bob = await dc1Sender(ctx, locator)
    const stream = await bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000)
    stream.destroy()
    expect(bob.transport.stats().streams).toMatchObject({ dialed: 1, dialErrors: 0 })
    const [d, ok] = locator.health('dc2')
    expect(d?.consecutiveFailures).toBe(1)
    expect(ok?.consecutiveFailures).toBe(0)
  })

  it('a packet dial through a gateway that accepts and never answers completes through the next one', async () => {
    const far = await betty()
    const got = new Promise<Packet>((resolve) => far.transport.once('packet', resolve))
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const locator = inOrder([`127.0.0.1:${silent.port}`, far.serverAddr])
    const bob = await dc1Sender(ctx, locator, { transport: { handshakeTimeoutMs: 300 } })
    await bob.transport.writeToAddress(Buffer.from('hello'), { name: 'betty.dc2', addr: '' })
    expect((await got).buf.toString()).toBe('hello')
    const pool = bob.transport.stats().pool
    expect(pool.dials).toBe(1)
    expect(pool.dialFailures).toBe(0)
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
  })

  it('a failure that is not the gateway’s (the far server refuses the name) is not retried', async () => {
    const far = await betty()
    const other = await countingServer()
    const locator = inOrder([far.serverAddr, other.address])
    const bob = await dc1Sender(ctx, locator)
    // ghost.server.dc2.consul is not in betty's certificate: the handshake fails past TCP.
    await expect(
      bob.transport.dialAddressTimeout({ name: 'ghost.dc2', addr: '' }, 5_000),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_TLS' })
    expect(other.accepted()).toBe(0)
    expect(locator.health('dc2').map((h) => h.consecutiveFailures)).toEqual([0, 0])
  })

  it('two gateways at most: with three dead, the dial fails with the second one’s error', async () => {
    const dead = await Promise.all([closedPort(), closedPort(), closedPort()])
    const locator = inOrder(dead.map((p) => `127.0.0.1:${p}`))
    const bob = await dc1Sender(ctx, locator)
    await expect(
      bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_SOCKET', remote: true })
    expect(locator.health('dc2').map((h) => h.consecutiveFailures)).toEqual([1, 1, 0])
    expect(bob.transport.stats().streams.dialErrors).toBe(1)
  })

  it('one gateway only: nothing to retry on, the dial fails once', async () => {
    const dead = `127.0.0.1:${await closedPort()}`
    const locator = inOrder([dead])
    const bob = await dc1Sender(ctx, locator)
    await expect(
      bob.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_SOCKET' })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
  })
})
