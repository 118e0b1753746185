import { afterEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import {
  type AntiEntropyRound,
  FederationStateAntiEntropy,
  type FederationStateAntiEntropyOptions,
} from '../../src/locator/federation/anti-entropy.ts'
import { FederationStatePruner } from '../../src/locator/federation/pruner.ts'
import { FederationStateReplicator } from '../../src/locator/federation/replicator.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import type { MeshGatewayInput } from '../../src/locator/federation/validate.ts'
import { settle, VirtualClock } from '../helpers/clock.ts'
import { gateway, state } from '../helpers/federation.ts'

let clock: VirtualClock
const closers: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
  expect(clock.pendingTimers).toBe(0)
})

function antiEntropy(options: Omit<FederationStateAntiEntropyOptions, 'clock' | 'wallClock'>) {
  const ae = new FederationStateAntiEntropy({ clock, wallClock: () => 1234, ...options })
  const rounds: AntiEntropyRound['outcome'][] = []
  ae.on('round', (r) => rounds.push(r.outcome))
  closers.push(() => ae.close())
  return { ae, rounds }
}

const g1 = gateway({ name: 'a', lan: '10.0.0.1' })
const g2 = gateway({ name: 'b', lan: '10.0.0.2' })

describe('FederationStateAntiEntropy in the primary', () => {
  it('writes its own record locally, then skips while the stored copy is the same', async () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    const { ae, rounds } = antiEntropy({
      datacenter: 'dc1',
      primaryDatacenter: 'dc1',
      store,
      gateways: [g1],
    })
    ae.start()
    await settle()
    expect(store.get('dc1').state).toMatchObject({
      updatedAt: 1234,
      meshGateways: [{ node: { node: 'a' } }],
    })
    // The write wakes one more round, which finds the copy the same (as Consul).
    expect(rounds).toEqual(['synced', 'skipped'])
    const index = store.index
    await clock.advanceAsync(10_000)
    expect(store.index).toBe(index)
  })

  it('wakes on a gateway change (notify), on check output, and is rate-limited as Consul (burst 5, then 5 s)', async () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    let list: MeshGatewayInput[] = [g1]
    const { ae, rounds } = antiEntropy({
      datacenter: 'dc1',
      primaryDatacenter: 'dc1',
      store,
      gateways: () => list,
    })
    ae.start()
    await settle()
    list = [g1, g2]
    ae.notify()
    await settle()
    expect(store.get('dc1').state?.meshGateways).toHaveLength(2)
    // Each write wakes one more round that finds the copy the same: 4 of the 5 tokens used.
    expect(rounds).toEqual(['synced', 'skipped', 'synced', 'skipped'])
    list = [g1, gateway({ name: 'b', lan: '10.0.0.2', output: 'first output' })]
    ae.notify()
    await settle()
    expect(rounds).toHaveLength(5)
    // The check output changes: the next round waits for a token, 5 s.
    list = [g1, gateway({ name: 'b', lan: '10.0.0.2', output: 'now with output' })]
    ae.notify()
    await clock.advanceAsync(4999)
    expect(rounds).toHaveLength(5)
    await clock.advanceAsync(1)
    expect(store.get('dc1').state?.meshGateways[1]?.checks[0]?.output).toBe('now with output')
    expect(rounds[5]).toBe('synced')
  })

  it('wakes when the stored copy changes under it and puts the right record back', async () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    const { ae } = antiEntropy({
      datacenter: 'dc1',
      primaryDatacenter: 'dc1',
      store,
      gateways: [g1],
    })
    ae.start()
    await settle()
    store.upsert(state('dc1', g2))
    await clock.advanceAsync(5000)
    expect(store.get('dc1').state?.meshGateways[0]?.node.node).toBe('a')
  })

  it('takes its gateways from an async iterable', async () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    let push: (v: MeshGatewayInput[]) => void = () => {}
    async function* lists() {
      for (;;) yield await new Promise<MeshGatewayInput[]>((r) => (push = r))
    }
    const { ae, rounds } = antiEntropy({
      datacenter: 'dc1',
      primaryDatacenter: 'dc1',
      store,
      gateways: lists(),
    })
    ae.start()
    await settle()
    expect(store.get('dc1').state).toBeUndefined()
    push([g1])
    await settle()
    expect(store.get('dc1').state?.meshGateways).toHaveLength(1)
    push([g1, g2])
    await settle()
    expect(store.get('dc1').state?.meshGateways).toHaveLength(2)
    expect(rounds.filter((r) => r === 'synced')).toHaveLength(2)
  })

  it('validates its options', () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    expect(
      () =>
        new FederationStateAntiEntropy({
          datacenter: 'dc2',
          primaryDatacenter: 'dc1',
          store,
          gateways: [],
        }),
    ).toThrow(InvalidArgumentError)
    expect(
      () =>
        new FederationStateAntiEntropy({
          datacenter: 'dc1',
          primaryDatacenter: 'dc1',
          store,
          gateways: 5 as never,
        }),
    ).toThrow(InvalidArgumentError)
  })
})

describe('FederationStateAntiEntropy in a secondary', () => {
  it('pushes to the primary, wakes when replication brings the copy back, and then skips', async () => {
    clock = new VirtualClock()
    const primary = new FederationStateStore({ clock })
    const secondary = new FederationStateStore({ clock })
    const replicator = new FederationStateReplicator({
      store: secondary,
      source: { list: (o) => primary.blockingList(o) },
      clock,
    }).start()
    closers.push(() => replicator.close())
    let list: MeshGatewayInput[] = [g1]
    const applied: string[] = []
    const { ae, rounds } = antiEntropy({
      datacenter: 'dc2',
      primaryDatacenter: 'dc1',
      store: secondary,
      gateways: () => list,
      primary: {
        apply: async (r) => {
          applied.push(r.op)
          return primary.apply(r)
        },
      },
    })
    ae.start()
    await settle()
    expect(primary.get('dc2').state?.meshGateways).toHaveLength(1)
    expect(secondary.get('dc2').state?.meshGateways).toHaveLength(1)
    expect(rounds).toEqual(['synced', 'skipped'])
    // The primary's copy is changed behind its back (another writer): replication brings it here,
    // anti-entropy wakes, sees the difference and writes its own again.
    primary.upsert(state('dc2', g2))
    await clock.advanceAsync(5000)
    expect(primary.get('dc2').state?.meshGateways[0]?.node.node).toBe('a')
    list = [g1, g2]
    ae.notify()
    await clock.advanceAsync(5000)
    expect(primary.get('dc2').state?.meshGateways).toHaveLength(2)
    expect(applied.every((op) => op === 'upsert')).toBe(true)
  })
})

describe('FederationStatePruner', () => {
  it('removes the states of datacenters no longer known, every hour', async () => {
    clock = new VirtualClock()
    const store = new FederationStateStore({ clock })
    store.upsert(state('dc1'))
    store.upsert(state('dc2'))
    store.upsert(state('gone'))
    const known = new Set(['dc1', 'dc2'])
    const pruner = new FederationStatePruner({ store, knows: (dc) => known.has(dc), clock }).start()
    closers.push(() => pruner.close())
    await clock.advanceAsync(3_599_999)
    expect(store.list().states).toHaveLength(3)
    await clock.advanceAsync(1)
    expect(store.list().states.map((s) => s.datacenter)).toEqual(['dc1', 'dc2'])
    known.delete('dc2')
    expect(pruner.prune()).toEqual(['dc2'])
    expect(pruner.pruned).toBe(2)
  })
})
