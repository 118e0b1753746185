/**
 * HAProxy and nginx as dc2's mesh gateway. wanfed renders their config from the same route table
 * its own `MeshGateway` uses (`renderHaproxyConfig`, `renderNginxConfig`, or
 * `wanfed gateway --render haproxy|nginx` from a gateway config file: haproxy.cfg and nginx.conf
 * here are examples/gateway.json rendered). Each proxy routes TLS on its SNI without terminating
 * it (HAProxy `req.ssl_sni`, nginx `ssl_preread`), so the federation's mutual TLS stays end to end.
 *
 * alice (dc1) sends bob (dc2) a packet and a stream through dc1's `MeshGateway` then the proxy:
 * two hops, our gateway and theirs, as in a mixed deployment. A proxy that is not installed is
 * skipped with the reason.
 *
 * Run: `npm run example -- proxy-gateways`
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type CertificateAuthority,
  createCertificateAuthority,
  MeshGateway,
  type Packet,
  renderHaproxyConfig,
  renderNginxConfig,
  routeTable,
  StaticGatewayLocator,
} from 'wanfed'
import { freePorts } from '../lib/ports.ts'
import { type Child, Children, hasCommand } from '../lib/processes.ts'
import { startWanNode, type WanNode } from '../lib/wan-node.ts'

export type ProxyKind = 'haproxy' | 'nginx'

const PROXIES: Record<ProxyKind, { version: string[]; install: string }> = {
  haproxy: { version: ['-v'], install: 'apt-get install haproxy' },
  nginx: { version: ['-v'], install: 'apt-get install nginx-light libnginx-mod-stream' },
}
/** What memberlist would give for bob; cross-DC sends route by name, so it is never dialled. */
const BOB = { name: 'bob.dc2', addr: '127.0.0.1:9' }

/** The proxy's command line and config file, for a gateway of `bob` listening on `bind`. */
function proxyCommand(kind: ProxyKind, dir: string, bind: string, bob: string) {
  const table = routeTable({ datacenter: 'dc2', servers: { bob } })
  if (kind === 'haproxy') {
    const file = join(dir, 'haproxy.cfg')
    return { file, config: renderHaproxyConfig(table, { bind }), args: ['-db', '-f', file] }
  }
  const file = join(dir, 'nginx.conf')
  const config = renderNginxConfig(table, { bind, pidFile: join(dir, 'nginx.pid') })
  return { file, config, args: ['-p', dir, '-e', 'stderr', '-c', file] }
}

/** `promise`, or a rejection naming `what` after `ms`: the example fails rather than hangs. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `port` accepts; rejects if `child` exits first or it takes too long. */
async function listening(port: number, child: Child): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (!child.running) throw new Error(`${child.label} exited: ${child.lines.join('\n')}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${child.label} did not listen on ${port}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function through(
  kind: ProxyKind,
  ca: CertificateAuthority,
  log: (line: string) => void,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `wanfed-${kind}-`))
  const children = new Children(dir, (line) => log(line))
  const nodes: WanNode[] = []
  const dc1Locator = new StaticGatewayLocator({})
  const dc1 = new MeshGateway({ datacenter: 'dc1', servers: {}, locator: dc1Locator })
  try {
    const bob = await startWanNode(ca, 'bob', 'dc2', new StaticGatewayLocator({}))
    nodes.push(bob)
    const [port] = (await freePorts(1)) as [number]
    const { file, config, args } = proxyCommand(kind, dir, `127.0.0.1:${port}`, bob.serverAddr)
    await writeFile(file, config)
    log(`${kind}: config rendered for dc2 (${config.split('\n').length} lines), routes:`)
    for (const line of config.split('\n').filter((l) => /use_backend|\.consul wanfed_/.test(l))) {
      log(`  ${line.trim()}`)
    }
    log(`$ ${kind} ${args.join(' ')}`)
    const proxy = children.start(kind, kind, args)
    await listening(port, proxy)

    const { port: dc1Port } = await dc1.listen({ host: '127.0.0.1', port: 0 })
    dc1Locator.setGateways('dc2', [`127.0.0.1:${port}`])
    const alice = await startWanNode(
      ca,
      'alice',
      'dc1',
      new StaticGatewayLocator({ dc2: [`127.0.0.1:${dc1Port}`] }),
    )
    nodes.push(alice)

    const got = new Promise<Packet>((resolve) => bob.transport.once('packet', resolve))
    bob.transport.on('stream', (stream) => stream.pipe(stream))
    await alice.transport.writeToAddress(Buffer.from(`a packet through ${kind}`), BOB)
    log(`bob got ${JSON.stringify((await within(got, 10_000, `bob's packet`)).buf.toString())}`)
    const stream = await alice.transport.dialAddressTimeout(BOB, 10_000)
    stream.end(`a stream through ${kind}`)
    let echoed = ''
    for await (const chunk of stream) echoed += chunk
    log(`alice's stream came back: ${JSON.stringify(echoed)}`)
    const remote = dc1.stats().routes['remote-dc'].connections
    log(`dc1's MeshGateway sent ${remote} connection(s) to dc2's ${kind}`)
    if (remote === 0) throw new Error(`nothing went through ${kind}`)
  } finally {
    for (const n of nodes.reverse()) await n.close()
    await dc1.close()
    await Promise.all(children.all.map((c) => c.stop('SIGTERM', 5_000)))
    await rm(dir, { recursive: true, force: true })
  }
}

export async function main(
  log: (line: string) => void = console.log,
  kinds: readonly ProxyKind[] = ['haproxy', 'nginx'],
): Promise<void> {
  const ca = await createCertificateAuthority()
  for (const kind of kinds) {
    const { version, install } = PROXIES[kind]
    if (!hasCommand(kind, version)) {
      log(`${kind} is not installed (${install}): skipped`)
      continue
    }
    await through(kind, ca, log)
  }
  log('closed cleanly')
}
