import { encode } from '@msgpack/msgpack'
import { describe, expect, it } from 'vitest'
import { dialViaGateway, encodeFrame, FrameDecoder } from '../../src/alpn/index.ts'
import { AlpnServer } from '../../src/alpn/server.ts'
import {
  AbortError,
  HandshakeTimeoutError,
  InvalidFederationStateError,
  RpcError,
  TimeoutError,
} from '../../src/errors.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { ALPN_FEDERATION_STATE, decodeResponse } from '../../src/locator/federation/rpc-protocol.ts'
import { FederationStateService } from '../../src/locator/federation/rpc-service.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway, state } from '../helpers/federation.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { silentServer } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

async function node(identity: string, datacenter: string, forward?: FederationStateClient) {
  const store = new FederationStateStore({ clock })
  const server = new AlpnServer({
    tls: { ca: caPem(), ...tlsFixture(identity) },
    closeGraceMs: 100,
    clock,
  })
  const service = new FederationStateService({
    store,
    datacenter,
    primaryDatacenter: 'dc1',
    clock,
    wallClock: () => 1_700_000_000_000,
    ...(forward ? { forward } : {}),
  }).attach(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(async () => {
    await service.close()
    await server.close()
    await store.close()
  })
  return { store, service, server, address: `127.0.0.1:${port}` }
}

function client(datacenter: string, address: string, identity = 'betty') {
  const c = new FederationStateClient({
    datacenter,
    locator: new StaticGatewayLocator({ [datacenter]: [address] }),
    tls: { ca: caPem(), ...tlsFixture(identity) },
    clock,
  })
  cleanups.push(() => c.close())
  return c
}

/** A raw connection speaking frames, to send what a client never would. */
async function raw(address: string, datacenter = 'dc1') {
  const socket = await dialViaGateway({
    gateway: address,
    datacenter,
    alpn: ALPN_FEDERATION_STATE,
    tls: { ca: caPem(), ...tlsFixture('betty') },
  })
  cleanups.push(() => {
    socket.destroy()
  })
  const decoder = new FrameDecoder()
  const frames: Buffer[] = []
  socket.on('data', (c: Buffer) => decoder.write(c, (f) => frames.push(Buffer.from(f))))
  const next = async () => {
    while (frames.length === 0) {
      if (socket.destroyed) throw new Error('closed')
      await new Promise((r) => setTimeout(r, 5))
    }
    return decodeResponse(frames.shift() as Buffer)
  }
  return { socket, next }
}

describe('federation-state service over TLS', () => {
  it('Apply, Get, List, ListMeshGateways with the primary; updatedAt filled, persisted index returned', async () => {
    const p = await node('bob', 'dc1')
    const c = client('dc1', p.address)
    expect(
      await c.apply({ op: 'upsert', state: state('dc2', gateway({ wan: '203.0.113.1' })) }),
    ).toEqual({
      applied: true,
      index: 2,
    })
    const got = await c.get('DC2')
    expect(got.index).toBe(2)
    expect(got.state?.updatedAt).toBe(1_700_000_000_000)
    expect(got.state?.meshGateways[0]?.service.taggedAddresses['wan']?.address).toBe('203.0.113.1')
    expect(await c.get('dc9')).toEqual({ index: 2, state: undefined })
    const list = await c.list()
    expect(list.states.map((s) => s.datacenter)).toEqual(['dc2'])
    expect(Object.keys((await c.listMeshGateways()).gateways)).toEqual(['dc2'])
    expect(await c.apply({ op: 'delete', state: { datacenter: 'dc2' } })).toEqual({
      applied: false,
      index: 3,
    })
    expect(p.service.stats().requests).toBe(6)
  })

  it('blocking List waits for a change and answers on the same connection', async () => {
    const p = await node('bob', 'dc1')
    const c = client('dc1', p.address)
    p.store.upsert(state('dc1'))
    const blocked = c.list({ minIndex: 2, waitMs: 10_000 })
    await new Promise((r) => setTimeout(r, 50))
    p.store.upsert(state('dc2'))
    expect((await blocked).index).toBe(3)
    const timedOut = await c.list({ minIndex: 3, waitMs: 50 })
    expect(timedOut.index).toBe(3)
  })

  it('List answers stay right across a restore that repeats an index with other contents', async () => {
    const p = await node('bob', 'dc1')
    const c = client('dc1', p.address)
    p.store.upsert(state('dc1'))
    const old = p.store.snapshot()
    p.store.upsert(state('dc2'))
    expect((await c.list()).states.map((s) => s.datacenter)).toEqual(['dc1', 'dc2'])
    p.store.restore(old)
    p.store.upsert(state('dc3'))
    expect(p.store.index).toBe(3)
    const again = await c.list()
    expect(again.index).toBe(3)
    expect(again.states.map((s) => s.datacenter)).toEqual(['dc1', 'dc3'])
    expect((await c.listMeshGateways()).gateways).toEqual({})
    const empty = await node('alice', 'dc1')
    expect((await client('dc1', empty.address).list()).index).toBe(1)
  })

  it('errors come back typed and remote: unknown op, missing datacenter', async () => {
    const p = await node('bob', 'dc1')
    const c = client('dc1', p.address)
    const err = await c.apply({ op: 'merge' as never, state: state('dc2') }).catch((e: Error) => e)
    expect(err).toBeInstanceOf(InvalidFederationStateError)
    expect((err as InvalidFederationStateError).remote).toBe(true)
    expect((err as Error).message).toContain('Invalid federation state operation: merge')
    await expect(c.apply({ op: 'upsert', state: { datacenter: '' } })).rejects.toThrow(
      'missing federation state datacenter',
    )
    expect(p.store.index).toBe(0)
  })

  it('a secondary forwards Apply to the primary, and refuses it without a forward', async () => {
    const p = await node('bob', 'dc1')
    const lonely = await node('bonnie', 'dc3')
    await expect(
      client('dc3', lonely.address).apply({ op: 'upsert', state: state('dc3') }),
    ).rejects.toBeInstanceOf(RpcError)
    const s = await node('betty', 'dc2', client('dc1', p.address))
    expect(
      await client('dc2', s.address, 'bonnie').apply({ op: 'upsert', state: state('dc2') }),
    ).toEqual({ applied: true, index: 2 })
    expect(p.store.get('dc2').state?.datacenter).toBe('dc2')
    expect(s.store.get('dc2').state).toBeUndefined()
  })

  it('malformed requests: unknown method answered, a request without an id closes the connection', async () => {
    const p = await node('bob', 'dc1')
    const r = await raw(p.address)
    r.socket.write(encodeFrame(encode({ id: 7, method: 'Drop', args: {} })))
    expect(await r.next()).toEqual({
      id: 7,
      error: { code: 'WANFED_ERR_RPC', message: 'unknown method "Drop"' },
    })
    r.socket.write(encodeFrame(encode({ id: 8, method: 'List', args: [] })))
    expect((await r.next()).id).toBe(8)
    r.socket.write(encodeFrame(encode({ id: 9, method: 'Get', args: { datacenter: 5 } })))
    expect(await r.next()).toMatchObject({
      id: 9,
      error: { code: 'WANFED_ERR_INVALID_FEDERATION_STATE' },
    })
    const ended = new Promise<void>((resolve) => r.socket.once('end', () => resolve()))
    r.socket.write(encodeFrame(encode([1, 2])))
    await ended
    expect(p.service.stats().connections).toBe(0)
  })

  it('a closed connection ends the blocked read on the server; abort and timeout on the client', async () => {
    const p = await node('bob', 'dc1')
    p.store.upsert(state('dc1'))
    const r = await raw(p.address)
    r.socket.write(encodeFrame(encode({ id: 1, method: 'List', args: { minIndex: 2 } })))
    await new Promise((res) => setTimeout(res, 50))
    expect(p.store.stats().waiting).toBe(1)
    r.socket.destroy()
    while (p.store.stats().waiting > 0) await new Promise((res) => setTimeout(res, 5))
    const c = client('dc1', p.address)
    const ac = new AbortController()
    const blocked = c.list({ minIndex: 2, signal: ac.signal })
    await new Promise((res) => setTimeout(res, 20))
    ac.abort()
    await expect(blocked).rejects.toBeInstanceOf(AbortError)
    // A server that accepts the protocol and never answers.
    const mute = new AlpnServer({
      tls: { ca: caPem(), ...tlsFixture('bob') },
      closeGraceMs: 50,
      clock,
    })
    let muteConns = 0
    mute.handle(ALPN_FEDERATION_STATE, (socket) => {
      muteConns++
      socket.resume()
    })
    const { port } = await mute.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => mute.close())
    const short = new FederationStateClient({
      datacenter: 'dc1',
      locator: new StaticGatewayLocator({ dc1: [`127.0.0.1:${port}`] }),
      tls: { ca: caPem(), ...tlsFixture('betty') },
      requestTimeoutMs: 50,
      clock,
    })
    cleanups.push(() => short.close())
    await expect(short.list()).rejects.toBeInstanceOf(TimeoutError)
    // The silent connection is dropped with the timeout: the next request dials a new one.
    await expect(short.list()).rejects.toBeInstanceOf(TimeoutError)
    expect(muteConns).toBe(2)
    // Pending while dialling again, or on a connection: close() ends it either way.
    const pending = short.list({ minIndex: 3, waitMs: 60_000 })
    await short.close()
    await expect(pending).rejects.toThrow(/closed|aborted/)
  })

  it('one caller aborting does not abort the dial other callers share', async () => {
    const silent = await silentServer()
    cleanups.push(() => silent.close())
    const c = new FederationStateClient({
      datacenter: 'dc1',
      locator: new StaticGatewayLocator({ dc1: [`127.0.0.1:${silent.port}`] }),
      tls: { ca: caPem(), ...tlsFixture('betty') },
      handshakeTimeoutMs: 300,
      clock,
    })
    cleanups.push(() => c.close())
    const ac = new AbortController()
    const a = c.list({ signal: ac.signal })
    const b = c.list()
    setTimeout(() => ac.abort(), 30)
    await expect(a).rejects.toBeInstanceOf(AbortError)
    await expect(b).rejects.toBeInstanceOf(HandshakeTimeoutError)
  })
})
