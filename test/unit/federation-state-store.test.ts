import { describe, expect, it } from 'vitest'
import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  InvalidFederationStateError,
} from '../../src/errors.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { blockingWait } from '../../src/locator/federation/watchers.ts'
import { settle, VirtualClock } from '../helpers/clock.ts'
import { gateway, state } from '../helpers/federation.ts'

function store(random = () => 0) {
  const clock = new VirtualClock()
  return { clock, s: new FederationStateStore({ clock, random }) }
}

describe('FederationStateStore: index rules (Consul state/federation_state.go)', () => {
  it('each write takes the next index; createIndex kept; primaryModifyIndex defaults to the write', () => {
    const { s } = store()
    expect(s.index).toBe(0)
    const a = s.upsert(state('dc1', gateway()))
    expect(a).toMatchObject({ createIndex: 2, modifyIndex: 2, primaryModifyIndex: 2 })
    s.upsert(state('dc2'))
    const a2 = s.upsert(state('dc1', gateway({ port: 9 })))
    expect(a2).toMatchObject({ createIndex: 2, modifyIndex: 4, primaryModifyIndex: 4 })
    const replicated = s.upsert({ ...state('dc3'), primaryModifyIndex: 77 })
    expect(replicated).toMatchObject({ createIndex: 5, modifyIndex: 5, primaryModifyIndex: 77 })
    expect(s.index).toBe(5)
  })

  it('an unchanged upsert still takes an index, as Consul does', () => {
    const { s } = store()
    s.upsert(state('dc1'))
    s.upsert(state('dc1'))
    expect(s.index).toBe(3)
    expect(s.get('dc1').state?.modifyIndex).toBe(3)
  })

  it('compares datacenter keys case-insensitively and keeps the latest spelling', () => {
    const { s } = store()
    s.upsert(state('DC1'))
    s.upsert(state('dc1', gateway()))
    expect(s.list().states.map((x) => x.datacenter)).toEqual(['dc1'])
    expect(s.get('Dc1').state?.createIndex).toBe(2)
    expect(s.delete('DC1')).toBe(true)
    expect(s.list().states).toEqual([])
  })

  it('a get of a missing record returns the table index and no state', () => {
    const { s } = store()
    s.upsert(state('dc1'))
    s.upsert(state('dc2'))
    expect(s.get('dc9')).toEqual({ index: 3, state: undefined })
  })

  it('a delete of a missing record changes nothing; an existing one bumps the index', () => {
    const { s } = store()
    s.upsert(state('dc1'))
    expect(s.delete('dc2')).toBe(false)
    expect(s.index).toBe(2)
    expect(s.delete('dc1')).toBe(true)
    expect(s.index).toBe(3)
    expect(s.get('dc1')).toEqual({ index: 3, state: undefined })
  })

  it('lists in lowercased datacenter order, and mesh gateways only for DCs that have some', () => {
    const { s } = store()
    s.upsert(state('dc2', gateway({ name: 'b' })))
    s.upsert(state('DC10', gateway({ name: 'c' })))
    s.upsert(state('dc1'))
    s.upsert(state('Dc0', gateway({ name: 'a' })))
    expect(s.list().states.map((x) => x.datacenter)).toEqual(['Dc0', 'dc1', 'DC10', 'dc2'])
    const mg = s.listMeshGateways()
    expect(mg.index).toBe(5)
    expect(Object.keys(mg.gateways)).toEqual(['Dc0', 'DC10', 'dc2'])
    expect(mg.gateways['dc2']?.[0]?.node.node).toBe('b')
  })

  it('apply mirrors Consul FSM: upsert true, delete false, unknown op and missing datacenter refused', () => {
    const { s } = store()
    expect(s.apply({ op: 'upsert', state: state('dc1') })).toBe(true)
    expect(s.apply({ op: 'delete', state: { datacenter: 'dc1' } })).toBe(false)
    expect(s.index).toBe(3)
    const bad: unknown[] = [
      { op: 'replace', state: state('dc1') },
      { op: 'upsert', state: { datacenter: '' } },
      { op: 'delete', state: {} },
      { op: 'delete' },
      null,
    ]
    for (const req of bad) {
      expect(() => s.apply(req as never)).toThrow(InvalidFederationStateError)
    }
    expect(() => s.apply({ op: 'replace' as never, state: state('dc1') })).toThrow(
      'Invalid federation state operation: replace',
    )
    expect(() => s.apply({ op: 'upsert', state: { datacenter: '' } })).toThrow(
      'missing federation state datacenter',
    )
    expect(s.index).toBe(3)
    expect(s.list().states).toEqual([])
  })

  it('a bad upsert changes nothing', () => {
    const { s } = store()
    s.upsert(state('dc1', gateway()))
    const before = s.snapshot()
    const g = gateway()
    ;(g.service as { port: number }).port = -1
    expect(() => s.upsert(state('dc1', g))).toThrow(InvalidFederationStateError)
    expect(s.snapshot()).toEqual(before)
  })
})

describe('FederationStateStore: blocking reads', () => {
  it('returns at once with no minIndex, or when the index is already past it; index forced to 1', async () => {
    const { s } = store()
    expect((await s.blockingList()).index).toBe(1)
    expect(s.list().index).toBe(0)
    s.upsert(state('dc1'))
    s.upsert(state('dc2'))
    expect((await s.blockingList({ minIndex: 1 })).index).toBe(3)
  })

  it('an empty store blocked at index 1 waits (index 0 reads as 1)', async () => {
    const { s, clock } = store()
    let done = false
    const p = s.blockingList({ minIndex: 1, waitMs: 1000 }).then((r) => {
      done = true
      return r
    })
    await settle()
    expect(done).toBe(false)
    s.upsert(state('dc1'))
    expect((await p).index).toBe(2)
    s.upsert(state('dc2'))
    expect(clock.pendingTimers).toBe(0)
  })

  it('a reader that got the forced index 1 from an empty store sees the first write, even one made before it blocks', async () => {
    const { s, clock } = store()
    const first = await s.blockingList()
    expect(first.index).toBe(1)
    s.upsert(state('dc1'))
    const r = await s.blockingList({ minIndex: first.index, waitMs: 1000 })
    expect(r.index).toBe(2)
    expect(r.states).toHaveLength(1)
    expect(clock.pendingTimers).toBe(0)
  })

  it('wakes a blocked list on any write and releases its timer', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    const p = s.blockingList({ minIndex: 2 })
    await settle()
    expect(s.stats().waiting).toBe(1)
    expect(clock.pendingTimers).toBe(1)
    s.upsert(state('dc2'))
    const r = await p
    expect(r.index).toBe(3)
    expect(r.states).toHaveLength(2)
    expect(clock.pendingTimers).toBe(0)
    expect(s.stats().waiting).toBe(0)
  })

  it('a blocked get wakes for its own record only, and then reports the table index', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    let woke = false
    const p = s.blockingGet('DC1', { minIndex: 2 }).then((r) => {
      woke = true
      return r
    })
    s.upsert(state('dc2'))
    await settle()
    expect(woke).toBe(false)
    s.delete('dc1')
    expect(await p).toEqual({ index: 4, state: undefined })
    expect(clock.pendingTimers).toBe(0)
  })

  it('a blocked get of a missing record wakes when it is created', async () => {
    const { s } = store()
    const p = s.blockingGet('dc7', { minIndex: 1 })
    s.upsert(state('dc7'))
    expect((await p).state?.datacenter).toBe('dc7')
  })

  it('times out after the wait plus jitter and returns the unchanged result', async () => {
    const { s, clock } = store(() => 0.5)
    s.upsert(state('dc1'))
    let result: { index: number } | undefined
    const p = s.blockingList({ minIndex: 2, waitMs: 16_000 }).then((r) => {
      result = r
    })
    await settle()
    expect(clock.pendingTimers).toBe(1)
    await clock.advanceAsync(16_499)
    expect(result).toBeUndefined()
    await clock.advanceAsync(1)
    await p
    expect(result?.index).toBe(2)
    expect(clock.pendingTimers).toBe(0)
  })

  it('uses the default wait of 300 s and clamps to 600 s, as Consul', () => {
    expect(blockingWait(undefined, () => 0)).toBe(300_000)
    expect(blockingWait(0, () => 0)).toBe(300_000)
    expect(blockingWait(10_000_000, () => 0)).toBe(600_000)
    expect(blockingWait(1_000_000, () => 0.999999)).toBeCloseTo(600_000 + 37_500, 0)
    expect(blockingWait(160, () => 1)).toBe(170)
    expect(() => blockingWait(-1, () => 0)).toThrow(InvalidArgumentError)
    expect(() => blockingWait(Number.NaN, () => 0)).toThrow(InvalidArgumentError)
  })

  it('rejects on abort with AbortError and releases timer and listener', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    const ac = new AbortController()
    const p = s.blockingList({ minIndex: 2, signal: ac.signal })
    await settle()
    ac.abort()
    await expect(p).rejects.toBeInstanceOf(AbortError)
    expect(clock.pendingTimers).toBe(0)
    expect(s.stats().waiting).toBe(0)
    await expect(s.blockingList({ minIndex: 2, signal: ac.signal })).rejects.toBeInstanceOf(
      AbortError,
    )
    expect(clock.pendingTimers).toBe(0)
  })

  it('rejects bad query options without waiting', async () => {
    const { s, clock } = store()
    await expect(s.blockingList({ minIndex: -1 })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(s.blockingList({ minIndex: 1, waitMs: -5 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(s.blockingGet('', { minIndex: 1 })).rejects.toBeInstanceOf(
      InvalidFederationStateError,
    )
    expect(clock.pendingTimers).toBe(0)
  })

  it('a restore wakes every blocked read at once, even when the index moved backwards', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    const old = s.snapshot()
    s.upsert(state('dc2'))
    s.upsert(state('dc3'))
    const list = s.blockingList({ minIndex: 4 })
    const get = s.blockingGet('dc3', { minIndex: 4 })
    await settle()
    s.restore(old)
    expect((await list).index).toBe(2)
    expect(await get).toEqual({ index: 2, state: undefined })
    expect(clock.pendingTimers).toBe(0)
  })

  it('close rejects blocked reads with ClosedError and refuses writes', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    const p = s.blockingList({ minIndex: 2 })
    await settle()
    await s.close()
    await expect(p).rejects.toBeInstanceOf(ClosedError)
    expect(() => s.upsert(state('dc2'))).toThrow(ClosedError)
    await expect(s.blockingList({ minIndex: 1 })).rejects.toBeInstanceOf(ClosedError)
    await expect(s.blockingList()).rejects.toBeInstanceOf(ClosedError)
    expect(s.get('dc1').state?.datacenter).toBe('dc1')
    expect(clock.pendingTimers).toBe(0)
  })

  it('holds many blocked reads and wakes them all on one write', async () => {
    const { s, clock } = store()
    s.upsert(state('dc1'))
    const reads = Array.from({ length: 100 }, () => s.blockingListMeshGateways({ minIndex: 2 }))
    await settle()
    expect(s.stats().waiting).toBe(100)
    s.upsert(state('dc2', gateway()))
    for (const r of await Promise.all(reads)) expect(Object.keys(r.gateways)).toEqual(['dc2'])
    expect(clock.pendingTimers).toBe(0)
  })
})
