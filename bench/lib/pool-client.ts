/**
 * The measured side of bench/pool-memory.bench.ts, in a fresh process started with --expose-gc:
 * it opens packet connections through dc2's gateway (in another process) and reports its own
 * memory, after forcing GC, before and after.
 *
 * Modes: `wanfed` (one WanfedTransport, one packet to each node: its pool dials one connection per
 * node), `raw` (tls.connect with the same options dialViaGateway passes: ca/cert/key per connect),
 * `raw-shared` (tls.connect with one shared SecureContext).
 */

import { randomFillSync } from 'node:crypto'
import { once } from 'node:events'
import { setImmediate as tick } from 'node:timers/promises'
import { createSecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls'
import { encodeFrame } from '../../src/alpn/frame.ts'
import { ALPN_WAN_GOSSIP_PACKET } from '../../src/alpn/protocols.ts'
import { secureContextOptions, type TlsCredentials } from '../../src/alpn/tls-options.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { hostPort } from './fixtures.ts'
import { serve } from './ipc.ts'

type Mode = 'wanfed' | 'raw' | 'raw-shared'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('pool-client needs --expose-gc')

const payload = randomFillSync(Buffer.allocUnsafe(1400))
let mode: Mode = 'wanfed'
let gateway = ''
let tls: TlsCredentials
let transport: WanfedTransport | undefined
let shared: ReturnType<typeof createSecureContext> | undefined
const sockets: TLSSocket[] = []

async function rawOne(node: string): Promise<void> {
  const { host, port } = hostPort(gateway)
  const socket = tlsConnect({
    host,
    port,
    servername: `${node}.server.dc2.consul`,
    ALPNProtocols: [ALPN_WAN_GOSSIP_PACKET],
    ...(mode === 'raw-shared' ? { secureContext: shared } : secureContextOptions(tls)),
  })
  socket.setNoDelay(true)
  socket.setKeepAlive(true)
  socket.on('error', (err) => console.error('pool-client raw socket:', err.message))
  sockets.push(socket)
  await once(socket, 'secureConnect')
  socket.write(encodeFrame(payload))
}

async function openOne(node: string): Promise<void> {
  if (transport !== undefined) {
    await transport.writeToAddress(payload, { name: `${node}.dc2`, addr: '192.0.2.2:8302' })
  } else {
    await rawOne(node)
  }
}

async function measure() {
  for (let i = 0; i < 4; i++) {
    gc?.()
    await tick()
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

serve({
  async setup(args: { mode: Mode; gateway: string; tls: TlsCredentials }) {
    mode = args.mode
    gateway = args.gateway
    tls = args.tls
    if (mode === 'wanfed') {
      transport = new WanfedTransport({
        transport: new MemoryNetwork().createTransport('client.dc1'),
        datacenter: 'dc1',
        locator: new StaticGatewayLocator({ dc2: [gateway] }),
        tls,
        // Nothing may be reaped while the benchmark holds the connections.
        pool: { idleTimeoutMs: 600_000 },
      })
      transport.on('error', (err) => console.error('pool-client transport:', err.message))
      await transport.listen()
    } else if (mode === 'raw-shared') {
      shared = createSecureContext(secureContextOptions(tls))
    }
    // One connection first, so one-time costs (OpenSSL, JIT, the pool's maps) are not counted.
    await openOne('warm')
    return null
  },

  measure,

  /** Opens `count` connections, `concurrency` dials at a time, bounded by `timeMs`. */
  async open(args: { count: number; concurrency: number; timeMs: number }) {
    const stopAt = performance.now() + args.timeMs
    let next = 0
    let opened = 0
    const worker = async () => {
      while (next < args.count && performance.now() < stopAt) {
        const i = next++
        await openOne(`n${i}`)
        opened++
      }
    }
    const t0 = performance.now()
    await Promise.all(Array.from({ length: args.concurrency }, worker))
    return { opened, ms: performance.now() - t0 }
  },

  info() {
    if (transport !== undefined) {
      const s = transport.stats()
      return { pool: s.pool, packets: s.packets }
    }
    return {
      open: sockets.filter((s) => !s.destroyed).length,
      idle: sockets.filter((s) => !s.destroyed && s.writableLength === 0).length,
    }
  },

  async close() {
    await transport?.close()
    for (const s of sockets) s.destroy()
  },
})
