import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { waitForSocketEvent } from '../../src/internal/socket-event.ts'
import { leakGuard } from '../helpers/leaks.ts'

const EVENTS = ['connect', 'data', 'error', 'close'] as const

function listenerCounts(socket: Socket): number[] {
  return EVENTS.map((e) => socket.listenerCount(e))
}

describe('waitForSocketEvent', () => {
  const { clock, cleanups } = leakGuard()

  async function server(onConn: (s: Socket) => void): Promise<number> {
    const srv: Server = createServer((s) => {
      // The client is destroyed with the server's bytes unread: the far side may see a reset.
      s.on('error', () => {})
      onConn(s)
    })
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => srv.close(() => resolve())))
    return (srv.address() as { port: number }).port
  }

  function dial(port: number): Socket {
    const socket = netConnect({ host: '127.0.0.1', port })
    socket.on('error', () => {})
    cleanups.push(() => {
      socket.destroy()
    })
    return socket
  }

  it('resolves with the first event’s value and leaves no listener or timer', async () => {
    const port = await server((s) => s.end('hi'))
    const socket = dial(port)
    const before = listenerCounts(socket)
    const connected = await waitForSocketEvent(
      socket,
      { connect: () => 'connected', close: () => new Error('closed') },
      clock,
      5_000,
      () => new Error('timeout'),
    )
    expect(connected).toBe('connected')
    expect(listenerCounts(socket)).toEqual(before)
    expect(clock.liveTimers).toBe(0)
  })

  it('rejects with the Error an event maps to, and cleans up', async () => {
    const port = await server((s) => s.destroy())
    const socket = dial(port)
    const before = listenerCounts(socket)
    const got = waitForSocketEvent<Buffer>(
      socket,
      { data: (chunk: Buffer) => chunk, close: () => new Error('closed early') },
      clock,
      5_000,
      () => new Error('timeout'),
    )
    await expect(got).rejects.toThrow('closed early')
    expect(listenerCounts(socket)).toEqual(before)
    expect(clock.liveTimers).toBe(0)
  })

  it('rejects with the timeout error when no event comes in time, and cleans up', async () => {
    const port = await server(() => {})
    const socket = dial(port)
    await new Promise((resolve) => socket.once('connect', resolve))
    const before = listenerCounts(socket)
    const got = waitForSocketEvent<Buffer>(
      socket,
      { data: (chunk: Buffer) => chunk, close: () => new Error('closed') },
      clock,
      50,
      () => new Error('no answer'),
    )
    await expect(got).rejects.toThrow('no answer')
    expect(listenerCounts(socket)).toEqual(before)
    expect(clock.liveTimers).toBe(0)
  })
})
