import { describe, expect, it } from 'vitest'
import type { Node } from '../../src/memberlist/index.ts'
import { encodeMessage, encodeUserMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { encodePacket } from '../../src/memberlist/wire/packet.ts'
import { encodePushPull, encodeStreamMessage } from '../../src/memberlist/wire/stream.ts'
import { processErrorWatch } from '../helpers/fuzz.ts'
import { leakGuard } from '../helpers/leaks.ts'
import {
  encryptedPool,
  type MemberlistTarget,
  memberlistOnLoopback,
  streamTo,
  udpSender,
} from '../helpers/memberlist-target.ts'
import { until } from '../helpers/net.ts'

// Forged gossip from a stranger on the network, at a real three-member pool on loopback: dead and
// suspect messages about members who are alive are refuted as memberlist refutes them (the
// subject answers with a higher incarnation, the others take it back as alive); with gossip
// encryption, plaintext and wrongly keyed messages are dropped and counted, and change nothing.

const { clock, cleanups } = leakGuard()
const watch = processErrorWatch()
const PLAIN = { compress: false, crc: false, label: '' }

/** Three members a, b, c joined; `events` records each member's view changes, by subject. */
async function trio(extra = {}) {
  const names = ['a', 'b', 'c'] as const
  const m: Record<(typeof names)[number], MemberlistTarget> = {} as never
  for (const n of names) m[n] = await memberlistOnLoopback(n, cleanups, clock, extra)
  await m.b.ml.join([`a/${m.a.ml.localNode.address}`])
  await m.c.ml.join([`a/${m.a.ml.localNode.address}`])
  await until(() => names.every((n) => m[n].ml.numMembers === 3), 'three members everywhere')
  const events: string[] = []
  for (const n of names)
    for (const type of ['suspect', 'dead', 'alive'] as const)
      m[n].ml.on(type, (node: Node) => events.push(`${n}:${type}:${node.name}`))
  const view = (who: MemberlistTarget, of: string) =>
    who.ml.allNodes().find((x) => x.name === of) as Node
  const incarnation = (name: 'a' | 'b' | 'c') => view(m[name], name).incarnation
  return { ...m, events, view, incarnation }
}

const forged = (type: 'dead' | 'suspect', node: string, incarnation: number) =>
  encodeMessage(type === 'dead' ? MessageType.dead : MessageType.suspect, type, {
    incarnation,
    node,
    from: 'mallory',
  })

describe('wanfed/memberlist under forged gossip', () => {
  it('a forged dead about an alive member: it refutes with a higher incarnation and everyone takes it back', async () => {
    const t = await trio()
    const udp = await udpSender(cleanups)
    const inc0 = t.incarnation('b')
    await udp.send(t.a, encodePacket(forged('dead', 'b', inc0), PLAIN))
    // a believed it (memberlist does: the incarnation is current) ...
    await until(() => t.events.includes('a:dead:b'), 'a to take b for dead')
    // ... b heard of its own death through a's gossip and refuted it ...
    await until(() => t.incarnation('b') > inc0, 'b to refute')
    // ... and a and c hold b alive at the new incarnation.
    await until(
      () =>
        [t.a, t.c].every(
          (w) =>
            t.view(w, 'b').state === 'alive' && t.view(w, 'b').incarnation === t.incarnation('b'),
        ),
      'a and c to take b back as alive',
    )
    // A stale forgery (an incarnation below the current one) is ignored outright.
    const seen = t.events.length
    await udp.send(t.a, encodePacket(forged('dead', 'b', inc0), PLAIN))
    await udp.send(t.c, encodePacket(forged('suspect', 'b', inc0), PLAIN))
    await t.b.ml.ping('a', t.a.ml.localNode.address)
    expect(t.events.slice(seen)).toEqual([])
    expect(t.view(t.a, 'b').state).toBe('alive')
    watch.expectNone()
  }, 30_000)

  it('a forged suspect about an alive member is refuted before its suspicion times out; one about the receiver itself, at once', async () => {
    const t = await trio()
    const udp = await udpSender(cleanups)
    const inc0 = t.incarnation('b')
    await udp.send(t.a, encodePacket(forged('suspect', 'b', inc0), PLAIN))
    expect(t.view(t.a, 'b').state).toBe('suspect')
    await until(() => t.incarnation('b') > inc0, 'b to refute')
    await until(
      () => [t.a, t.c].every((w) => t.view(w, 'b').state === 'alive'),
      'a and c to hold b alive',
    )
    expect(t.events.filter((e) => e.endsWith(':dead:b'))).toEqual([])
    // A suspect about the receiver itself: it refutes on the spot.
    const a0 = t.incarnation('a')
    await udp.send(t.a, encodePacket(forged('suspect', 'a', a0 + 5), PLAIN))
    expect(t.incarnation('a')).toBe(a0 + 6)
    await until(
      () => [t.b, t.c].every((w) => t.view(w, 'a').incarnation === a0 + 6),
      'b and c to learn the refutation',
    )
    expect(t.events.filter((e) => e.endsWith(':dead:a'))).toEqual([])
    expect([t.b, t.c].every((w) => t.view(w, 'a').state === 'alive')).toBe(true)
    watch.expectNone()
  }, 30_000)

  it('with gossip encryption, plaintext and wrongly keyed messages are dropped, counted, and change nothing', async () => {
    const t = await trio(encryptedPool(''))
    const udp = await udpSender(cleanups)
    const inc0 = t.incarnation('b')
    const wrongKey = { vsn: 1 as const, key: Buffer.alloc(16, 9) }
    const decrypts = () => t.a.ml.stats().dropped['decrypt'] ?? 0
    const before = decrypts()
    const dead = forged('dead', 'b', inc0 + 1)
    const user = encodeUserMessage(Buffer.from('injected'))
    await udp.send(t.a, encodePacket(dead, PLAIN))
    await udp.send(t.a, encodePacket(dead, { ...PLAIN, encrypt: wrongKey }))
    await udp.send(t.a, encodePacket(user, PLAIN))
    await udp.send(t.a, encodePacket(user, { ...PLAIN, encrypt: wrongKey }))
    expect(decrypts() - before).toBe(4)
    // A push/pull over TCP claiming b dead, in plaintext and under the wrong key.
    const state = [
      {
        name: 'b',
        addr: Buffer.from([127, 0, 0, 1]),
        port: t.b.port,
        meta: undefined,
        incarnation: inc0 + 1,
        state: 2,
        vsn: Buffer.from([1, 5, 2, 0, 0, 0]),
      },
    ]
    const pushPull = encodePushPull(false, state, undefined)
    await streamTo(t.a, encodeStreamMessage(pushPull, { compress: false, label: '' }))
    await streamTo(
      t.a,
      encodeStreamMessage(pushPull, { compress: false, label: '', encrypt: wrongKey }),
    )
    // Both refused as undecryptable, counted under the same reason as the packets.
    expect(decrypts() - before).toBe(6)
    expect(t.a.delivered).toEqual([])
    expect(t.view(t.a, 'b')).toMatchObject({ state: 'alive', incarnation: inc0 })
    expect(t.incarnation('b')).toBe(inc0)
    expect(t.events).toEqual([])
    // The pool itself still talks: a legitimate encrypted ping round trip.
    await t.b.ml.ping('a', t.a.ml.localNode.address)
    watch.expectNone()
  }, 30_000)
})
