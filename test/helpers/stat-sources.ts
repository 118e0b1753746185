import { AlpnServer } from '../../src/alpn/index.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork, NetTransport, WanfedTransport } from '../../src/transport/index.ts'
import { caPem, tlsFixture } from './fixtures.ts'

/**
 * One live instance of every class with a `stats()` snapshot on the data path, constructed (none
 * listening), for tests that check the snapshots against docs and metrics. `close()` frees them all.
 */
export function statSources() {
  const tls = { ca: caPem(), ...tlsFixture('bob') }
  const network = new MemoryNetwork()
  const memory = network.createTransport('a.dc1')
  const net = new NetTransport({ bindAddrs: ['127.0.0.1'] })
  const wanfed = new WanfedTransport({
    transport: network.createTransport('bob.dc1'),
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({}),
    tls,
  })
  const server = new AlpnServer({ tls })
  const gateway = new MeshGateway({ datacenter: 'dc1', servers: { bob: '127.0.0.1:1' } })
  return {
    memory,
    net,
    wanfed,
    server,
    gateway,
    async close(): Promise<void> {
      await Promise.all([
        memory.close(),
        net.close(),
        wanfed.close(),
        server.close(),
        gateway.close(),
      ])
    },
  }
}
