/**
 * A far-side process for the network benchmarks, driven over IPC (see ipc.ts): dc2's mesh gateway,
 * dc2's ALPN server with a WanfedTransport attached that counts the packets it receives, and a UDP
 * sink (a NetTransport) for same-DC packets. Keeping these here means the benchmark's own process
 * only does the sending (or holds the connections being measured).
 */

import { AlpnServer } from '../../src/alpn/server.ts'
import type { TlsCredentials } from '../../src/alpn/tls-options.ts'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import type { Packet } from '../../src/transport/types.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { epochMs, serve } from './ipc.ts'

let gateway: MeshGateway | undefined
let server: AlpnServer | undefined
let receiver: WanfedTransport | undefined
let sink: NetTransport | undefined

let count = 0
let bytes = 0
let lastAt = 0
let waiter: { target: number; done: () => void } | undefined

function onPacket(p: Packet): void {
  count++
  bytes += p.buf.length
  lastAt = epochMs()
  if (waiter !== undefined && count >= waiter.target) waiter.done()
}

function snapshot() {
  return { count, bytes, lastAt }
}

serve({
  async receiver(args: { tls: TlsCredentials }) {
    // All tunnelled connections come from the gateway's address: no per-client cap.
    server = new AlpnServer({ tls: args.tls, maxConnsPerClient: 0, closeGraceMs: 200 })
    server.on('error', (err) => console.error('far-side server:', err))
    receiver = new WanfedTransport({
      transport: new MemoryNetwork().createTransport('far.dc2'),
      datacenter: 'dc2',
      locator: new StaticGatewayLocator({}),
      tls: args.tls,
    }).attach(server)
    receiver.on('packet', onPacket)
    receiver.on('error', (err) => console.error('far-side receiver:', err))
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    await receiver.listen()
    return { address: `127.0.0.1:${port}` }
  },

  async gateway(args: { datacenter: string; servers: Record<string, string> }) {
    gateway = new MeshGateway({
      datacenter: args.datacenter,
      servers: args.servers,
      closeGraceMs: 200,
    })
    gateway.on('error', (err) => console.error('far-side gateway:', err))
    const { port } = await gateway.listen({ host: '127.0.0.1', port: 0 })
    return { address: `127.0.0.1:${port}` }
  },

  async udpSink() {
    sink = new NetTransport({ bindAddrs: ['127.0.0.1'] })
    sink.on('packet', onPacket)
    await sink.listen()
    return { address: `127.0.0.1:${sink.getAutoBindPort()}` }
  },

  reset() {
    count = 0
    bytes = 0
    lastAt = 0
    return null
  },

  /** Resolves once `target` packets have arrived since the last reset, or after `timeoutMs`. */
  await(args: { target: number; timeoutMs: number }) {
    if (count >= args.target) return snapshot()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        waiter = undefined
        resolve(snapshot())
      }
      const timer = setTimeout(done, args.timeoutMs)
      waiter = { target: args.target, done }
    })
  },

  /** This process's CPU time so far (user + system), µs: what the hop costs per byte. */
  cpu() {
    const { user, system } = process.cpuUsage()
    return { us: user + system }
  },

  stats() {
    return {
      gateway: gateway?.stats(),
      server: server?.stats(),
      receiver: receiver?.stats(),
      sink: sink?.stats(),
    }
  },

  async close() {
    await receiver?.close()
    await server?.close()
    await gateway?.close()
    await sink?.close()
  },
})
