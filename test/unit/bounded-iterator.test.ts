import { describe, expect, it } from 'vitest'
import { BoundedIterator, DEFAULT_HIGH_WATER_MARK } from '../../src/transport/bounded-iterator.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'

/** An iterator of numbers that records what it disposed of and how often it unsubscribed. */
function make(highWaterMark: number) {
  const disposed: number[] = []
  let unsubscribed = 0
  const it = new BoundedIterator<number>(
    highWaterMark,
    () => {
      unsubscribed++
    },
    (n) => disposed.push(n),
  )
  return { it, disposed, unsubscribed: () => unsubscribed }
}

async function take(it: BoundedIterator<number>, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const r = await it.next()
    if (r.done) break
    out.push(r.value)
  }
  return out
}

describe('BoundedIterator: the queue bound', () => {
  it('holds exactly highWaterMark items and refuses, counting, the next one', async () => {
    const { it, disposed } = make(3)
    expect([it.push(1), it.push(2), it.push(3)]).toEqual([true, true, true])
    expect(it.pending).toBe(3)
    expect(it.dropped).toBe(0)
    expect(it.push(4)).toBe(false)
    expect(it.push(5)).toBe(false)
    expect([it.pending, it.dropped]).toEqual([3, 2])
    // A refused item stays the producer's: the iterator disposes of nothing.
    expect(disposed).toEqual([])
    expect(await take(it, 1)).toEqual([1])
    expect(it.push(6)).toBe(true)
    expect(it.push(7)).toBe(false)
    expect([it.pending, it.dropped]).toEqual([3, 3])
    expect(await take(it, 3)).toEqual([2, 3, 6])
  })

  it('with a bound of 0, hands items only to a waiting next()', async () => {
    const { it } = make(0)
    expect(it.push(1)).toBe(false)
    const waiting = it.next()
    expect(it.push(2)).toBe(true)
    expect(await waiting).toEqual({ value: 2, done: false })
    expect([it.pending, it.dropped]).toEqual([0, 1])
  })

  it('defaults to memberlist’s 1024 in the transports', async () => {
    expect(DEFAULT_HIGH_WATER_MARK).toBe(1024)
    const network = new MemoryNetwork()
    const t = network.createTransport('a.dc1')
    const u = network.createTransport('b.dc1')
    await Promise.all([t.listen(), u.listen()])
    const packets = t.packets()
    const small = t.packets({ highWaterMark: 2 })
    for (let i = 0; i < DEFAULT_HIGH_WATER_MARK + 1; i++) {
      await u.writeToAddress(Buffer.from([i & 0xff]), { name: 'a.dc1', addr: '' })
    }
    expect([packets.pending, packets.dropped]).toEqual([DEFAULT_HIGH_WATER_MARK, 1])
    expect([small.pending, small.dropped]).toEqual([2, DEFAULT_HIGH_WATER_MARK - 1])
    await Promise.all([t.close(), u.close()])
  })

  it('keeps order and its count across the compaction of a long queue', async () => {
    const { it } = make(5_000)
    for (let i = 0; i < 3_000; i++) it.push(i)
    expect(await take(it, 2_000)).toEqual(Array.from({ length: 2_000 }, (_, i) => i))
    for (let i = 3_000; i < 7_000; i++) it.push(i)
    expect([it.pending, it.dropped]).toEqual([5_000, 0])
    for (let i = 0; i < 10; i++) expect(it.push(-1)).toBe(false)
    expect(await take(it, 5_000)).toEqual(Array.from({ length: 5_000 }, (_, i) => 2_000 + i))
    expect([it.pending, it.dropped]).toEqual([0, 10])
  })
})

describe('BoundedIterator: consumers', () => {
  it('serves overlapping next() calls in call order, without counting them as queued', async () => {
    const { it } = make(1)
    const first = it.next()
    const second = it.next()
    const third = it.next()
    expect(it.push(1)).toBe(true)
    expect(it.push(2)).toBe(true)
    expect(it.pending).toBe(0)
    expect(await Promise.all([first, second])).toEqual([
      { value: 1, done: false },
      { value: 2, done: false },
    ])
    it.end()
    expect(await third).toEqual({ value: undefined, done: true })
  })

  it('end(): queued items are still handed out, then done; later pushes are refused uncounted', async () => {
    const { it, disposed, unsubscribed } = make(4)
    it.push(1)
    it.push(2)
    it.end()
    expect(unsubscribed()).toBe(1)
    expect(it.push(3)).toBe(false)
    expect(it.dropped).toBe(0)
    expect(await take(it, 5)).toEqual([1, 2])
    expect(await it.next()).toEqual({ value: undefined, done: true })
    it.end()
    await it.return()
    expect(unsubscribed()).toBe(1)
    expect(disposed).toEqual([])
  })

  it('return(): disposes of what is queued, ends waiting next() calls, unsubscribes once', async () => {
    const { it, disposed, unsubscribed } = make(4)
    it.push(1)
    it.push(2)
    it.push(3)
    expect(await take(it, 1)).toEqual([1])
    expect(await it.return()).toEqual({ value: undefined, done: true })
    expect(disposed).toEqual([2, 3])
    expect(unsubscribed()).toBe(1)
    expect(it.pending).toBe(0)
    expect(it.push(4)).toBe(false)
    expect(await it.next()).toEqual({ value: undefined, done: true })

    const w = make(4)
    const waiting = w.it.next()
    await w.it.return()
    expect(await waiting).toEqual({ value: undefined, done: true })
    await w.it.return()
    expect(w.unsubscribed()).toBe(1)
  })

  it('break and throw in a for-await loop both return() the iterator', async () => {
    const broken = make(4)
    for (const n of [1, 2, 3]) broken.it.push(n)
    for await (const n of broken.it) if (n === 1) break
    expect(broken.disposed).toEqual([2, 3])
    expect(broken.unsubscribed()).toBe(1)

    const thrown = make(4)
    for (const n of [1, 2, 3]) thrown.it.push(n)
    await expect(
      (async () => {
        for await (const n of thrown.it) if (n === 2) throw new Error('consumer failed')
      })(),
    ).rejects.toThrow('consumer failed')
    expect(thrown.disposed).toEqual([3])
    expect(thrown.unsubscribed()).toBe(1)
  })

  it('ends when its transport closes, serving overlapping next() calls in order before', async () => {
    const network = new MemoryNetwork()
    const t = network.createTransport('a.dc1')
    const u = network.createTransport('b.dc1')
    await Promise.all([t.listen(), u.listen()])
    const it = t.packets()
    const both = Promise.all([it.next(), it.next()])
    await u.writeToAddress(Buffer.from('1'), { name: 'a.dc1', addr: '' })
    await u.writeToAddress(Buffer.from('2'), { name: 'a.dc1', addr: '' })
    const [one, two] = await both
    expect([one.value?.buf.toString(), two.value?.buf.toString()]).toEqual(['1', '2'])
    const pending = it.next()
    await Promise.all([t.close(), u.close()])
    expect((await pending).done).toBe(true)
  })
})
