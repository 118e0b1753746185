/**
 * Two datacenters on loopback, one node and one mesh gateway each, gossiping across the DC
 * boundary the way Consul servers do: packets as length-prefixed frames over a pooled mutual-TLS
 * connection, streams as one TLS connection each, both routed by SNI `<node>.server.<dc>.consul`.
 * Every cross-DC byte takes two hops, as in Consul: the sender's own gateway, then the
 * destination DC's gateway, which hands it to the node's ALPN server. Neither gateway decrypts.
 *
 * Certificates are made in memory at start.
 *
 * Run: `npm run example -- cross-dc`
 */
import { AlpnServer } from 'wanfed/alpn'
import { createCertificateAuthority, createServerCertificate } from 'wanfed/certs'
import { MeshGateway } from 'wanfed/gateway'
import { StaticGatewayLocator } from 'wanfed/locator'
import { NetTransport, type Packet, WanfedTransport } from 'wanfed/transport'

/**
 * The address memberlist would pass for betty. Cross-DC sends route by node name and never use it;
 * it is a loopback one all the same, so that no bug could send real traffic off this machine.
 */
const FAR_ADDR = '127.0.0.1:9'

interface Node {
  name: string
  transport: WanfedTransport
  server: AlpnServer
  locator: StaticGatewayLocator
  serverAddr: string
  /** This DC's mesh gateway and the locator it uses for other DCs. */
  gateway: MeshGateway
  gatewayLocator: StaticGatewayLocator
  gatewayAddr: string
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const ca = await createCertificateAuthority()
  // Everything opened is closed on the way out, whether the run succeeds or fails half-way, in
  // the order traffic flows: every transport, then every ALPN server, then every gateway. A
  // gateway closed while another DC's transport still holds a pooled connection through it
  // would have to end that connection itself.
  const opened = {
    transports: [] as WanfedTransport[],
    servers: [] as AlpnServer[],
    gateways: [] as MeshGateway[],
  }

  async function node(short: string, datacenter: string): Promise<Node> {
    const cert = await createServerCertificate(ca, { datacenter, node: short })
    const tls = { ca: ca.cert, ...cert }
    const server = new AlpnServer({ tls })
    opened.servers.push(server)
    const locator = new StaticGatewayLocator({})
    const transport = new WanfedTransport({
      transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
      datacenter,
      locator,
      tls,
    }).attach(server)
    opened.transports.push(transport)
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    await transport.listen()
    const gatewayLocator = new StaticGatewayLocator({})
    const gateway = new MeshGateway({
      datacenter,
      servers: { [short]: `127.0.0.1:${port}` },
      locator: gatewayLocator,
    })
    opened.gateways.push(gateway)
    const gw = await gateway.listen({ host: '127.0.0.1', port: 0 })
    return {
      name: `${short}.${datacenter}`,
      transport,
      server,
      locator,
      serverAddr: `127.0.0.1:${port}`,
      gateway,
      gatewayLocator,
      gatewayAddr: `127.0.0.1:${gw.port}`,
    }
  }

  try {
    await run(await node('bob', 'dc1'), await node('betty', 'dc2'), log)
  } finally {
    for (const tier of [opened.transports, opened.servers, opened.gateways]) {
      await Promise.all(tier.map((resource) => resource.close()))
    }
  }
  log('closed cleanly')
}

async function run(bob: Node, betty: Node, log: (line: string) => void): Promise<void> {
  // Each node sends cross-DC traffic to its own DC's gateway; each gateway knows the other DC's.
  bob.locator.setGateways('dc2', [bob.gatewayAddr])
  betty.locator.setGateways('dc1', [betty.gatewayAddr])
  bob.gatewayLocator.setGateways('dc2', [betty.gatewayAddr])
  betty.gatewayLocator.setGateways('dc1', [bob.gatewayAddr])
  log(`dc1: bob's ALPN server ${bob.serverAddr}, gateway ${bob.gatewayAddr}`)
  log(`dc2: betty's ALPN server ${betty.serverAddr}, gateway ${betty.gatewayAddr}`)

  // Packets: bob pings betty across the DC boundary; betty answers by node name, as memberlist
  // does with the ping's SourceNode (the packet's `from` is the TLS peer, not bob's address).
  const pong = new Promise<Packet>((resolve) => bob.transport.once('packet', resolve))
  betty.transport.on('packet', (p) => {
    log(`betty got ${JSON.stringify(p.buf.toString())} from ${p.from}`)
    void betty.transport.writeToAddress(Buffer.from('ack'), {
      name: 'bob.dc1',
      addr: bob.serverAddr,
    })
  })
  for (let i = 0; i < 3; i++) {
    await bob.transport.writeToAddress(Buffer.from(`ping ${i}`), {
      name: 'betty.dc2',
      addr: FAR_ADDR,
    })
  }
  log(`bob got ${JSON.stringify((await pong).buf.toString())}`)

  // A stream: a push/pull exchange, request then reply on one TLS connection.
  betty.transport.on('stream', (stream) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () =>
      stream.end(`state of dc2 (you sent ${Buffer.concat(chunks).length} bytes)`),
    )
  })
  const stream = await bob.transport.dialAddressTimeout(
    { name: 'betty.dc2', addr: FAR_ADDR },
    5_000,
  )
  stream.end(Buffer.alloc(64 * 1024, 1))
  const reply: Buffer[] = []
  for await (const chunk of stream) reply.push(chunk as Buffer)
  log(`bob's push/pull got ${JSON.stringify(Buffer.concat(reply).toString())}`)

  const stats = bob.transport.stats()
  log(
    `bob: ${stats.packets.sent} packets sent over ${stats.pool.dials} pooled connection(s), ` +
      `${stats.streams.dialed} stream(s) dialled`,
  )
  const routes = bob.gateway.stats().routes
  log(
    `dc1 gateway: ${routes['remote-dc'].connections} connection(s) to dc2, ` +
      `${routes['local-server'].connections} to local servers`,
  )
}
