/**
 * The gateway hop's own cost, for comparing two checkouts: `npx tsx bench/compare/gateway-hop.ts
 * <checkout> [MiB] [--nodelay]` runs the MeshGateway of `<checkout>` (its src/) in a child process,
 * pushes MiB (default 256) of mutual TLS through it five times on fresh connections, and prints the
 * child's CPU time per MiB carried (median of the five). CPU per byte of the hop process does not
 * depend on how the two cores are shared with the client and the server, which is what moves the
 * throughput ratio of `npm run bench -- gateway` between runs. `--nodelay` turns Nagle off on the
 * client, as the gateway benchmark does (smaller reads at the hop).
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { connect, createSecureContext, createServer, type TLSSocket } from 'node:tls'
import { secureContextOptions } from '../../src/alpn/tls-options.ts'
import { MiB, makeCerts, median } from '../lib/fixtures.ts'

const args = process.argv.slice(2)
const checkout = resolve(args.find((a) => !a.startsWith('--')) ?? '.')
const mib = Number(args.filter((a) => !a.startsWith('--'))[1] ?? 256)
const noDelay = args.includes('--nodelay')
const ROUNDS = 5
const total = mib * MiB

const certs = await makeCerts()
let got = 0
let done: (() => void) | undefined
const server = createServer(
  {
    ...secureContextOptions(certs.dc2),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['sink'],
  },
  (s) => {
    s.on('error', () => {})
    s.on('data', (d: Buffer) => {
      got += d.length
      if (got >= total) done?.()
    })
  },
)
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const serverPort = (server.address() as { port: number }).port

// The child imports the checkout's MeshGateway and answers 'reset' / 'cpu' on stdin.
const childSource = `
const { MeshGateway } = await import(${JSON.stringify(`${checkout}/src/gateway/mesh-gateway.ts`)})
const gw = new MeshGateway({ datacenter: 'dc2', servers: { bench: '127.0.0.1:${serverPort}' }, closeGraceMs: 200 })
const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
let base = process.cpuUsage()
console.log('port ' + port)
process.stdin.on('data', (d) => {
  for (const cmd of d.toString().split('\\n')) {
    if (cmd === 'reset') { base = process.cpuUsage(); console.log('ok') }
    if (cmd === 'cpu') { const u = process.cpuUsage(base); console.log('cpu ' + (u.user + u.system)) }
    if (cmd === 'exit') gw.close().then(() => process.exit(0))
  }
})
`
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--input-type=module', '-e', childSource],
  {
    cwd: checkout,
    stdio: ['pipe', 'pipe', 'inherit'],
  },
)
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
const ask = async (cmd?: string) => {
  if (cmd !== undefined) child.stdin.write(`${cmd}\n`)
  return ((await lines.next()).value as string).split(' ')[1] as string
}
const gatewayPort = Number(await ask())
const context = createSecureContext(secureContextOptions(certs.dc1))
const chunk = Buffer.alloc(64 * 1024, 0x5a)
const perMiB: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const s: TLSSocket = connect({
    host: '127.0.0.1',
    port: gatewayPort,
    servername: 'bench.server.dc2.consul',
    ALPNProtocols: ['sink'],
    secureContext: context,
  })
  if (noDelay) s.setNoDelay(true)
  s.on('error', () => {})
  await once(s, 'secureConnect')
  await ask('reset')
  got = 0
  const received = new Promise<void>((res) => {
    done = res
  })
  const t0 = performance.now()
  for (let written = 0; written < total; written += chunk.length) {
    if (!s.write(chunk)) await once(s, 'drain')
  }
  await received
  const seconds = (performance.now() - t0) / 1000
  const cpu = Number(await ask('cpu'))
  perMiB.push(cpu / mib)
  console.log(
    `round ${r + 1}: hop CPU ${(cpu / mib).toFixed(0)} µs/MiB, ${(mib / seconds).toFixed(0)} MiB/s`,
  )
  s.destroy()
}
console.log(`${checkout}: hop CPU per MiB, median of ${ROUNDS}: ${median(perMiB).toFixed(0)} µs`)
child.stdin.write('exit\n')
await once(child, 'exit')
server.close()
