/**
 * A custom gateway locator: alice in dc1 finds dc2's mesh gateway through DNS, a SRV record
 * `_mesh-gateway._tcp.dc2.wanfed.test` served by a small DNS server on 127.0.0.1 (UDP, a real
 * socket). She sends bob a packet and a stream through the gateway it names; then the operator
 * moves dc2's gateway (a new one starts, the SRV record points at it, the old one stops), and her
 * next stream goes through the new gateway with no change to her code or config.
 *
 * Run: `npm run example -- dns-locator`
 */
import type { Duplex } from 'node:stream'
import { createCertificateAuthority, MeshGateway, type Packet } from 'wanfed'
import { startWanNode, type WanNode } from '../lib/wan-node.ts'
import { DnsGatewayLocator } from './dns-gateway-locator.ts'
import { startDnsServer } from './dns-server.ts'

const SRV_NAME = '_mesh-gateway._tcp.dc2.wanfed.test'
/** What memberlist would give for bob; cross-DC sends route by name, so it is never dialled. */
const BOB = { name: 'bob.dc2', addr: '127.0.0.1:9' }

async function echo(stream: Duplex, text: string): Promise<string> {
  stream.end(text)
  let got = ''
  for await (const chunk of stream) got += chunk
  return got
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const ca = await createCertificateAuthority()
  const dns = await startDnsServer()
  const gateways: MeshGateway[] = []
  const nodes: WanNode[] = []
  const locator = new DnsGatewayLocator({
    srvNames: { dc2: SRV_NAME },
    servers: [dns.address],
    onError: (dc, err) =>
      log(`DNS lookup for ${dc} failed, keeping its last gateways: ${err.message}`),
  })
  try {
    const bob = await startWanNode(ca, 'bob', 'dc2', { pickGateway: () => undefined })
    nodes.push(bob)
    bob.transport.on('stream', (stream) => stream.pipe(stream))
    const gateway = async (name: string) => {
      const gw = new MeshGateway({
        datacenter: 'dc2',
        servers: { bob: bob.serverAddr },
        closeGraceMs: 500,
      })
      gateways.push(gw)
      const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
      dns.set(`${name}.dc2.wanfed.test`, { a: ['127.0.0.1'] })
      return { gw, port, target: `${name}.dc2.wanfed.test` }
    }

    const a = await gateway('gw-a')
    dns.set(SRV_NAME, { srv: [{ priority: 10, weight: 1, port: a.port, target: a.target }] })
    log(`DNS on ${dns.address}: ${SRV_NAME} SRV ${a.target}:${a.port}`)
    await locator.start()
    log(`locator resolved dc2 to ${locator.pickGateway('dc2')}`)

    const alice = await startWanNode(ca, 'alice', 'dc1', locator)
    nodes.push(alice)
    const got = new Promise<Packet>((resolve) => bob.transport.once('packet', resolve))
    await alice.transport.writeToAddress(Buffer.from('hello via DNS'), BOB)
    log(`bob got ${JSON.stringify((await got).buf.toString())}`)
    const first = await echo(await alice.transport.dialAddressTimeout(BOB, 10_000), 'stream 1')
    log(`alice's stream through ${a.target} echoed ${JSON.stringify(first)}`)

    // The operator moves dc2's gateway: a new one, the record updated, the old one gone.
    const b = await gateway('gw-b')
    dns.set(SRV_NAME, { srv: [{ priority: 10, weight: 1, port: b.port, target: b.target }] })
    await a.gw.close()
    log(`DNS now: ${SRV_NAME} SRV ${b.target}:${b.port}; ${a.target} closed`)
    // Normally the next periodic refresh picks it up; here it is asked for at once.
    await locator.refresh()
    log(`locator resolved dc2 to ${locator.pickGateway('dc2')}`)
    const second = await echo(await alice.transport.dialAddressTimeout(BOB, 10_000), 'stream 2')
    const through = b.gw.stats().accepted
    log(
      `alice's stream through ${b.target} echoed ${JSON.stringify(second)} (${through} connection(s) there)`,
    )
    if (through === 0) throw new Error(`the stream did not go through ${b.target}`)
    log(`${dns.answered} DNS questions answered`)
  } finally {
    locator.close()
    for (const n of nodes.reverse()) await n.close()
    await Promise.all(gateways.map((gw) => gw.close()))
    await dns.close()
  }
  log('closed cleanly')
}
