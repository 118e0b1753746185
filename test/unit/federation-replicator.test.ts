import { afterEach, describe, expect, it } from 'vitest'
import { FederationGatewayLocator } from '../../src/locator/federation/gateway-locator.ts'
import {
  diff,
  FederationStateReplicator,
  type ReplicationRound,
} from '../../src/locator/federation/replicator.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { parseFederationState } from '../../src/locator/federation/validate.ts'
import { settle, VirtualClock } from '../helpers/clock.ts'
import { gateway, state } from '../helpers/federation.ts'

let clock: VirtualClock
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
  expect(clock.pendingTimers).toBe(0)
})

/** The primary's real store behind a switch: `down` makes every fetch fail as a closed store does. */
function setup(random = () => 0) {
  clock = new VirtualClock()
  let primary = new FederationStateStore({ clock, random })
  const down = new FederationStateStore({ clock })
  void down.close()
  let isDown = false
  const secondary = new FederationStateStore({ clock, random })
  const locator = new FederationGatewayLocator({
    store: secondary,
    datacenter: 'dc2',
    primaryDatacenter: 'dc1',
    replicates: true,
    clock,
    random,
  })
  const rounds: ReplicationRound[] = []
  const replicator = new FederationStateReplicator({
    store: secondary,
    source: { list: (o) => (isDown ? down : primary).blockingList(o) },
    locator,
    clock,
    random,
  })
  replicator.on('round', (r) => rounds.push(r))
  closers.push(async () => {
    await replicator.close()
    await locator.close()
    await primary.close()
  })
  return {
    get primary() {
      return primary
    },
    replace(s: FederationStateStore) {
      primary = s
    },
    setDown(v: boolean) {
      isDown = v
    },
    secondary,
    locator,
    replicator,
    rounds,
  }
}

const view = (s: FederationStateStore) =>
  s.list().states.map((x) => ({ dc: x.datacenter, n: x.meshGateways.length, at: x.updatedAt }))

describe('FederationStateReplicator', () => {
  it('copies the primary, keeping its modifyIndex as primaryModifyIndex, then follows changes', async () => {
    const t = setup()
    t.primary.upsert({ ...state('dc1', gateway({ wan: '198.51.100.1' })), updatedAt: 5 })
    t.primary.upsert(state('dc3'))
    t.primary.upsert({ ...state('dc3', gateway()), primaryModifyIndex: 77 })
    t.replicator.start()
    await settle()
    expect(view(t.secondary)).toEqual(view(t.primary))
    expect(t.secondary.get('dc3').state?.primaryModifyIndex).toBe(4)
    expect(t.secondary.get('dc1').state?.primaryModifyIndex).toBe(2)
    expect(t.rounds[0]).toMatchObject({ ok: true, full: true, updated: 2, remoteIndex: 4 })
    t.primary.delete('dc3')
    t.primary.upsert(state('dc4'))
    await settle()
    expect(view(t.secondary)).toEqual(view(t.primary))
    // Only what changed after the last index is written again.
    expect(t.rounds.slice(1).reduce((n, r) => n + r.updated, 0)).toBe(1)
    expect(t.rounds.slice(1).reduce((n, r) => n + r.deleted, 0)).toBe(1)
  })

  it('diff: deletions for local-only, updates for remote-only or changed since the last index', () => {
    const s = (dc: string, modifyIndex: number) =>
      parseFederationState({ datacenter: dc, createIndex: 1, modifyIndex })
    const { deletions, updates } = diff(
      [s('a', 1), s('B', 2), s('c', 3)],
      [s('b', 5), s('c', 3), s('d', 4)],
      3,
    )
    expect(deletions).toEqual(['a'])
    expect(updates.map((x) => x.datacenter)).toEqual(['b', 'd'])
    expect(diff([s('c', 3)], [s('c', 3)], 0).updates).toHaveLength(1)
  })

  it('fetch failures back off 1 s doubling to 120 s (+10 % jitter), reset the index, and feed the locator', async () => {
    const t = setup(() => 0.5)
    t.primary.upsert(state('dc1', gateway({ wan: '198.51.100.1' })))
    t.primary.upsert(state('dc2', gateway({ lan: '10.2.0.1' })))
    t.locator.start()
    t.replicator.start()
    await settle()
    expect(t.locator.listGateways(true)).toEqual(['10.2.0.1:8443'])
    t.setDown(true)
    t.primary.upsert(state('dc5'))
    await settle()
    expect(t.rounds.at(-1)).toMatchObject({ ok: false, remoteIndex: 0 })
    expect(t.replicator.lastRemoteIndex).toBe(0)
    expect(t.replicator.backoffMs(1)).toBe(1050)
    expect(t.replicator.backoffMs(2)).toBe(2100)
    expect(t.replicator.backoffMs(8)).toBe(126_000)
    expect(t.replicator.backoffMs(20)).toBe(126_000)
    const failures = () => t.rounds.filter((r) => !r.ok).length
    expect(failures()).toBe(1)
    await clock.advanceAsync(1049)
    expect(failures()).toBe(1)
    await clock.advanceAsync(1)
    expect(failures()).toBe(2)
    expect(t.locator.dialPrimaryThroughLocalGateway()).toBe(true)
    await clock.advanceAsync(2100)
    expect(failures()).toBe(3)
    // Three failures in a row: dial the primary's own gateways.
    expect(t.locator.dialPrimaryThroughLocalGateway()).toBe(false)
    expect(t.locator.listGateways(true)).toEqual(['198.51.100.1:8443'])
    t.setDown(false)
    await clock.advanceAsync(4200)
    expect(t.rounds.at(-1)).toMatchObject({ ok: true, full: true })
    expect(t.locator.dialPrimaryThroughLocalGateway()).toBe(true)
    expect(view(t.secondary)).toEqual(view(t.primary))
  })

  it('forces a full sync when the primary index moves backwards', async () => {
    const t = setup()
    t.primary.upsert(state('dc1'))
    const old = t.primary.snapshot()
    t.primary.upsert(state('dc7'))
    t.primary.upsert(state('dc8'))
    t.replicator.start()
    await settle()
    expect(view(t.secondary).map((x) => x.dc)).toEqual(['dc1', 'dc7', 'dc8'])
    // A primary restored from an older snapshot, then written once: index 3 < 4.
    t.primary.restore(old)
    t.primary.upsert(state('dc9'))
    await settle()
    expect(view(t.secondary).map((x) => x.dc)).toEqual(['dc1', 'dc9'])
    expect(t.rounds.at(-1)).toMatchObject({ ok: true, full: true })
    expect(t.replicator.stats().fullSyncs).toBe(2)
  })

  it('rate-limits rounds to 1 per second after a burst of 5', async () => {
    const t = setup()
    t.replicator.start()
    await settle()
    for (let i = 0; i < 7; i++) {
      t.primary.upsert(state(`dc${i}`))
      await settle()
    }
    expect(t.rounds).toHaveLength(5)
    await clock.advanceAsync(1000)
    expect(t.rounds).toHaveLength(6)
    await clock.advanceAsync(1000)
    expect(view(t.secondary)).toEqual(view(t.primary))
  })

  it('limits local writes to 100 per second', async () => {
    const t = setup()
    for (let i = 0; i < 150; i++) t.primary.upsert(state(`dc${i}`))
    t.replicator.start()
    await settle()
    expect(t.secondary.list().states).toHaveLength(100)
    await clock.advanceAsync(500)
    expect(t.secondary.list().states).toHaveLength(150)
  })
})
