import type { TLSSocket } from 'node:tls'
import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  dialViaGateway,
  encodeFrame,
} from '../../src/alpn/index.ts'
import { TlsSessionCache } from '../../src/alpn/session-cache.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { Memberlist, type MemberlistOptions } from '../../src/memberlist/index.ts'
import { splitNodeName } from '../../src/transport/index.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import {
  fuzzParams,
  fuzzTimeout,
  mutation,
  processErrorWatch,
  randomOrMutated,
} from '../helpers/fuzz.ts'
import { plainPackets, plainStreams, sealedPackets } from '../helpers/memberlist-bases.ts'
import { encryptedPool, expectTypedDrops, patientConfig } from '../helpers/memberlist-target.ts'
import { until } from '../helpers/net.ts'
import { nodeContext, type WanfedNode, wanfedNode } from '../helpers/wanfed-node.ts'

// Hostile gossip bytes at wanfed/memberlist through the WanfedTransport's own ALPNs: a client with
// a valid certificate (a compromised node, or a gateway passing anything on) writes random and
// mutated memberlist packets as packet-ALPN frames, and random and mutated stream messages on the
// stream ALPN, straight to betty.dc2's AlpnServer. Only typed drops are counted, nothing escapes,
// in an encrypted pool a changed message is never delivered, and bob.dc1, a legitimate member of
// the pool, pings betty through the same server after every case.

const ctx = nodeContext()
const watch = processErrorWatch()
const LABEL = 'fuzz-wan'

interface WanPool {
  betty: WanfedNode
  mBetty: Memberlist
  /** User messages betty's delegate got. */
  delivered: Buffer[]
  roundTrip(): Promise<void>
}

async function wanPool(extra: Partial<MemberlistOptions> = {}): Promise<WanPool> {
  const bettyLocator = new StaticGatewayLocator({})
  const node = (name: string, datacenter: string, locator: StaticGatewayLocator) =>
    wanfedNode({
      network: ctx.network,
      node: name,
      datacenter,
      identity: name,
      locator,
      clock: ctx.clock,
      server: { maxConnsPerClient: 0 },
    })
  const betty = await node('betty', 'dc2', bettyLocator)
  ctx.cleanups.push(() => betty.close())
  // No gateway: each node's "gateway" for the other DC is the other's own ALPN server.
  const bob = await node('bob', 'dc1', new StaticGatewayLocator({ dc2: [betty.serverAddr] }))
  ctx.cleanups.push(() => bob.close())
  bettyLocator.setGateways('dc1', [bob.serverAddr])
  const delivered: Buffer[] = []
  const member = async (n: WanfedNode, more: Partial<MemberlistOptions>) => {
    const local = splitNodeName(n.name).datacenter
    const ml = await Memberlist.create({
      ...patientConfig(),
      // Inner transports are in memory; their addresses are not IPs on loopback.
      cidrsAllowed: undefined,
      name: n.name,
      transport: n.transport,
      clock: ctx.clock,
      requireNodeNames: true,
      disableTcpPingsForNode: (name: string) => splitNodeName(name).datacenter !== local,
      ...extra,
      ...more,
    })
    ctx.cleanups.push(() => ml.close())
    return ml
  }
  const mBetty = await member(betty, {
    delegate: { notifyMsg: (m: Buffer) => delivered.push(Buffer.from(m)) },
  })
  const mBob = await member(bob, {})
  await mBob.join([`betty.dc2/${mBetty.localNode.address}`])
  await until(() => mBetty.numMembers === 2, 'bob to join betty across the DCs')
  return {
    betty,
    mBetty,
    delivered,
    async roundTrip() {
      await mBob.ping('betty.dc2', mBetty.localNode.address)
    },
  }
}

const sessions = new TlsSessionCache()

/** A TLS connection to betty's server with bob's certificate, on `alpn`. */
function hostileClient(p: WanPool, alpn: string): Promise<TLSSocket> {
  return dialViaGateway({
    gateway: p.betty.serverAddr,
    datacenter: 'dc2',
    node: 'betty',
    alpn,
    tls: { ca: caPem(), ...tlsFixture('bob') },
    sessionCache: sessions,
  })
}

/** Writes `bytes`, half-closes, reads whatever comes back, and waits for the close. */
async function writeAndWaitClose(socket: TLSSocket, bytes: Buffer): Promise<void> {
  socket.on('error', () => {})
  socket.resume()
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.end(bytes)
  await closed
}

/** Sends `packets` as frames on one packet-ALPN connection; resolves once memberlist read them all. */
async function framedPackets(p: WanPool, packets: Buffer[]): Promise<void> {
  const before = p.mBetty.stats().packets.received
  const socket = await hostileClient(p, ALPN_WAN_GOSSIP_PACKET)
  await writeAndWaitClose(socket, Buffer.concat(packets.map((b) => encodeFrame(b))))
  await until(
    () => p.mBetty.stats().packets.received >= before + packets.length,
    'the framed packets to reach memberlist',
  )
}

/** One hostile stream on the stream ALPN; resolves once memberlist accepted and closed it. */
async function hostileStream(p: WanPool, bytes: Buffer): Promise<void> {
  const before = p.mBetty.stats().streams.accepted
  const socket = await hostileClient(p, ALPN_WAN_GOSSIP_STREAM)
  await writeAndWaitClose(socket, bytes)
  await until(() => p.mBetty.stats().streams.accepted > before, 'the stream to be accepted')
}

function afterCase(p: WanPool): Promise<void> {
  watch.expectNone()
  expectTypedDrops(p.mBetty)
  return p.roundTrip()
}

describe('wanfed/memberlist under hostile gossip through the WanfedTransport ALPNs', () => {
  it(
    'packet ALPN: frames of random and mutated memberlist packets are dropped as typed reasons; the pool keeps pinging',
    async () => {
      const p = await wanPool()
      const bases = plainPackets('betty.dc2')
      await fc.assert(
        fc.asyncProperty(
          fc.array(randomOrMutated(bases, { minLength: 1, maxLength: 1_400 }), {
            minLength: 1,
            maxLength: 3,
          }),
          async (ps) => {
            const packets = ps.filter((b) => b.length > 0)
            if (packets.length === 0) return
            await framedPackets(p, packets)
            await afterCase(p)
          },
        ),
        fuzzParams(300),
      )
      // The mutations reached memberlist's decoders through the framing.
      expect(Object.keys(p.mBetty.stats().dropped).length).toBeGreaterThan(2)
      expect(p.betty.transport.stats().protocolErrors).toEqual({})
      expect(p.mBetty.members().map((m) => m.name)).toContain('bob.dc1')
    },
    fuzzTimeout(90_000),
  )

  it(
    'stream ALPN: random and mutated stream messages end the stream; good ones are handled',
    async () => {
      const p = await wanPool()
      const bases = plainStreams('betty.dc2')
      await fc.assert(
        fc.asyncProperty(
          randomOrMutated(bases, { minLength: 0, maxLength: 2_000 }),
          async (bytes) => {
            await hostileStream(p, bytes)
            await afterCase(p)
          },
        ),
        fuzzParams(200),
      )
      expect(Object.keys(p.mBetty.stats().dropped).length).toBeGreaterThan(2)
      expect(p.mBetty.stats().messages['stream-pushPull']).toBeGreaterThan(0)
    },
    fuzzTimeout(90_000),
  )

  it(
    'packet ALPN, encrypted and labelled pool: a changed packet is never delivered, an unchanged one is',
    async () => {
      const p = await wanPool(encryptedPool(LABEL))
      const bases = sealedPackets('betty.dc2', LABEL, Buffer.from('sealed over the WAN'))
      let changedCases = 0
      await fc.assert(
        fc.asyncProperty(fc.nat(), mutation(), async (i, mutate) => {
          const base = bases[i % bases.length] as Buffer
          const packet = mutate(base)
          if (packet.length === 0) return
          const start = p.delivered.length
          await framedPackets(p, [packet])
          if (!packet.equals(base)) {
            changedCases++
            expect(p.delivered.length).toBe(start)
          } else await until(() => p.delivered.length === start + 1, 'the intact message')
          p.delivered.splice(start)
          await afterCase(p)
        }),
        fuzzParams(300),
      )
      expect(changedCases).toBeGreaterThan(0)
      expect(p.mBetty.stats().dropped['decrypt'] ?? 0).toBeGreaterThan(0)
    },
    fuzzTimeout(90_000),
  )
})
