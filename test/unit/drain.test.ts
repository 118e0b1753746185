import { once } from 'node:events'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { drain, OpenSet, openSockets } from '../../src/internal/drain.ts'
import { TrackingClock } from '../helpers/leaks.ts'

/** A fake connection: `finish()` is its close arriving; the owner then deletes it. */
function conns(open: OpenSet<string>, names: string[]) {
  for (const n of names) open.add(n)
  return (name: string) => open.delete(name)
}

describe('drain()', () => {
  it('asks every connection to finish, resolves when the last one has, and leaves no timer', async () => {
    const clock = new TrackingClock()
    const open = new OpenSet<string>()
    const finish = conns(open, ['a', 'b'])
    const begun: string[] = []
    let stopped = false
    const result = drain({
      open,
      clock,
      graceMs: 60_000,
      stopAccepting: async () => {
        stopped = true
      },
      begin: (c) => {
        begun.push(c)
        setTimeout(() => finish(c), 5)
      },
      destroy: () => {
        throw new Error('nothing is left to destroy')
      },
    })
    expect(stopped).toBe(true)
    expect(await result).toEqual({ finished: 2, destroyed: 0 })
    expect(begun).toEqual(['a', 'b'])
    expect(clock.liveTimers).toBe(0)
  })

  it('destroys what is left at the deadline, waits for it to go, then for the listener', async () => {
    const clock = new TrackingClock()
    const open = new OpenSet<string>()
    const finish = conns(open, ['quick', 'stuck'])
    const order: string[] = []
    const result = await drain({
      open,
      clock,
      graceMs: 30,
      stopAccepting: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            order.push('listener closed')
            resolve()
          }, 1),
        ),
      begin: (c) => {
        if (c === 'quick') finish(c)
      },
      destroy: (c) => {
        order.push(`destroy ${c}`)
        setTimeout(() => finish(c), 5)
      },
    })
    expect(result).toEqual({ finished: 1, destroyed: 1 })
    expect(open.size).toBe(0)
    expect(order).toEqual(['listener closed', 'destroy stuck'])
    expect(clock.liveTimers).toBe(0)
  })

  it('abrupt: destroys at once without asking; an empty set returns at once', async () => {
    const clock = new TrackingClock()
    const open = new OpenSet<string>()
    const finish = conns(open, ['a'])
    const result = await drain({
      open,
      clock,
      graceMs: 60_000,
      abrupt: true,
      begin: () => {
        throw new Error('not asked when abrupt')
      },
      destroy: (c) => finish(c),
    })
    expect(result).toEqual({ finished: 0, destroyed: 1 })
    expect(await drain({ open, clock, graceMs: 60_000, destroy: () => {} })).toEqual({
      finished: 0,
      destroyed: 0,
    })
    expect(clock.liveTimers).toBe(0)
  })

  it('settleMs bounds the wait for destroyed connections that never report their close', async () => {
    const clock = new TrackingClock()
    const open = new OpenSet<string>()
    conns(open, ['zombie'])
    const result = await drain({ open, clock, graceMs: 10, settleMs: 20, destroy: () => {} })
    expect(result).toEqual({ finished: 0, destroyed: 1 })
    expect(open.has('zombie')).toBe(true)
    expect(clock.liveTimers).toBe(0)
  })
})

describe('OpenSet.whenEmpty', () => {
  it('resolves true when emptied, false at the deadline, and wakes every waiter', async () => {
    const clock = new TrackingClock()
    const open = new OpenSet<number>()
    expect(await open.whenEmpty(clock)).toBe(true)
    open.add(1)
    expect(await open.whenEmpty(clock, 10)).toBe(false)
    const a = open.whenEmpty(clock)
    const b = open.whenEmpty(clock, 60_000)
    open.delete(1)
    expect(await Promise.all([a, b])).toEqual([true, true])
    expect(clock.liveTimers).toBe(0)
  })
})

describe('openSockets() with drain(), as a pool would close', () => {
  it('ends every socket, waits for the peers that close back, destroys the one that does not', async () => {
    const clock = new TrackingClock()
    const accepted: Socket[] = []
    const server = createServer({ allowHalfOpen: true }, (s) => {
      accepted.push(s)
      s.on('error', () => {})
      s.resume()
      // The first peer closes back on our FIN; the second keeps its side open.
      if (accepted.length === 1) s.on('end', () => s.end())
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as { port: number }
    const clients: Socket[] = []
    for (let i = 0; i < 2; i++) {
      const c = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true })
      c.on('error', () => {})
      c.resume()
      await once(c, 'connect')
      clients.push(c)
      while (accepted.length <= i) await new Promise((r) => setTimeout(r, 5))
    }
    const gone = netConnect({ host: '127.0.0.1', port })
    gone.on('error', () => {})
    await once(gone, 'connect')
    gone.destroy()
    await once(gone, 'close')
    const open = openSockets([...clients, gone])
    expect(open.size).toBe(2)
    const result = await drain({
      open,
      clock,
      graceMs: 300,
      begin: (s) => s.end(),
      destroy: (s) => s.destroy(),
    })
    expect(result).toEqual({ finished: 1, destroyed: 1 })
    expect(clients.every((c) => c.closed)).toBe(true)
    expect(clock.liveTimers).toBe(0)
    for (const s of accepted) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
})
