import { fc } from '@fast-check/vitest'
import { beforeAll, describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM } from '../../src/alpn/index.ts'
import type { MeshGateway, MeshGatewayStats } from '../../src/gateway/index.ts'
import { captureClientHello, chunk } from '../helpers/client-hello.ts'
import {
  expectAllTyped,
  fuzzParams,
  fuzzTimeout,
  mutation,
  processErrorWatch,
  sendRaw,
} from '../helpers/fuzz.ts'
import { gatewayInFront, type TargetAndPeer, targetAndPeer } from '../helpers/legit-peer.ts'
import { until } from '../helpers/net.ts'
import { nodeContext } from '../helpers/wanfed-node.ts'

// Hostile bytes at a real MeshGateway (dc2's, in front of betty): random bytes and mutated
// ClientHellos. Each connection is refused and counted, or (a mutation that still names betty)
// spliced to betty, whose AlpnServer then refuses it; betty receives nothing from it. bob.dc1
// sends through the same gateway between cases.

const ctx = nodeContext()
const watch = processErrorWatch()

let hellos: Buffer[]
beforeAll(async () => {
  hellos = [
    await captureClientHello({
      servername: 'betty.server.dc2.consul',
      alpn: [ALPN_WAN_GOSSIP_PACKET],
    }),
    await captureClientHello({ servername: 'server.dc2.consul', alpn: [ALPN_WAN_GOSSIP_STREAM] }),
    await captureClientHello({ servername: 'betty.server.dc2.consul', maxVersion: 'TLSv1.2' }),
  ]
})

function rejectedTotal(s: MeshGatewayStats): number {
  return Object.values(s.rejected).reduce((a, b) => a + b, 0)
}

function splicedTotal(s: MeshGatewayStats): number {
  return Object.values(s.routes).reduce((a, r) => a + r.connections, 0)
}

interface Setup {
  t: TargetAndPeer
  gateway: MeshGateway
  port: number
  errors: Error[]
  refusals: Error[]
}

async function setup(): Promise<Setup> {
  let front: Awaited<ReturnType<typeof gatewayInFront>> | undefined
  const t = await targetAndPeer(ctx, {
    via: async (betty) => {
      front = await gatewayInFront(ctx, betty, { helloTimeoutMs: 2_000 })
      return front.address
    },
  })
  const { gateway, port, errors } = front as NonNullable<typeof front>
  const refusals: Error[] = []
  gateway.on('rejected', (info) => {
    if (info.error !== undefined) refusals.push(info.error)
  })
  await t.packetRoundTrip()
  await t.streamRoundTrip()
  // bob's pooled packet connection is the one left open.
  await until(() => gateway.stats().open === 1, 'only the pooled connection open')
  return { t, gateway, port, errors, refusals }
}

/** One hostile connection: refused or spliced (exactly one of them), then gone; nothing delivered. */
async function oneCase(s: Setup, chunks: Buffer[]): Promise<'rejected' | 'spliced'> {
  const before = s.gateway.stats()
  const packets = s.t.packets.length
  const { closed } = await sendRaw(s.port, chunks)
  expect(closed).toBe(true)
  await until(() => s.gateway.stats().open === 1, 'the hostile connection to be closed')
  const after = s.gateway.stats()
  const rejected = rejectedTotal(after) - rejectedTotal(before)
  const spliced = splicedTotal(after) - splicedTotal(before)
  expect(rejected + spliced).toBe(1)
  expect(s.t.packets.length).toBe(packets)
  watch.expectNone()
  await s.t.packetRoundTrip()
  return rejected === 1 ? 'rejected' : 'spliced'
}

describe('MeshGateway under hostile input, a legitimate peer served through it', () => {
  it(
    'random bytes: refused and counted, the gateway keeps routing',
    async () => {
      const s = await setup()
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 3_000 }),
          fc.array(fc.nat(), { maxLength: 4 }),
          async (bytes, cuts) => {
            expect(await oneCase(s, chunk(Buffer.from(bytes), cuts))).toBe('rejected')
          },
        ),
        fuzzParams(300),
      )
      await s.t.streamRoundTrip()
      expect(s.errors).toEqual([])
      expectAllTyped(s.refusals)
    },
    fuzzTimeout(60_000),
  )

  it(
    'mutated ClientHellos: refused and counted, or spliced to a server that refuses them',
    async () => {
      const s = await setup()
      const outcomes = new Set<string>()
      const serverRejected = () =>
        Object.values(s.t.betty.server.stats().rejected).reduce((a, b) => a + b, 0)
      await fc.assert(
        fc.asyncProperty(
          fc.nat(),
          mutation(),
          fc.array(fc.nat(), { maxLength: 3 }),
          async (which, mutate, cuts) => {
            const hello = hellos[which % hellos.length] as Buffer
            const refusedBefore = serverRejected()
            const outcome = await oneCase(s, chunk(mutate(hello), cuts))
            outcomes.add(outcome)
            // What got through the gateway was refused by betty's server, never dispatched.
            if (outcome === 'spliced')
              await until(() => serverRejected() === refusedBefore + 1, 'betty to refuse it')
          },
        ),
        fuzzParams(300),
      )
      await s.t.streamRoundTrip()
      expect([...outcomes].sort()).toEqual(['rejected', 'spliced'])
      expect(s.refusals.length).toBeGreaterThan(0)
      expectAllTyped(s.refusals)
      expect(s.errors).toEqual([])
      expectAllTyped(s.t.errors)
    },
    fuzzTimeout(60_000),
  )
})
