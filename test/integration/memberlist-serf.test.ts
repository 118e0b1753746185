import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { GossipDecryptError, JoinError } from '../../src/errors.ts'
import {
  DefaultLocalConfig,
  decodeSerfTags,
  encodeSerfLeaveIntent,
  encodeSerfTags,
  Keyring,
  Memberlist,
  type MemberlistOptions,
  serfLamportTime,
  TransmitLimitedQueue,
} from '../../src/memberlist/index.ts'
import { suspicionTimeout } from '../../src/memberlist/timing.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { eventually, hasSerf, type SerfAgent, startSerf } from '../memberlist/serf-agent.ts'

/**
 * A Node member and real Serf agents (Debian's `serf`, Go memberlist 0.2.2 inside) in one pool on
 * loopback, over NetTransport (UDP packets, TCP streams). Serf refuses members whose delegate
 * (Serf protocol) versions do not overlap its own 2..5, so the Node member advertises 2..5,
 * speaking 4, and Serf tags as its meta. Timing is memberlist's local profile on both sides.
 */
const { clock, cleanups } = leakGuard()

const serfVersions = { delegateProtocolMin: 2, delegateProtocolMax: 5, delegateProtocolVersion: 4 }

async function nodeMember(
  name: string,
  extra: Partial<MemberlistOptions> = {},
): Promise<Memberlist> {
  const transport = new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: 0, clock })
  const ml = await Memberlist.create({
    ...DefaultLocalConfig(),
    ...serfVersions,
    name,
    transport,
    clock,
    delegate: { nodeMeta: () => encodeSerfTags({ role: 'node', lang: 'ts' }) },
    ...extra,
  })
  cleanups.push(() => ml.close())
  return ml
}

async function serfAgent(options: Parameters<typeof startSerf>[0]): Promise<SerfAgent> {
  const agent = await startSerf(options)
  cleanups.push(() => agent.kill())
  return agent
}

const stateIn = (ml: Memberlist, name: string) => ml.allNodes().find((n) => n.name === name)?.state

if (!hasSerf) {
  console.warn(
    'memberlist-serf: `serf` is not installed (apt-get install serf); interop tests skipped',
  )
}

describe.skipIf(!hasSerf)('memberlist interop with a real Serf agent', () => {
  it('a Node member joins a Serf agent: both see each other alive, with tags; then detects the agent killed', async () => {
    const agent = await serfAgent({ name: 'serf-a', tags: { role: 'web' } })
    const ml = await nodeMember('node-a')
    expect(await ml.join([agent.address])).toBe(1)
    const serf = ml.members().find((n) => n.name === 'serf-a')
    expect(serf?.state).toBe('alive')
    expect(decodeSerfTags(serf?.meta as Buffer)).toMatchObject({ role: 'web' })
    expect([serf?.dMin, serf?.dMax]).toEqual([2, 5])
    await eventually(
      async () => (await agent.status('node-a')) === 'alive',
      'serf sees node-a alive',
    )
    const seen = (await agent.members()).find((m) => m.name === 'node-a')
    expect(seen?.tags).toEqual({ role: 'node', lang: 'ts' })
    expect(seen?.port).toBe(ml.localNode.port)

    const states: string[] = []
    ml.on('suspect', (n) => n.name === 'serf-a' && states.push('suspect'))
    ml.on('dead', (n) => n.name === 'serf-a' && states.push(n.state))
    await agent.kill()
    await until(() => stateIn(ml, 'serf-a') === 'dead', 'node-a marks serf-a dead', 20_000)
    expect(states).toEqual(['suspect', 'dead'])
  }, 60_000)

  it('a Serf agent joins a Node member: both see each other alive; then the agent detects the member failing', async () => {
    const ml = await nodeMember('node-b')
    const agent = await serfAgent({ name: 'serf-b' })
    await agent.join(ml.localNode.address)
    await until(() => stateIn(ml, 'serf-b') === 'alive', 'node-b sees serf-b')
    await eventually(
      async () => (await agent.status('node-b')) === 'alive',
      'serf sees node-b alive',
    )
    // Stop answering without leaving: Serf must find out by probing.
    await ml.close()
    await eventually(
      async () => (await agent.status('node-b')) === 'failed',
      'serf marks node-b failed',
      30_000,
    )
    // Found by probing: memberlist's failure path, which a graceful leave must not take.
    expect(agent.output()).toMatch(/Suspect node-b has failed|Marking node-b as failed/)
  }, 60_000)

  it('graceful leaves both ways: the Node member sees Serf left; Serf takes the member’s memberlist leave at once', async () => {
    const agent = await serfAgent({ name: 'serf-c' })
    const other = await serfAgent({ name: 'serf-d' })
    const ml = await nodeMember('node-c')
    await ml.join([agent.address, other.address])
    await eventually(async () => (await agent.status('node-c')) === 'alive', 'serf-c sees node-c')
    await until(() => stateIn(ml, 'serf-d') === 'alive', 'node-c sees serf-d')
    await other.leave()
    await until(() => stateIn(ml, 'serf-d') === 'left', 'node-c sees serf-d left', 20_000)
    await ml.leave(5_000)
    // Serf 0.9.4 calls a member "left" only after its own leave intent (a Serf message, not
    // memberlist's: the next test sends it); a bare memberlist leave shows as "failed". What proves
    // Serf took it as a leave is that it never probed node-c to death: no suspicion in its log.
    await eventually(
      async () => (await agent.status('node-c')) === 'failed',
      'serf-c sees node-c gone',
    )
    expect(agent.output()).toContain('EventMemberFailed: node-c')
    expect(agent.output()).not.toMatch(/Suspect node-c has failed|Marking node-c as failed/)
  }, 60_000)

  it('with Serf’s leave intent broadcast first, Serf records the Node member as left', async () => {
    const agent = await serfAgent({ name: 'serf-g' })
    let serfTime = 0
    const queue = new TransmitLimitedQueue(() => 2, DefaultLocalConfig().retransmitMult)
    const ml = await nodeMember('node-g', {
      delegate: {
        nodeMeta: () => encodeSerfTags({ role: 'node' }),
        mergeRemoteState: (buf: Buffer) => {
          serfTime = Math.max(serfTime, serfLamportTime(buf) ?? 0)
        },
        getBroadcasts: (overhead: number, limit: number) => queue.getBroadcasts(overhead, limit),
      },
    })
    await ml.join([agent.address])
    await eventually(async () => (await agent.status('node-g')) === 'alive', 'serf sees node-g')
    expect(serfTime).toBeGreaterThan(0)
    const sent = new Promise<void>((resolve) =>
      queue.queueBroadcast({
        name: 'serf-leave-intent',
        invalidates: () => false,
        message: () => encodeSerfLeaveIntent('node-g', serfTime + 1),
        finished: resolve,
      }),
    )
    await sent
    await ml.leave(5_000)
    await eventually(
      async () => (await agent.status('node-g')) === 'left',
      'serf records node-g left',
    )
  }, 60_000)

  it('with gossip encryption: a matching Keyring joins both ways, a wrong key is refused', async () => {
    const key = randomBytes(32).toString('base64')
    const agent = await serfAgent({ name: 'serf-e', encrypt: key })
    const ml = await nodeMember('node-e', { keyring: Keyring.fromBase64(key) })
    expect(await ml.join([agent.address])).toBe(1)
    await eventually(async () => (await agent.status('node-e')) === 'alive', 'serf sees node-e')
    expect(stateIn(ml, 'serf-e')).toBe('alive')

    // A second agent with the key joins the Node member.
    const agent2 = await serfAgent({ name: 'serf-f', encrypt: key })
    await agent2.join(ml.localNode.address)
    await until(() => stateIn(ml, 'serf-f') === 'alive', 'node-e sees serf-f')

    const wrong = await nodeMember('node-wrong', {
      keyring: Keyring.fromBase64(randomBytes(32).toString('base64')),
    })
    const refused = async (m: Memberlist): Promise<unknown> => {
      const err = await m.join([agent.address]).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(JoinError)
      return ((err as JoinError).cause as AggregateError).errors[0]
    }
    // Serf cannot read the push/pull and answers with an error sealed with its own key.
    expect(await refused(wrong)).toBeInstanceOf(GossipDecryptError)
    const plain = await nodeMember('node-plain')
    expect(await refused(plain)).toBeInstanceOf(GossipDecryptError)
    await eventually(async () => (await agent.status('serf-f')) === 'alive', 'serf-e sees serf-f')
    expect((await agent.members()).map((m) => m.name).sort()).toEqual([
      'node-e',
      'serf-e',
      'serf-f',
    ])
    expect(wrong.numMembers).toBe(1)
  }, 60_000)

  it('three Node members and two Serf agents: a killed Node member is suspected, then declared dead by every survivor within memberlist’s bounds', async () => {
    const serfA = await serfAgent({ name: 'serf-x' })
    const serfB = await serfAgent({ name: 'serf-y' })
    const nodes = [
      await nodeMember('node-x0'),
      await nodeMember('node-x1'),
      await nodeMember('node-x2'),
    ]
    const [n0, n1, n2] = nodes as [Memberlist, Memberlist, Memberlist]
    await n0.join([serfA.address])
    await n1.join([n0.localNode.address])
    await n2.join([n0.localNode.address])
    await serfB.join(n1.localNode.address)
    const names = ['node-x0', 'node-x1', 'node-x2', 'serf-x', 'serf-y']
    await until(() => nodes.every((n) => n.numMembers === 5), 'Node members see five', 20_000)
    for (const a of [serfA, serfB]) {
      await eventually(async () => {
        const m = await a.members()
        return names.every((n) => m.some((x) => x.name === n && x.status === 'alive'))
      }, `${a.name} sees five`)
    }
    const killedAt = performance.now()
    const figures: Record<string, { suspectMs?: number; deadMs?: number }> = {}
    for (const n of [n0, n1]) {
      const f: { suspectMs?: number; deadMs?: number } = {}
      figures[n.localNode.name] = f
      n.on('suspect', (m) => {
        if (m.name === 'node-x2') f.suspectMs ??= performance.now() - killedAt
      })
      n.on('dead', (m) => {
        if (m.name === 'node-x2') f.deadMs ??= performance.now() - killedAt
      })
    }
    // Killed: no leave, no more answers.
    await n2.close()
    for (const a of [serfA, serfB]) {
      const f: { deadMs?: number } = {}
      figures[a.name] = f
      await eventually(
        async () => (await a.status('node-x2')) === 'failed',
        `${a.name} marks node-x2 failed`,
        40_000,
      )
      f.deadMs = performance.now() - killedAt
    }
    await until(
      () => [n0, n1].every((n) => stateIn(n, 'node-x2') === 'dead'),
      'Node survivors mark node-x2 dead',
      40_000,
    )
    // memberlist's bounds for DefaultLocalConfig with 5 members: probes cycle through the 4 others
    // at 1 s each, so someone suspects within about 4 s; suspicion lasts at least
    // suspicionMult * log10(5 -> 1) * 1 s = 3 s and at most 6 times that (18 s), shortened by
    // confirmations (k = 1).
    const cfg = DefaultLocalConfig()
    const minSuspicion = suspicionTimeout(cfg.suspicionMult, 5, cfg.probeIntervalMs)
    const maxSuspicion = cfg.suspicionMaxTimeoutMult * minSuspicion
    const suspects = [n0, n1].map((n) => figures[n.localNode.name]?.suspectMs as number)
    const deads = Object.values(figures).map((f) => f.deadMs as number)
    const firstSuspect = Math.min(...suspects)
    expect(suspects.every((t) => t !== undefined)).toBe(true)
    expect(firstSuspect).toBeLessThan(5 * cfg.probeIntervalMs + cfg.probeTimeoutMs + 2_000)
    expect(Math.min(...deads) - firstSuspect).toBeGreaterThanOrEqual(minSuspicion - 200)
    expect(Math.max(...deads) - firstSuspect).toBeLessThan(maxSuspicion + 5_000)
    console.info(
      `failure detection, 3 Node + 2 Serf (local profile; suspicion ${minSuspicion}..${maxSuspicion} ms):`,
      JSON.stringify(
        Object.fromEntries(
          Object.entries(figures).map(([k, v]) => [
            k,
            {
              suspectMs: v.suspectMs === undefined ? undefined : Math.round(v.suspectMs),
              deadMs: Math.round(v.deadMs as number),
            },
          ]),
        ),
      ),
    )
  }, 90_000)
})
