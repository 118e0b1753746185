import type { TLSSocket } from 'node:tls'
import { fc } from '@fast-check/vitest'
import { decode, encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { dialViaGateway, encodeFrame, FrameDecoder } from '../../src/alpn/index.ts'
import { AlpnServer } from '../../src/alpn/server.ts'
import { TlsSessionCache } from '../../src/alpn/session-cache.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import {
  ALPN_FEDERATION_STATE,
  decodeResponse,
  RPC_METHODS,
} from '../../src/locator/federation/rpc-protocol.ts'
import { FederationStateService } from '../../src/locator/federation/rpc-service.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway, state } from '../helpers/federation.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { fuzzParams, fuzzTimeout, mutation, processErrorWatch } from '../helpers/fuzz.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

// Malformed requests at the federation-state service, over its ALPN on a real AlpnServer: random
// frames, random msgpack, requests with fields of every type, and byte mutations of valid ones.
// Every answer is a well-formed response to a request that was sent; the store only ever holds
// states that survive a snapshot and restore; a legitimate client's List works after every case.

const { clock, cleanups } = leakGuard()
const watch = processErrorWatch()

async function primary() {
  const store = new FederationStateStore({ clock })
  store.upsert(state('dc1', gateway({ wan: '203.0.113.1' })))
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture('bob') },
    closeGraceMs: 100,
    maxConnsPerClient: 0,
    clock,
  })
  const service = new FederationStateService({
    store,
    datacenter: 'dc1',
    primaryDatacenter: 'dc1',
    clock,
  }).attach(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  const address = `127.0.0.1:${port}`
  const client = new FederationStateClient({
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({ dc1: [address] }),
    tls: { ca: caPem(), ...tlsFixture('betty') },
    clock,
  })
  cleanups.push(async () => {
    await client.close()
    await service.close()
    await server.close()
    await store.close()
  })
  return { store, service, address, client }
}

/** Valid requests of each method, with small waits so a blocking one cannot hold a case long. */
const validRequests = [
  { id: 1, method: 'List', args: {} },
  { id: 2, method: 'Get', args: { datacenter: 'dc1' } },
  { id: 3, method: 'ListMeshGateways', args: { minIndex: 0 } },
  { id: 4, method: 'List', args: { minIndex: 1, waitMs: 10 } },
  {
    id: 5,
    method: 'Apply',
    args: { op: 'upsert', state: state('dc7', gateway({ wan: '1.2.3.4' })) },
  },
  { id: 6, method: 'Apply', args: { op: 'delete', state: { datacenter: 'dc7' } } },
].map((r) => Buffer.from(encode(r)))

/** A value of any msgpack shape, fields of federation requests among its keys. */
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom('datacenter', 'op', 'state', 'minIndex', 'waitMs', 'meshGateways', 'index'),
        fc.string({ maxLength: 8 }),
      ),
      tie('any'),
      { maxKeys: 5 },
    ),
  ),
})).any

const request = fc.record({
  id: fc.oneof(fc.nat(), value),
  method: fc.oneof(fc.constantFrom(...RPC_METHODS), value),
  args: value,
})

/** One frame's body: random bytes, random msgpack, a request of any shape, or a mutated valid one. */
const body = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b)),
  value.map((v) => Buffer.from(encode(v))),
  request.map((r) => {
    const a = r.args as { waitMs?: unknown } | null
    // A blocking wait holds its answer until the connection closes: keep them short.
    if (typeof a === 'object' && a !== null && !Array.isArray(a)) a.waitMs = 5
    return Buffer.from(encode(r))
  }),
  fc
    .tuple(fc.nat(), mutation())
    .map(([i, mutate]) => mutate(validRequests[i % validRequests.length] as Buffer)),
)

describe('the federation-state service under malformed requests', () => {
  it(
    'answers only with well-formed responses to requests it was sent, stores only valid states, keeps serving',
    async () => {
      const p = await primary()
      const sessions = new TlsSessionCache()
      // The legitimate client's connection stays open throughout: the one connection left.
      await p.client.list()
      let answered = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            body.filter((b) => b.length > 0),
            { minLength: 1, maxLength: 4 },
          ),
          async (frames) => {
            const socket = await dialViaGateway({
              gateway: p.address,
              datacenter: 'dc1',
              alpn: ALPN_FEDERATION_STATE,
              tls: { ca: caPem(), ...tlsFixture('betty') },
              sessionCache: sessions,
            })
            const responses = await exchange(socket, frames)
            answered += responses.length
            const sent = frames.map(idOf)
            for (const r of responses) expect(sent).toContain(r.id)
            await until(() => p.service.stats().connections === 1, 'the connection to close')
            // Whatever an Apply stored must be restorable, as a restarted primary reads it.
            new FederationStateStore({ clock }).restore(p.store.snapshot())
            watch.expectNone()
            const list = await p.client.list()
            expect(list.index).toBe(p.store.index)
          },
        ),
        fuzzParams(300),
      )
      // Both paths ran: requests answered, requests refused.
      expect(answered).toBeGreaterThan(0)
      expect(p.service.stats().errors).toBeGreaterThan(0)
    },
    fuzzTimeout(60_000),
  )
})

/** Writes each body as a frame, half-closes, and reads response frames until the connection closes. */
async function exchange(
  socket: TLSSocket,
  bodies: Buffer[],
): Promise<ReturnType<typeof decodeResponse>[]> {
  const decoder = new FrameDecoder()
  const responses: ReturnType<typeof decodeResponse>[] = []
  socket.on('data', (c: Buffer) => decoder.write(c, (f) => responses.push(decodeResponse(f))))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  for (const b of bodies) socket.write(encodeFrame(b))
  socket.end()
  await closed
  return responses
}

/** The id a frame's request carries, if it decodes to a map with one. */
function idOf(frame: Buffer): unknown {
  try {
    const v = decode(frame) as { id?: unknown } | null
    return typeof v === 'object' && v !== null ? v.id : undefined
  } catch {
    return undefined
  }
}
