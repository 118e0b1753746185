/**
 * One node of a federation, as your own program would run it: `wanfed/memberlist` over a
 * `NetTransport` (same-DC traffic) wrapped in a `WanfedTransport` (cross-DC traffic, through the
 * mesh gateways), an `AlpnServer` where the gateways deliver, and a `FederationControlPlane` whose
 * locator learns every DC's gateways from federation states. Everything comes from one JSON file
 * (see node-config.ts) and the PEM files `wanfed cert create` wrote.
 *
 * The app on top is small: it greets each member that joins, once over a stream and once in a
 * packet, and prints what it gets. SIGTERM or SIGINT leaves the pool gracefully and closes
 * everything; the process then exits on its own, with nothing left open.
 *
 * Run: `node --import tsx examples/two-process/node.ts <config.json>` (from the repository root;
 * `run.ts` starts three of these).
 */
import {
  AlpnServer,
  DefaultWANConfig,
  FederationControlPlane,
  META_WAN_FEDERATION_KEY,
  META_WAN_FEDERATION_VALUE,
  Memberlist,
  type MeshGatewayInput,
  NetTransport,
  splitNodeName,
  WanfedTransport,
} from 'wanfed'
import { type LoadedNodeConfig, loadNodeConfig } from './node-config.ts'

/** How long a greeting or a join is retried while routes are still being learned. */
const RETRY_FOR_MS = 60_000
const RETRY_EVERY_MS = 500

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':')
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }
}

/** This DC's gateways as anti-entropy publishes them (Consul reads them from its catalog). */
function gatewayEntries(config: LoadedNodeConfig): MeshGatewayInput[] {
  return config.gateways.map((address, i) => {
    const { host, port } = hostPort(address)
    return {
      node: { node: `${config.datacenter}-gateway-${i}`, address: host },
      service: {
        kind: 'mesh-gateway',
        service: 'mesh-gateway',
        address: host,
        port,
        // A gateway's WAN address is where other DCs reach it; on one host both are loopback.
        taggedAddresses: { lan: { address: host, port }, wan: { address: host, port } },
        meta: { [META_WAN_FEDERATION_KEY]: META_WAN_FEDERATION_VALUE },
      },
    }
  })
}

async function retry<T>(what: () => Promise<T>, stopping: AbortSignal): Promise<T> {
  const deadline = Date.now() + RETRY_FOR_MS
  for (;;) {
    try {
      return await what()
    } catch (err) {
      if (stopping.aborted || Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, RETRY_EVERY_MS))
    }
  }
}

async function run(configPath: string): Promise<void> {
  const config = await loadNodeConfig(configPath)
  const name = `${config.name}.${config.datacenter}`
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }
  const tls = config.credentials
  const alpn = new AlpnServer({ tls, unlimitedAddresses: [hostPort(config.alpn).host] })
  // Listening from the start: a signal during start-up stops the node cleanly too.
  const stopping = new AbortController()
  const stopped = new Promise<string>((resolve) => {
    const stop = (signal: string) => {
      stopping.abort()
      resolve(signal)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
  let plane: FederationControlPlane | undefined
  let transport: WanfedTransport | undefined
  let memberlist: Memberlist | undefined
  try {
    const isPrimary = config.datacenter === config.primaryDatacenter
    plane = await FederationControlPlane.start({
      datacenter: config.datacenter,
      primaryDatacenter: config.primaryDatacenter,
      tls,
      server: alpn,
      gateways: gatewayEntries(config),
      ...(isPrimary ? {} : { primaryGateways: config.primaryGateways }),
    })
    plane.locator.on('update', (d) => {
      say(
        `locator: primary ${d.primaryDatacenter} via [${d.primaryGateways.join(', ')}], local gateways [${d.localGateways.join(', ')}]`,
      )
    })
    const gossip = hostPort(config.gossip)
    transport = new WanfedTransport({
      transport: new NetTransport({ bindAddrs: [gossip.host], bindPort: gossip.port }),
      datacenter: config.datacenter,
      locator: plane.locator,
      tls,
    }).attach(alpn)
    transport.on('error', (err) => process.stderr.write(`transport error: ${err.message}\n`))
    await alpn.listen(hostPort(config.alpn))
    memberlist = await Memberlist.create({
      ...DefaultWANConfig(),
      name,
      transport,
      requireNodeNames: true,
      // As Consul's WAN pool: no stream-ping fallback to another DC.
      disableTcpPingsForNode: (peer) => splitNodeName(peer).datacenter !== config.datacenter,
      delegate: { notifyMsg: (msg) => say(`got "${Buffer.from(msg).toString()}"`) },
    })
    const ml = memberlist
    say(`ready: ${name} gossip ${config.gossip}, alpn ${config.alpn}, pid ${process.pid}`)

    const greetings: Promise<void>[] = []
    ml.on('join', (node) => {
      if (node.name === name) return
      say(`member joined: ${node.name} (${ml.numMembers} members)`)
      greetings.push(
        retry(async () => {
          await ml.sendReliable(node.name, Buffer.from(`hello from ${name} over a stream`))
          await ml.sendBestEffort(node.name, Buffer.from(`hello from ${name} in a packet`))
        }, stopping.signal).then(
          () => say(`greeted ${node.name}`),
          (err: Error) => {
            if (!stopping.signal.aborted) say(`could not greet ${node.name}: ${err.message}`)
          },
        ),
      )
    })
    ml.on('leave', (node) => say(`member left: ${node.name} (${node.state})`))
    if (config.join.length > 0) {
      // The first tries may come before the locator knows a route to the primary.
      const n = await retry(() => ml.join(config.join), stopping.signal).catch((err) => {
        if (!stopping.signal.aborted) throw err
        return 0
      })
      if (n > 0) say(`joined ${n} of ${config.join.join(', ')}`)
    }

    say(`${await stopped}: leaving`)
    await ml.leave(5_000).catch((err: Error) => say(`leave: ${err.message}`))
    await Promise.all(greetings)
    const s = transport.stats()
    say(
      `stats: ${s.packets.sent} cross-DC packets over ${s.pool.dials} pooled connection(s), ${s.streams.dialed} cross-DC stream(s); ${s.inner.packets.sent} same-DC packets`,
    )
  } finally {
    stopping.abort()
    // In the order traffic flows: memberlist and its transports, then the control plane that
    // serves on the ALPN server, then the server.
    // memberlist closes its transport; without one (it failed to start), close the transport here.
    await (memberlist ?? transport)?.close()
    await plane?.close()
    await alpn.close()
  }
  say('closed')
}

const configPath = process.argv[2]
if (configPath === undefined) {
  process.stderr.write('usage: node --import tsx examples/two-process/node.ts <config.json>\n')
  process.exitCode = 2
} else {
  // No process.exit: the process ends when nothing is left open, which is the proof it closed.
  await run(configPath).catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`)
    process.exitCode = 1
  })
}
