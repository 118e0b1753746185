/**
 * Three datacenters the way they are deployed: separate processes, configured by files, talking
 * over real sockets (here all on loopback).
 *
 * - `wanfed cert create` makes the CA, a server certificate per node (SAN
 *   `<node>.server.<dc>.consul`) and a client certificate per gateway, into a temp dir.
 * - One `wanfed gateway` process per DC, from a JSON config that names only its own DC's server.
 *   With `--primary-datacenter` they route other DCs by federation states: dc1's reads them from
 *   its local server, dc2's and dc3's replicate them from dc1 through `--primary-gateway`.
 * - One node process per DC (node.ts, a user's program: memberlist over WanfedTransport over
 *   NetTransport, an AlpnServer, a FederationControlPlane), from a JSON config naming its DC's
 *   gateway and, in a secondary, the primary's gateway. Each node publishes its DC's gateway; the
 *   primary gathers them and every DC replicates them, so dc2 and dc3 find each other with no
 *   config naming the other.
 *
 * Then betty (dc2) and carol (dc3) join alice (dc1) in one WAN gossip pool, every node greets
 * every other across the DC boundary (a stream and a packet, two gateway hops each), carol leaves
 * gracefully and the others see it, and everything stops: every process exits 0 on SIGTERM.
 *
 * Run: `npm run example -- two-process`
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson } from '../lib/admin-client.ts'
import { freePorts } from '../lib/ports.ts'
import { type Child, Children, describe, type Exit, runToEnd } from '../lib/processes.ts'
import type { NodeConfig } from './node-config.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const WANFED = join(REPO, 'bin', 'wanfed.js')
const NODE_SCRIPT = fileURLToPath(new URL('./node.ts', import.meta.url))

const PRIMARY = 'dc1'
const DATACENTERS = [
  { datacenter: 'dc1', node: 'alice' },
  { datacenter: 'dc2', node: 'betty' },
  { datacenter: 'dc3', node: 'carol' },
] as const

/** Generous: on a loaded machine a node process takes seconds to start (tsx compiles it first). */
const STEP_TIMEOUT_MS = 90_000

interface Site {
  datacenter: string
  node: string
  name: string
  gateway: string
  alpn: string
  gossip: string
}

function expectClean(child: Child, exit: Exit): void {
  if (exit.code !== 0) throw new Error(`${child.label} ended with ${describe(exit)}`)
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wanfed-two-process-'))
  const children = new Children(dir, log)
  try {
    await run(dir, children, log)
  } finally {
    // Whatever happened: no process outlives the run, and neither does the temp dir.
    await children.killAll()
    await rm(dir, { recursive: true, force: true })
  }
  log('closed cleanly')
}

async function run(dir: string, children: Children, log: (line: string) => void): Promise<void> {
  const wanfed = async (args: string[]) => {
    log(`$ wanfed ${args.join(' ')}`)
    const child = children.start('wanfed', process.execPath, [WANFED, ...args])
    await runToEnd(child)
  }

  log(`== certificates, in ${dir}`)
  await wanfed(['cert', 'create', '--ca'])
  const ca = ['--ca-file', 'consul-agent-ca.pem', '--key-file', 'consul-agent-ca-key.pem']
  for (const { datacenter, node } of DATACENTERS) {
    await mkdir(join(dir, node))
    await mkdir(join(dir, `gateway-${datacenter}`))
    await wanfed([
      'cert',
      'create',
      '--server',
      '--dc',
      datacenter,
      '--node',
      node,
      '--dir',
      node,
      ...ca,
    ])
    await wanfed([
      'cert',
      'create',
      '--client',
      '--dc',
      datacenter,
      '--dir',
      `gateway-${datacenter}`,
      ...ca,
    ])
  }

  const ports = await freePorts(DATACENTERS.length * 3)
  const at = (i: number) => `127.0.0.1:${ports[i]}`
  const sites: Site[] = DATACENTERS.map(({ datacenter, node }, i) => ({
    datacenter,
    node,
    name: `${node}.${datacenter}`,
    gateway: at(3 * i),
    alpn: at(3 * i + 1),
    gossip: at(3 * i + 2),
  }))
  const primary = sites[0] as Site

  const gatewayAt = (site: Site) => `gateway-${site.datacenter}`
  const admins = new Map<Site, string>()
  const startGateway = async (site: Site): Promise<Child> => {
    const folder = gatewayAt(site)
    await writeJson(join(dir, folder, 'gateway.json'), {
      datacenter: site.datacenter,
      listen: site.gateway,
      servers: { [site.node]: site.alpn },
      statusIntervalMs: 0,
      closeGraceMs: 2_000,
    })
    const args = [
      'gateway',
      '--config',
      `${folder}/gateway.json`,
      '--admin',
      '127.0.0.1:0',
      '--primary-datacenter',
      PRIMARY,
      ...(site === primary ? [] : ['--primary-gateway', primary.gateway]),
      '--ca-file',
      'consul-agent-ca.pem',
      '--cert-file',
      `${folder}/${site.datacenter}-client-consul-0.pem`,
      '--key-file',
      `${folder}/${site.datacenter}-client-consul-0-key.pem`,
    ]
    log(`$ wanfed ${args.join(' ')}`)
    const child = children.start(folder, process.execPath, [WANFED, ...args])
    log(`started ${folder} (pid ${child.pid})`)
    const [, admin] = await child.waitFor(
      /^admin endpoint listening on (http:\S+)$/,
      'its admin endpoint',
      STEP_TIMEOUT_MS,
    )
    admins.set(site, admin as string)
    await child.waitFor(/^gateway \S+ listening on /, 'its startup line', STEP_TIMEOUT_MS)
    return child
  }
  const startNode = async (site: Site): Promise<Child> => {
    const config: NodeConfig = {
      name: site.node,
      datacenter: site.datacenter,
      primaryDatacenter: PRIMARY,
      gossip: site.gossip,
      alpn: site.alpn,
      tls: {
        ca: '../consul-agent-ca.pem',
        cert: `${site.datacenter}-server-consul-0.pem`,
        key: `${site.datacenter}-server-consul-0-key.pem`,
      },
      gateways: [site.gateway],
      primaryGateways: site === primary ? [] : [primary.gateway],
      join: site === primary ? [] : [`${primary.name}/${primary.gossip}`],
    }
    const path = join(dir, site.node, 'node.json')
    await writeJson(path, config)
    log(`$ node --import tsx examples/two-process/node.ts ${site.node}/node.json`)
    // From the repository root, where tsx finds tsconfig.json's mapping of 'wanfed' to src/.
    const child = children.start(
      site.name,
      process.execPath,
      ['--import', 'tsx', NODE_SCRIPT, path],
      { cwd: REPO },
    )
    log(`started ${site.name} (pid ${child.pid})`)
    await child.waitFor(/^ready: /, 'its ready line', STEP_TIMEOUT_MS)
    return child
  }

  // In the order a federation is brought up: the primary DC's server (it holds the authoritative
  // federation states) and its gateway, then each secondary's gateway and server. Each piece
  // would also come up in any other order, only later: what failed is retried with a backoff.
  const started = Date.now()
  log(`== ${PRIMARY}, the primary: its node, then its gateway`)
  const nodes: Child[] = [await startNode(primary)]
  const gateways: Child[] = [await startGateway(primary)]
  const secondaries = sites.filter((site) => site !== primary)
  log('== the secondaries: their gateways, then their nodes, which join alice.dc1')
  gateways.push(...(await Promise.all(secondaries.map(startGateway))))
  nodes.push(...(await Promise.all(secondaries.map(startNode))))

  // Every node greets every other one, and hears from each, over streams through two gateways.
  await Promise.all(
    nodes.flatMap((child, i) => [
      child.waitForAll(/^greeted /, sites.length - 1, 'greeting the others', STEP_TIMEOUT_MS),
      ...sites
        .filter((_, j) => j !== i)
        .map((from) =>
          child.waitFor(
            new RegExp(`^got "hello from ${from.name.replace('.', '\\.')} over a stream"$`),
            `the greeting of ${from.name}`,
            STEP_TIMEOUT_MS,
          ),
        ),
    ]),
  )
  log(
    `== federated: every node greeted every other across DCs, ${((Date.now() - started) / 1000).toFixed(1)} s after the nodes started`,
  )

  // What dc3's gateway learned, though its config names no other DC.
  const last = sites.at(-1) as Site
  const states = (await getJson(`${admins.get(last)}/v1/internal/federation-states`)) as {
    Datacenter: string
    MeshGateways: { Service: { Address: string; Port: number } }[]
  }[]
  for (const s of states) {
    const addrs = s.MeshGateways.map((g) => `${g.Service.Address}:${g.Service.Port}`).join(', ')
    log(
      `${last.datacenter}'s gateway knows ${s.Datacenter}'s gateways from federation states: ${addrs}`,
    )
  }
  for (const site of sites) {
    const status = (await getJson(`${admins.get(site)}/v1/status`)) as {
      gateways: Record<string, { routes: Record<string, { connections: number }> }>
    }
    const routes = status.gateways[site.datacenter]?.routes ?? {}
    log(
      `${site.datacenter}'s gateway: ${routes['remote-dc']?.connections ?? 0} connection(s) to other DCs, ` +
        `${(routes['local-server']?.connections ?? 0) + (routes['local-any']?.connections ?? 0)} to its server`,
    )
  }

  log(`== ${last.name} leaves the pool; the others see it leave`)
  const carol = nodes.at(-1) as Child
  expectClean(carol, await carol.stop())
  await Promise.all(
    nodes
      .slice(0, -1)
      .map((child) =>
        child.waitFor(
          new RegExp(`^member left: ${last.name.replace('.', '\\.')} \\(left\\)$`),
          `${last.name} leaving`,
          STEP_TIMEOUT_MS,
        ),
      ),
  )

  log(
    '== stopping: SIGTERM to each node in turn (each leaves while a peer can hear it), then the gateways',
  )
  for (const child of nodes.slice(0, -1).reverse()) expectClean(child, await child.stop())
  await Promise.all(gateways.map(async (child) => expectClean(child, await child.stop())))
  for (const child of [...nodes, ...gateways]) log(`${child.label} (pid ${child.pid}) exited 0`)
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`)
}
