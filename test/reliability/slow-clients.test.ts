import { beforeAll, describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET } from '../../src/alpn/index.ts'
import { captureClientHello } from '../helpers/client-hello.ts'
import { gatewayInFront, type TargetAndPeer, targetAndPeer } from '../helpers/legit-peer.ts'
import { until } from '../helpers/net.ts'
import { percentiles, slowClients } from '../helpers/slow-clients.ts'
import { nodeContext } from '../helpers/wanfed-node.ts'

// 1,000 connections that send nothing or one byte of a ClientHello a second, at an AlpnServer and
// at a MeshGateway, from 20 source addresses: each is held until its handshake (hello) timeout and
// then closed and counted, while a legitimate peer keeps opening streams through it. The figure:
// the legitimate stream round trip (dial, TLS handshake, echo) during the attack against without.

const ctx = nodeContext()
const ATTACKERS = 1_000
const SOURCES = 20
/** Short enough that the test takes seconds; long enough that the samples are all taken under attack. */
const TIMEOUT_MS = 6_000
const SAMPLES = 60

let hello: Buffer
beforeAll(async () => {
  hello = await captureClientHello({
    servername: 'betty.server.dc2.consul',
    alpn: [ALPN_WAN_GOSSIP_PACKET],
  })
})

async function roundTrips(t: TargetAndPeer, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(await t.streamRoundTrip())
  return out
}

function report(what: string, quiet: number[], attacked: number[]): void {
  const q = percentiles(quiet)
  const a = percentiles(attacked)
  const f = (n: number) => n.toFixed(1)
  console.log(
    `[slow-clients] ${what}: legitimate stream round trip without attack median ${f(q.median)} ms p99 ${f(q.p99)} ms; ` +
      `under ${ATTACKERS} slow clients median ${f(a.median)} ms p99 ${f(a.p99)} ms (${SAMPLES} each)`,
  )
}

describe(`${ATTACKERS} slow clients: closed at their timeouts, a legitimate peer served throughout`, () => {
  it('at an AlpnServer (handshake timeout)', async () => {
    // The per-IP limit stays at its default (100): 50 attackers per source address pass it.
    const t = await targetAndPeer(ctx, {
      server: { handshakeTimeoutMs: TIMEOUT_MS, maxConnsPerClient: 100 },
    })
    await t.packetRoundTrip()
    const quiet = await roundTrips(t, SAMPLES)
    const server = t.betty.server
    const start = performance.now()
    const attack = await slowClients({
      port: Number(t.betty.serverAddr.split(':')[1]),
      count: ATTACKERS,
      sources: SOURCES,
      trickle: hello,
      cleanups: ctx.cleanups,
    })
    expect(attack.connected).toBe(ATTACKERS)
    await until(() => server.stats().pending >= ATTACKERS, 'every attacker pending')
    const attacked = await roundTrips(t, SAMPLES)
    await t.packetRoundTrip()
    // All samples were taken with every attacker still connected.
    expect(attack.closed()).toBe(0)
    await until(() => attack.closed() === ATTACKERS, 'every attacker closed', TIMEOUT_MS + 15_000)
    const closedAfter = performance.now() - start
    expect(server.stats().rejected['handshake-timeout']).toBe(ATTACKERS)
    expect(server.stats().rejected['conn-limit']).toBe(0)
    await until(() => server.stats().pending === 0, 'nothing pending')
    await t.streamRoundTrip()
    report('AlpnServer', quiet, attacked)
    console.log(
      `[slow-clients] AlpnServer: all ${ATTACKERS} closed ${(closedAfter / 1000).toFixed(1)} s after the attack began (timeout ${TIMEOUT_MS / 1000} s)`,
    )
  }, 60_000)

  it('at a MeshGateway (hello timeout)', async () => {
    let front: Awaited<ReturnType<typeof gatewayInFront>> | undefined
    const t = await targetAndPeer(ctx, {
      via: async (betty) => {
        front = await gatewayInFront(ctx, betty, { helloTimeoutMs: TIMEOUT_MS })
        return front.address
      },
    })
    const { gateway, port } = front as NonNullable<typeof front>
    await t.packetRoundTrip()
    const quiet = await roundTrips(t, SAMPLES)
    const start = performance.now()
    const attack = await slowClients({
      port,
      count: ATTACKERS,
      sources: SOURCES,
      trickle: hello,
      cleanups: ctx.cleanups,
    })
    expect(attack.connected).toBe(ATTACKERS)
    await until(() => gateway.stats().pending >= ATTACKERS, 'every attacker pending')
    const attacked = await roundTrips(t, SAMPLES)
    await t.packetRoundTrip()
    expect(attack.closed()).toBe(0)
    await until(() => attack.closed() === ATTACKERS, 'every attacker closed', TIMEOUT_MS + 15_000)
    const closedAfter = performance.now() - start
    expect(gateway.stats().rejected['hello-timeout']).toBe(ATTACKERS)
    expect(gateway.stats().rejected['max-connections']).toBe(0)
    await until(() => gateway.stats().pending === 0, 'nothing pending')
    await t.streamRoundTrip()
    report('MeshGateway', quiet, attacked)
    console.log(
      `[slow-clients] MeshGateway: all ${ATTACKERS} closed ${(closedAfter / 1000).toFixed(1)} s after the attack began (timeout ${TIMEOUT_MS / 1000} s)`,
    )
    expect(front?.errors).toEqual([])
  }, 60_000)
})
