import { once } from 'node:events'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { captureClientHello } from '../helpers/client-hello.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

// A splice whose writes towards one side stop (a black-holed link, a hung peer whose window stays
// shut) is cut after writeStallTimeoutMs, so the client's connection ends and it can redial. On
// loopback the hole is an upstream that stops reading: its receive buffer fills, then the
// gateway's send buffer, then bytes wait in the gateway's socket with no progress.

const { clock, cleanups } = leakGuard()
const STALL_MS = 300

/** An upstream that answers the hello with one byte (as a remote gateway relays a ServerHello), then reads as told. */
async function upstream(
  reading: 'never' | 'slowly',
): Promise<{ address: string; read: () => number }> {
  let read = 0
  const sockets = new Set<Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
    s.once('data', (first: Buffer) => {
      read += first.length
      s.write(Buffer.from([0x16]))
      s.pause()
      if (reading === 'never') return
      // Up to 64 KiB every 50 ms: far slower than the writer, never stopped.
      const t = setInterval(() => {
        for (let got = 0; got < 64 * 1024; ) {
          const chunk = s.read() as Buffer | null
          if (chunk === null) break
          got += chunk.length
          read += chunk.length
        }
      }, 50)
      timers.add(t)
      s.once('close', () => {
        clearInterval(t)
        timers.delete(t)
      })
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    for (const t of timers) clearInterval(t)
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => server.close(() => r()))
  })
  const { port } = server.address() as { port: number }
  return { address: `127.0.0.1:${port}`, read: () => read }
}

async function gatewayWith(options: ConstructorParameters<typeof MeshGateway>[0]) {
  const gw = new MeshGateway({ clock, writeStallTimeoutMs: STALL_MS, ...options })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return { gw, address: `127.0.0.1:${port}` }
}

/** A client that sends a ClientHello for `sni`, then `total` bytes as fast as the gateway takes them. */
async function client(address: string, sni: string, total: number) {
  const hello = await captureClientHello({ servername: sni })
  const [host, port] = address.split(':') as [string, string]
  const s = netConnect({ host, port: Number(port) })
  s.on('error', () => {})
  cleanups.push(() => void s.destroy())
  await once(s, 'connect')
  s.write(hello)
  await once(s, 'data') // the upstream's answer, relayed
  const chunk = Buffer.alloc(64 * 1024, 7)
  let sent = 0
  const pump = () => {
    while (sent < total) {
      sent += chunk.length
      if (!s.write(chunk)) return
    }
    s.end()
  }
  s.on('drain', pump)
  pump()
  return s
}

describe('MeshGateway: a splice whose writes stop is closed', () => {
  it('an upstream that stops reading (local server) is cut after writeStallTimeoutMs and counted', async () => {
    const up = await upstream('never')
    const { gw, address } = await gatewayWith({ datacenter: 'dc1', servers: { betty: up.address } })
    const s = await client(address, 'betty.server.dc1.consul', 256 * 1024 * 1024)
    await until(() => s.destroyed || s.readableEnded, 'the gateway to cut the client', 10_000)
    expect(gw.stats().writeStalls).toBe(1)
    expect(gw.stats().idleTimeouts).toBe(0)
    await until(() => gw.stats().open === 0, 'the splice to be released')
  })

  it('a remote gateway that stops reading is cut and reported failed to the locator', async () => {
    const up = await upstream('never')
    const locator = new StaticGatewayLocator({ dc2: [up.address] }, { clock })
    const { gw, address } = await gatewayWith({ datacenter: 'dc1', servers: {}, locator })
    const s = await client(address, 'betty.server.dc2.consul', 256 * 1024 * 1024)
    await until(() => s.destroyed || s.readableEnded, 'the gateway to cut the client', 10_000)
    expect(gw.stats().writeStalls).toBe(1)
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
    await until(() => gw.stats().open === 0, 'the splice to be released')
  })

  it('a slow reader that keeps reading is never cut, however long its backlog lasts', async () => {
    const up = await upstream('slowly')
    const { gw, address } = await gatewayWith({ datacenter: 'dc1', servers: { betty: up.address } })
    const total = 1536 * 1024
    const started = Date.now()
    await client(address, 'betty.server.dc1.consul', total)
    await until(() => up.read() >= total, 'the slow reader to read everything', 30_000)
    // The backlog lasted many stall timeouts (at most 64 KiB read every 50 ms) and nothing was cut.
    expect(Date.now() - started).toBeGreaterThan(4 * STALL_MS)
    expect(gw.stats().writeStalls).toBe(0)
  })

  it('validates writeStallTimeoutMs; 0 disables it', () => {
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
      expect(
        () => new MeshGateway({ datacenter: 'dc1', servers: {}, writeStallTimeoutMs: bad }),
      ).toThrow(/writeStallTimeoutMs/)
    }
    expect(
      () => new MeshGateway({ datacenter: 'dc1', servers: {}, writeStallTimeoutMs: 0 }),
    ).not.toThrow()
  })
})
