/**
 * Two datacenters on loopback, one node each, gossiping across the DC boundary the way Consul
 * servers do through mesh gateways: packets as length-prefixed frames over a pooled mutual-TLS
 * connection, streams as one TLS connection each, both routed by SNI `<node>.server.<dc>.consul`.
 *
 * Certificates are made in memory at start. Each node's ALPN server port is what a gateway would
 * splice its traffic to; here the locator points straight at it.
 *
 * Run: `npm run example -- cross-dc`
 */
import { AlpnServer } from '../src/alpn/index.ts'
import { createCertificateAuthority, createServerCertificate } from '../src/certs/index.ts'
import { StaticGatewayLocator } from '../src/locator/index.ts'
import { NetTransport, type Packet, WanfedTransport } from '../src/transport/index.ts'

interface Node {
  name: string
  transport: WanfedTransport
  server: AlpnServer
  locator: StaticGatewayLocator
  serverAddr: string
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const ca = await createCertificateAuthority()

  async function node(short: string, datacenter: string): Promise<Node> {
    const cert = await createServerCertificate(ca, { datacenter, node: short })
    const tls = { ca: ca.cert, ...cert }
    const server = new AlpnServer({ tls })
    const locator = new StaticGatewayLocator({})
    const transport = new WanfedTransport({
      transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
      datacenter,
      locator,
      tls,
    }).attach(server)
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    await transport.listen()
    return {
      name: `${short}.${datacenter}`,
      transport,
      server,
      locator,
      serverAddr: `127.0.0.1:${port}`,
    }
  }

  const bob = await node('bob', 'dc1')
  const betty = await node('betty', 'dc2')
  bob.locator.setGateways('dc2', [betty.serverAddr])
  betty.locator.setGateways('dc1', [bob.serverAddr])
  log(`bob.dc1 listens on ${bob.serverAddr}, betty.dc2 on ${betty.serverAddr}`)

  try {
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
        addr: '192.0.2.2:8302',
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
      { name: 'betty.dc2', addr: '192.0.2.2:8302' },
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
  } finally {
    await Promise.all([bob.transport.close(), betty.transport.close()])
    await Promise.all([bob.server.close(), betty.server.close()])
  }
  log('closed cleanly')
}
