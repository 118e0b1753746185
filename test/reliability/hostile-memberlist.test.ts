import { fc } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { labelHeader } from '../../src/memberlist/wire/label.ts'
import { encodeStreamMessage, encodeStreamUserMessage } from '../../src/memberlist/wire/stream.ts'
import {
  fuzzParams,
  fuzzTimeout,
  mutation,
  processErrorWatch,
  randomOrMutated,
} from '../helpers/fuzz.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { plainPackets, plainStreams, sealedPackets } from '../helpers/memberlist-bases.ts'
import {
  encryptedPool,
  expectTypedDrops,
  memberlistOnLoopback,
  POOL_KEY,
  streamTo,
  udpSender,
} from '../helpers/memberlist-target.ts'
import { until } from '../helpers/net.ts'

// Hostile gossip bytes at real Memberlists on NetTransports (UDP packets, TCP streams): random
// bytes and mutations of valid messages, plain (single, compound, compressed, with CRC) and
// labelled + encrypted. Only typed drops are counted; in the encrypted pool a changed message is
// never delivered; a legitimate member pings each target after every case.

const { clock, cleanups } = leakGuard()
const watch = processErrorWatch()
const LABEL = 'fuzz-pool'
const ENC = { vsn: 1 as const, key: POOL_KEY }

/** A target and a legitimate member of its pool, joined; `roundTrip` pings the target. */
async function pool(name: string, extra = {}) {
  const target = await memberlistOnLoopback(name, cleanups, clock, extra)
  const legit = await memberlistOnLoopback(`${name}-peer`, cleanups, clock, extra)
  await legit.ml.join([`${name}/${target.ml.localNode.address}`])
  await until(() => target.ml.numMembers === 2, 'the legitimate member to join')
  return {
    target,
    legit,
    async roundTrip() {
      await legit.ml.ping(name, target.ml.localNode.address)
    },
  }
}

/**
 * Sends `bytes` (a copy of `base`, maybe changed) to the pool's target: the intact message is
 * delivered once, a changed one never; nothing escapes, every drop has a known reason, and the
 * legitimate member is still answered. Returns whether `bytes` was changed.
 */
async function deliveredOnlyIfIntact(
  p: Awaited<ReturnType<typeof pool>>,
  base: Buffer,
  bytes: Buffer,
  send: (bytes: Buffer) => Promise<unknown>,
): Promise<boolean> {
  const start = p.target.delivered.length
  await send(bytes)
  const changed = !bytes.equals(base)
  if (changed) expect(p.target.delivered.length).toBe(start)
  else await until(() => p.target.delivered.length === start + 1, 'the intact message')
  p.target.delivered.splice(start)
  watch.expectNone()
  expectTypedDrops(p.target.ml)
  await p.roundTrip()
  return changed
}

const PAYLOAD = Buffer.from('sealed user message')

describe('wanfed/memberlist under hostile gossip bytes', () => {
  it(
    'UDP, plaintext pool: random and mutated packets are dropped as typed reasons, members keep pinging',
    async () => {
      const p = await pool('plain')
      const udp = await udpSender(cleanups)
      const bases = plainPackets('plain')
      await fc.assert(
        fc.asyncProperty(
          randomOrMutated(bases, { minLength: 1, maxLength: 1_400 }),
          async (packet) => {
            if (packet.length === 0) return
            await udp.send(p.target, packet)
            watch.expectNone()
            expectTypedDrops(p.target.ml)
            await p.roundTrip()
          },
        ),
        fuzzParams(400),
      )
      // The mutations reached the decoders: several kinds of drop were counted.
      expect(Object.keys(p.target.ml.stats().dropped).length).toBeGreaterThan(2)
      expect(p.target.ml.members().some((m) => m.name === 'plain-peer')).toBe(true)
    },
    fuzzTimeout(90_000),
  )

  it(
    'UDP, encrypted and labelled pool: a changed packet is never delivered, an unchanged one is',
    async () => {
      const p = await pool('sealed', encryptedPool(LABEL))
      const udp = await udpSender(cleanups)
      const bases = sealedPackets('sealed', LABEL, PAYLOAD)
      let changedCases = 0
      await fc.assert(
        fc.asyncProperty(fc.nat(), mutation(), async (i, mutate) => {
          const base = bases[i % bases.length] as Buffer
          const packet = mutate(base)
          if (packet.length === 0) return
          if (await deliveredOnlyIfIntact(p, base, packet, (b) => udp.send(p.target, b))) {
            changedCases++
          }
        }),
        fuzzParams(300),
      )
      expect(changedCases).toBeGreaterThan(0)
      expect(p.target.ml.stats().dropped['decrypt'] ?? 0).toBeGreaterThan(0)
    },
    fuzzTimeout(90_000),
  )

  it(
    'TCP streams, plaintext pool: random and mutated stream messages end the stream, members keep pinging',
    async () => {
      const p = await pool('plainstream')
      const bases = plainStreams('plainstream')
      await fc.assert(
        fc.asyncProperty(
          randomOrMutated(bases, { minLength: 0, maxLength: 2_000 }),
          async (bytes) => {
            await streamTo(p.target, bytes)
            watch.expectNone()
            expectTypedDrops(p.target.ml)
            await p.roundTrip()
          },
        ),
        fuzzParams(200),
      )
      // Bad streams were refused at several decoding steps, and good ones handled.
      expect(Object.keys(p.target.ml.stats().dropped).length).toBeGreaterThan(2)
      expect(p.target.ml.stats().messages['stream-pushPull']).toBeGreaterThan(0)
    },
    fuzzTimeout(90_000),
  )

  it(
    'TCP streams, encrypted and labelled pool: a changed stream message is never delivered',
    async () => {
      const p = await pool('sealedstream', encryptedPool(LABEL))
      const base = Buffer.concat([
        labelHeader(LABEL),
        encodeStreamMessage(encodeStreamUserMessage(PAYLOAD), {
          compress: false,
          label: LABEL,
          encrypt: ENC,
        }),
      ])
      let changedCases = 0
      await fc.assert(
        fc.asyncProperty(mutation(), async (mutate) => {
          const bytes = mutate(base)
          if (await deliveredOnlyIfIntact(p, base, bytes, (b) => streamTo(p.target, b))) {
            changedCases++
          }
        }),
        fuzzParams(200),
      )
      expect(changedCases).toBeGreaterThan(0)
    },
    fuzzTimeout(90_000),
  )
})
