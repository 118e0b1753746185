import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'
import type { DelayRelayStats } from '../helpers/delay-relay.ts'
import { listNamespaces, netnsGate } from '../helpers/netns.ts'
import {
  expectHandlesBack,
  type Federation,
  type FedNode,
  type HandleBaseline,
  handleBaseline,
  startFederation,
} from '../helpers/netns-federation.ts'

// WAN latency in user space (this kernel has no netem): a DelayRelay in the WAN namespace sits
// between every pair of gateways, so dc1 -> dc2 crosses: bob -> gw1a -> relay -> gw2a -> betty,
// and the reply: betty -> gw2a -> relay -> gw1a -> bob. Both relays hold each direction for half
// the round trip, with jitter.

const { support, reason } = netnsGate()

interface Figures {
  rttMs: number
  jitterMs: number
  ping: Summary
  lost: number
  dialMs: number
  echo: Summary
}
interface Summary {
  min: number
  median: number
  p90: number
  max: number
}

function summary(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
  const r = (x: number) => Math.round(x * 10) / 10
  return {
    min: r(s[0] as number),
    median: r(at(0.5)),
    p90: r(at(0.9)),
    max: r(s[s.length - 1] as number),
  }
}

describe('cross-DC traffic over an emulated WAN (delay relay between gateways)', () => {
  let fed: Federation | undefined
  let baseline: HandleBaseline = {}
  const figures: Figures[] = []

  beforeAll(async () => {
    if (!support.ok) return
    fed = await startFederation(
      'wan',
      [
        { name: 'dc1', nodes: ['bob'] },
        { name: 'dc2', nodes: ['betty'] },
      ],
      { relay: { delayMs: 0, jitterMs: 0 } },
    )
    baseline = await handleBaseline(fed)
  }, 60_000)

  afterAll(async () => {
    if (fed === undefined) return
    const prefix = fed.topo.prefix
    await fed.stop()
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([])
    if (figures.length > 0) console.log(`[netns] WAN latency figures: ${JSON.stringify(figures)}`)
  }, 30_000)

  const node = (name: string): FedNode => {
    const n = fed?.nodes[name]
    if (n === undefined) throw new Error(`no node ${name}`)
    return n
  }

  for (const [rttMs, jitterMs] of [
    [0, 0],
    [50, 5],
    [150, 10],
  ] as const) {
    it(`packets and streams over a ${rttMs} ms round trip (±${jitterMs} ms each way)`, async (ctx) => {
      ctx.skip(!support.ok, reason)
      const wan = fed?.wan
      if (wan === undefined) throw new Error('no WAN runner')
      const bob = node('bob.dc1')
      const betty = node('betty.dc2')
      await wan.request('relayDelay', { delayMs: rttMs / 2, jitterMs })
      const relayBefore = await wan.request<Record<string, DelayRelayStats>>('relayStats')

      // Packets: a ping out through dc1's gateway and the relay, the pong back through dc2's.
      const { rtts: pings, lost } = await bob.child.request<{ rtts: number[]; lost: number }>(
        'ping',
        { to: betty.to, count: 12, timeoutMs: 5_000 },
        30_000,
      )
      // Streams: a fresh dial (TCP to the gateway, TLS 1.3 end to end through both gateways) and
      // echoes on it.
      const { dialMs, rtts: echoes } = await bob.child.request<{ dialMs: number; rtts: number[] }>(
        'streamRtt',
        { to: betty.to, count: 8 },
        30_000,
      )
      // The first ping may include dialling the pooled packet connection: left out of the figures.
      const ping = summary(pings.slice(1))
      const echo = summary(echoes)
      figures.push({ rttMs, jitterMs, ping, lost, dialMs: Math.round(dialMs * 10) / 10, echo })
      console.log(
        `[netns] RTT ${rttMs} ms ±${jitterMs}: packet ping ${JSON.stringify(ping)}, lost ${lost}; ` +
          `stream dial ${dialMs.toFixed(1)} ms, echo ${JSON.stringify(echo)}`,
      )

      expect(lost).toBe(0)
      // Never faster than the emulated link allows (each way at least delay - jitter).
      const floor = rttMs - 2 * jitterMs
      expect(ping.min).toBeGreaterThanOrEqual(floor - 1)
      expect(echo.min).toBeGreaterThanOrEqual(floor - 1)
      // The TLS handshake needs at least one round trip across the WAN.
      expect(dialMs).toBeGreaterThanOrEqual(floor - 1)
      // And not much slower: a loaded 2-core machine gets a generous allowance.
      expect(ping.median).toBeLessThan(rttMs + 2 * jitterMs + 250)
      expect(echo.median).toBeLessThan(rttMs + 2 * jitterMs + 250)

      // The bytes did cross the relays, both ways.
      const relayAfter = await wan.request<Record<string, DelayRelayStats>>('relayStats')
      for (const key of ['dc1->gw2a', 'dc2->gw1a']) {
        expect((relayAfter[key]?.bytes ?? 0) - (relayBefore[key]?.bytes ?? 0)).toBeGreaterThan(0)
      }
      const gw1 = await fed?.gateways['gw1a']?.child.request<MeshGatewayStats>('stats')
      expect(gw1?.routes['remote-dc'].connectFailures).toBe(0)
    })
  }

  it('every node and gateway is back to its starting sockets, servers and timers', async (ctx) => {
    ctx.skip(!support.ok, reason)
    if (fed === undefined) throw new Error('no federation')
    // Streams are closed; the pooled packet connections go idle and are reaped.
    await expectHandlesBack(fed, baseline, Object.keys(baseline))
  })
})
