import { once } from 'node:events'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { isWanfedError, SocketError } from '../../src/errors.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { until } from '../helpers/net.ts'
import { dc2Receiver, nodeContext, wanfedNode } from '../helpers/wanfed-node.ts'

// A cross-DC stream whose gateway dies must fail with a typed error, and one whose peer closes
// must still end cleanly. The "gateway" here is a TCP relay in front of betty's ALPN server that
// the test can cut as a dying process's kernel would: a bare FIN (nothing unread) or a reset.

const ctx = nodeContext()

interface Relay {
  address: string
  /** Client-side sockets accepted, in order. */
  clients: Socket[]
  /** The relay process "dies": every connection cut with a FIN (`'fin'`) or a reset. */
  cut(how: 'fin' | 'reset'): void
  close(): Promise<void>
}

async function relayTo(target: string): Promise<Relay> {
  const [host, port] = target.split(':') as [string, string]
  const pairs: [Socket, Socket][] = []
  const clients: Socket[] = []
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = netConnect({ host, port: Number(port), allowHalfOpen: true })
    for (const s of [client, upstream]) s.on('error', () => {})
    client.pipe(upstream)
    upstream.pipe(client)
    pairs.push([client, upstream])
    clients.push(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port: own } = server.address() as { port: number }
  return {
    address: `127.0.0.1:${own}`,
    clients,
    cut(how) {
      for (const [client, upstream] of pairs) {
        upstream.destroy()
        client.unpipe()
        if (how === 'fin') client.end()
        else client.resetAndDestroy()
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** bob.dc1 dialling betty.dc2 through a relay; betty's stream handler is the test's. */
async function twoDcs(onStream: (s: Duplex) => void) {
  const betty = await dc2Receiver(ctx)
  betty.transport.on('stream', onStream)
  const relay = await relayTo(betty.serverAddr)
  ctx.cleanups.push(() => relay.close())
  const bob = await wanfedNode({
    network: ctx.network,
    node: 'bob',
    datacenter: 'dc1',
    identity: 'bob',
    locator: new StaticGatewayLocator({ dc2: [relay.address] }),
    clock: ctx.clock,
  })
  ctx.cleanups.push(() => bob.close())
  return { bob, betty, relay }
}

/** How a stream's read side finished: 'end', or the error it was destroyed with. */
function outcome(stream: Duplex): Promise<'end' | Error> {
  return new Promise((resolve) => {
    stream.once('end', () => resolve('end'))
    stream.once('error', (err) => resolve(err))
    stream.resume()
  })
}

describe('a cross-DC stream ends cleanly only when the peer closed it', () => {
  it('the far server ending its side (TLS close_notify, then FIN) reads as a clean end, data intact', async () => {
    const { bob } = await twoDcs((s) => {
      s.on('error', () => {})
      s.end(Buffer.from('last words'))
    })
    const stream = await bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000)
    const chunks: Buffer[] = []
    stream.on('data', (d: Buffer) => chunks.push(d))
    expect(await outcome(stream)).toBe('end')
    expect(Buffer.concat(chunks).toString()).toBe('last words')
    stream.end()
    await until(() => stream.destroyed || stream.writableFinished, 'our side to finish')
  })

  /** An echoed stream through the relay, which is then cut; resolves with how the stream ended. */
  async function echoThenCut(how: 'fin' | 'reset') {
    const { bob, relay } = await twoDcs((s) => {
      s.on('error', () => {})
      s.pipe(s)
    })
    const stream = await bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000)
    stream.write('ping')
    await once(stream, 'data')
    const done = outcome(stream)
    relay.cut(how)
    return { result: await done, stream }
  }

  it('a gateway that dies with nothing unread (a bare FIN, no close_notify) fails the stream with SocketError', async () => {
    const { result, stream } = await echoThenCut('fin')
    expect(result).toBeInstanceOf(SocketError)
    expect(isWanfedError(result, 'WANFED_ERR_SOCKET')).toBe(true)
    expect((result as SocketError).remote).toBe(true)
    expect((result as Error).message).toMatch(/without a TLS close_notify/)
    await until(() => stream.destroyed, 'the stream to be destroyed')
  })

  it('a gateway that dies with bytes unread (a reset) fails the stream with SocketError, cause ECONNRESET', async () => {
    const { result, stream } = await echoThenCut('reset')
    expect(result).toBeInstanceOf(SocketError)
    expect((result as SocketError).remote).toBe(true)
    expect(((result as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNRESET')
    await until(() => stream.destroyed, 'the stream to be destroyed')
  })

  it("an application's own destroy(err) is left as it is", async () => {
    const { bob } = await twoDcs((s) => {
      s.on('error', () => {})
      s.resume()
    })
    const stream = await bob.transport.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 5_000)
    const mine = new Error('mine')
    const done = outcome(stream)
    stream.destroy(mine)
    expect(await done).toBe(mine)
  })
})
