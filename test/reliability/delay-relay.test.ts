import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { DelayRelay } from '../helpers/delay-relay.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { readAll, until } from '../helpers/net.ts'

// The user-space WAN link the namespace tests put between gateways, checked on loopback.

const { cleanups } = leakGuard()

async function server(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>()
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.once('close', () => sockets.delete(s))
    onConn(s)
  })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
  })
  return { server: srv, port: (srv.address() as { port: number }).port }
}

async function relay(port: number, delayMs: number, jitterMs = 0, maxBufferedBytes?: number) {
  const r = new DelayRelay({
    target: `127.0.0.1:${port}`,
    delayMs,
    jitterMs,
    ...(maxBufferedBytes === undefined ? {} : { maxBufferedBytes }),
  })
  const { port: relayPort } = await r.listen('127.0.0.1')
  cleanups.push(() => r.close())
  return { relay: r, port: relayPort }
}

async function dial(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true })
  s.on('error', () => {})
  await once(s, 'connect')
  cleanups.push(() => {
    s.destroy()
  })
  return s
}

describe('DelayRelay', () => {
  it('holds each direction for its delay: an echo round trip takes at least both delays', async () => {
    const { port } = await server((s) => s.pipe(s))
    const { port: via } = await relay(port, 40, 10)
    const c = await dial(via)
    const rtts: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = performance.now()
      c.write(Buffer.from([i]))
      await once(c, 'data')
      rtts.push(performance.now() - t)
    }
    // 40 ms ± 10 each way: never under 60 ms.
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(59)
  })

  it('keeps the bytes and their order under jitter, and carries half-close both ways', async () => {
    const { port } = await server((s) => {
      void readAll(s).then((all) => {
        s.end(Buffer.concat([Buffer.from('got '), Buffer.from(String(all.length))]))
      })
    })
    const { port: via } = await relay(port, 5, 5)
    const c = await dial(via)
    const sent: Buffer[] = []
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(1000 + i, i)
      sent.push(b)
      c.write(b)
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2))
    }
    c.end()
    const total = sent.reduce((n, b) => n + b.length, 0)
    expect((await readAll(c)).toString()).toBe(`got ${total}`)
  })

  it('delivers a 1 MiB transfer intact', async () => {
    let got: Promise<Buffer> = Promise.resolve(Buffer.alloc(0))
    const { port } = await server((s) => {
      got = readAll(s)
    })
    const { port: via } = await relay(port, 2, 1)
    const c = await dial(via)
    const data = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251
    c.end(data)
    await until(() => got !== undefined, 'the server side')
    await new Promise((r) => setTimeout(r, 10))
    expect((await got).equals(data)).toBe(true)
  })

  it('bounds what it holds: a reader that stops pauses the writer instead of filling memory', async () => {
    const { port } = await server((s) => s.pause())
    const max = 256 * 1024
    const { relay: r, port: via } = await relay(port, 1, 0, max)
    const c = await dial(via)
    const chunk = Buffer.alloc(64 * 1024, 1)
    // Far more than the relay may hold plus what the kernel buffers on both sockets.
    for (let i = 0; i < 256; i++) c.write(chunk)
    await until(() => r.stats().pauses > 0, 'the relay to pause its source', 10_000)
    await new Promise((res) => setTimeout(res, 100))
    const stats = r.stats()
    // One socket read past the bound at most.
    expect(stats.peakBuffered).toBeLessThanOrEqual(max + 64 * 1024)
    expect(c.writableLength).toBeGreaterThan(0)
  })

  it('passes a reset through and releases both sockets on close', async () => {
    const { port } = await server((s) => s.once('data', () => s.resetAndDestroy()))
    const { relay: r, port: via } = await relay(port, 5)
    const c = await dial(via)
    let code: string | undefined
    c.on('error', (err: NodeJS.ErrnoException) => {
      code = err.code
    })
    const closed = new Promise((resolve) => c.once('close', resolve))
    c.write('x')
    await closed
    expect(code).toBe('ECONNRESET')
    await until(() => r.stats().open === 0, 'both relay sockets to close')
    expect(r.stats().connections).toBe(1)
  })

  it('refuses a jitter larger than the delay', () => {
    expect(() => new DelayRelay({ target: '127.0.0.1:1', delayMs: 5, jitterMs: 6 })).toThrow(
      /jitterMs/,
    )
  })
})
