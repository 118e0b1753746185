import { describe, expect, it } from 'vitest'
import { AlpnServer } from '../../src/alpn/index.ts'
import type { TlsCredentials } from '../../src/alpn/tls-options.ts'
import { createCertificateAuthority, createServerCertificate } from '../../src/certs/index.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { mib } from '../helpers/memory.ts'
import { until } from '../helpers/net.ts'
import { percentiles } from '../helpers/slow-clients.ts'
import { nodeContext } from '../helpers/wanfed-node.ts'

// One node of dc1 sending to 1,000 remote nodes in 10 DCs (n0.dc2 ... n99.dc11), all on loopback:
// each DC has a MeshGateway whose registry maps its 100 node names onto 2 AlpnServers (a wildcard
// certificate per DC, so one server answers for every node's SNI). The pool opens one connection
// per node through that DC's gateway, then reuses them. Figures: time to first packet per node,
// time to open all 1,000, memory per connection (the whole path, both TLS ends and the gateway's
// splice, since everything is in this process), and the pooled round after.

const ctx = nodeContext()
const DCS = Array.from({ length: 10 }, (_, i) => `dc${i + 2}`)
const PER_DC = 100
const SERVERS_PER_DC = 2
const CONCURRENCY = 50
const NODES = DCS.length * PER_DC

interface Dc {
  name: string
  gateway: string
}

describe(`${NODES} remote nodes in ${DCS.length} DCs from one node`, () => {
  it('pooled connections, one per node, opened through each DC gateway and then reused', async () => {
    const ca = await createCertificateAuthority()
    const arrived = new Map<string, number>()
    const closers: (() => Promise<void>)[] = []
    const dcs: Dc[] = []
    for (const dc of DCS) {
      const cert = await createServerCertificate(ca, {
        datacenter: dc,
        additionalDnsNames: [`*.server.${dc}.consul`],
      })
      const tls: TlsCredentials = { ca: ca.cert, cert: cert.cert, key: cert.key }
      const addrs: string[] = []
      for (let k = 0; k < SERVERS_PER_DC; k++) {
        const server = new AlpnServer({
          tls,
          maxConnsPerClient: 0,
          closeGraceMs: 200,
          clock: ctx.clock,
        })
        const receiver = new WanfedTransport({
          transport: ctx.network.createTransport(`srv${k}.${dc}`),
          datacenter: dc,
          locator: new StaticGatewayLocator({}),
          tls,
          clock: ctx.clock,
        }).attach(server)
        receiver.on('packet', (p) => arrived.set(p.buf.toString(), performance.now()))
        const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
        await receiver.listen()
        addrs.push(`127.0.0.1:${port}`)
        closers.push(async () => {
          await receiver.close()
          await server.close()
        })
      }
      const gateway = new MeshGateway({
        datacenter: dc,
        // n0..n99 spread over the DC's servers, as a registry of many nodes on few hosts would.
        servers: (node) => {
          const n = /^n(\d+)$/.exec(node)
          return n === null ? undefined : addrs[Number(n[1]) % SERVERS_PER_DC]
        },
        closeGraceMs: 200,
        clock: ctx.clock,
      })
      const { port } = await gateway.listen({ host: '127.0.0.1', port: 0 })
      closers.push(() => gateway.close())
      dcs.push({ name: dc, gateway: `127.0.0.1:${port}` })
    }
    const own = await createServerCertificate(ca, { datacenter: 'dc1', node: 'bob' })
    const sender = new WanfedTransport({
      transport: ctx.network.createTransport('bob.dc1'),
      datacenter: 'dc1',
      locator: new StaticGatewayLocator(Object.fromEntries(dcs.map((d) => [d.name, [d.gateway]])), {
        clock: ctx.clock,
      }),
      tls: { ca: ca.cert, cert: own.cert, key: own.key },
      clock: ctx.clock,
    })
    await sender.listen()
    // Closed in this order: the sender, then the receivers and gateways (the cleanups run last first).
    ctx.cleanups.push(async () => {
      for (const close of closers.reverse()) await close()
    })
    ctx.cleanups.push(() => sender.close())

    const names = dcs.flatMap((d) => Array.from({ length: PER_DC }, (_, i) => `n${i}.${d.name}`))
    /** Sends one packet to every node, CONCURRENCY at a time; ms from each send to its arrival. */
    const round = async (tag: string): Promise<number[]> => {
      arrived.clear()
      const latencies: number[] = []
      for (let i = 0; i < names.length; i += CONCURRENCY) {
        const batch = names.slice(i, i + CONCURRENCY)
        const sentAt = new Map<string, number>()
        await Promise.all(
          batch.map((name) => {
            sentAt.set(`${tag}:${name}`, performance.now())
            return sender.writeToAddress(Buffer.from(`${tag}:${name}`), { name, addr: '' })
          }),
        )
        await until(
          () => batch.every((name) => arrived.has(`${tag}:${name}`)),
          'every packet of the batch to arrive',
          30_000,
        )
        for (const [key, at] of sentAt) latencies.push((arrived.get(key) as number) - at)
      }
      return latencies
    }

    const before = process.memoryUsage()
    const start = performance.now()
    const first = await round('first')
    const openMs = performance.now() - start
    const after = process.memoryUsage()
    const pool = sender.stats().pool
    expect(pool.open).toBe(NODES)
    expect(pool.nodes).toBe(NODES)
    expect(pool.dials).toBe(NODES)
    expect(pool.dialFailures).toBe(0)
    expect(sender.stats().packets).toMatchObject({ sent: NODES, sendDropped: 0, sendErrors: 0 })

    const second = await round('second')
    // Reused: no new dial, every packet delivered again.
    expect(sender.stats().pool.dials).toBe(NODES)
    expect(sender.stats().packets.sent).toBe(2 * NODES)

    const f = (n: number) => n.toFixed(1)
    const p1 = percentiles(first)
    const p2 = percentiles(second)
    console.log(
      `[load-many-nodes] ${NODES} nodes in ${DCS.length} DCs, ${CONCURRENCY} at a time: all open in ${(openMs / 1000).toFixed(1)} s; ` +
        `time to first packet median ${f(p1.median)} ms, p99 ${f(p1.p99)} ms, max ${f(Math.max(...first))} ms; ` +
        `pooled round: median ${f(p2.median)} ms, p99 ${f(p2.p99)} ms`,
    )
    console.log(
      `[load-many-nodes] memory per connection, whole path in one process (sender's and server's TLS ends, gateway splice; no forced GC): ` +
        `RSS ${f((after.rss - before.rss) / NODES / 1024)} KiB, heap ${f((after.heapUsed - before.heapUsed) / NODES / 1024)} KiB; ` +
        `total RSS growth ${mib(after.rss - before.rss)} MiB`,
    )
  }, 180_000)
})
