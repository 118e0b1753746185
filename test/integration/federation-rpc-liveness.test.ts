import type { TLSSocket } from 'node:tls'
import { decode, encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { encodeFrame, FrameDecoder } from '../../src/alpn/index.ts'
import { AlpnServer } from '../../src/alpn/server.ts'
import { ClosedError, InvalidArgumentError, TimeoutError } from '../../src/errors.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { ALPN_FEDERATION_STATE } from '../../src/locator/federation/rpc-protocol.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { servePrimaryStates } from '../helpers/federation-gateways.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'

// A blocking federation-state read over a connection that went silent (a partition, a
// black-holed gateway, a hung server) fails once a liveness probe goes unanswered, not at the
// read's deadline (its wait plus requestTimeoutMs); over a live connection the probes are
// answered and the read goes on waiting.

const { clock, cleanups } = leakGuard()
const INTERVAL = 150

/**
 * A server that reads requests and answers them as `answer` says (undefined: never): a hung
 * server, or one of ours from before `Ping`. Its connections, for the test to count.
 */
async function scriptedServer(answer: (request: Record<string, unknown>) => unknown) {
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture('bob') },
    closeGraceMs: 100,
    clock,
  })
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => server.close())
  const address = `127.0.0.1:${port}`
  const sockets: TLSSocket[] = []
  server.handle(ALPN_FEDERATION_STATE, (socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) =>
      decoder.write(chunk, (frame) => {
        const request = decode(frame) as Record<string, unknown>
        const response = answer(request)
        if (response !== undefined)
          socket.write(encodeFrame(encode({ id: request['id'], ...(response as object) })))
      }),
    )
  })
  cleanups.push(() => {
    for (const s of sockets) s.destroy()
  })
  return { address, sockets }
}

function client(address: string, livenessIntervalMs: number) {
  const c = new FederationStateClient({
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({ dc1: [address] }),
    tls: { ca: caPem(), ...tlsFixture('betty') },
    livenessIntervalMs,
    clock,
  })
  cleanups.push(() => c.close())
  return c
}

describe('federation-state client liveness probes', () => {
  it('a blocking read over a connection gone silent fails within two intervals, and the next request dials again', async () => {
    const hung = await scriptedServer(() => undefined)
    const c = client(hung.address, INTERVAL)
    const start = performance.now()
    const err = await c.list({ minIndex: 5, waitMs: 300_000 }).catch((e: unknown) => e)
    const ms = performance.now() - start
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toMatch(/liveness probe unanswered/)
    // Two intervals of silence, give or take the dial and the timers; the deadline was 5 min.
    expect(ms).toBeGreaterThanOrEqual(2 * INTERVAL - 20)
    expect(ms).toBeLessThan(3_000)
    await expect(c.list({ minIndex: 5, waitMs: 300_000 })).rejects.toThrow(TimeoutError)
    expect(hung.sockets).toHaveLength(2)
  })

  it('with the probes off, the same read is still waiting long after', async () => {
    const hung = await scriptedServer(() => undefined)
    const c = client(hung.address, 0)
    let settled = false
    const read = c.list({ minIndex: 5, waitMs: 300_000 }).finally(() => {
      settled = true
    })
    read.catch(() => {})
    await new Promise((r) => setTimeout(r, 6 * INTERVAL))
    expect(settled).toBe(false)
    await c.close()
    await expect(read).rejects.toThrow(ClosedError)
  })

  it('over a live connection the probes are answered and a blocking read waits out its time on one connection', async () => {
    const store = new FederationStateStore({ clock })
    const { server, service, address } = await servePrimaryStates(store, cleanups, clock)
    const c = client(address, INTERVAL)
    const start = performance.now()
    const r = await c.list({ minIndex: 5, waitMs: 1_500 })
    expect(performance.now() - start).toBeGreaterThanOrEqual(1_400)
    expect(r.states).toEqual([])
    // The read and several probes (about one an interval), all on the one connection.
    expect(service.stats().requests).toBeGreaterThanOrEqual(4)
    expect(server.stats().byAlpn[ALPN_FEDERATION_STATE]).toBe(1)
  })

  it('a server from before Ping answers it with an unknown-method error, which proves it alive too', async () => {
    const old = await scriptedServer((request) =>
      request['method'] === 'Ping'
        ? { error: { code: 'WANFED_ERR_RPC', message: 'unknown method "Ping"' } }
        : undefined,
    )
    const c = client(old.address, INTERVAL)
    let settled = false
    const read = c.list({ minIndex: 5, waitMs: 300_000 }).finally(() => {
      settled = true
    })
    read.catch(() => {})
    await new Promise((r) => setTimeout(r, 8 * INTERVAL))
    expect(settled).toBe(false)
    expect(old.sockets).toHaveLength(1)
    await c.close()
    await expect(read).rejects.toThrow(ClosedError)
  })

  it('a probe left unanswered keeps its deadline when the requests it covered were aborted', async () => {
    const hung = await scriptedServer(() => undefined)
    const interval = 300
    const c = client(hung.address, interval)
    const ac = new AbortController()
    const first = c.list({ minIndex: 5, waitMs: 300_000, signal: ac.signal })
    first.catch(() => {})
    // Past the probe (sent at one interval), before its deadline (two): abort; then past that
    // deadline, with nothing in flight when it came, ask again.
    await new Promise((r) => setTimeout(r, 1.5 * interval))
    ac.abort()
    await new Promise((r) => setTimeout(r, interval))
    const start = performance.now()
    const err = await c.list({ minIndex: 5, waitMs: 300_000 }).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/liveness probe unanswered/)
    // The probe's deadline has passed: at once, not after two fresh intervals (600 ms).
    expect(performance.now() - start).toBeLessThan(interval)
    expect(hung.sockets).toHaveLength(1)
  })

  it('refuses a liveness interval that is negative or too short to mean anything', () => {
    for (const livenessIntervalMs of [-5, 10, Number.NaN])
      expect(
        () =>
          new FederationStateClient({
            datacenter: 'dc1',
            locator: new StaticGatewayLocator({}),
            tls: { ca: caPem(), ...tlsFixture('betty') },
            livenessIntervalMs,
          }),
      ).toThrow(InvalidArgumentError)
  })
})
