import { AlpnServer } from '../../src/alpn/index.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { transportConformance } from '../../src/testing/index.ts'
import { MemoryNetwork, WanfedTransport } from '../../src/transport/index.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { closedPort, silentServer } from '../helpers/net.ts'

// WanfedTransport across two datacenters, every byte through an SNI-routing MeshGateway of the
// destination DC: a is bob in dc1, b is betty in dc2, each over its own in-memory LAN.
let servers: AlpnServer[] = []
let gateways: MeshGateway[] = []
let silent: Awaited<ReturnType<typeof silentServer>> | undefined

async function node(
  network: MemoryNetwork,
  short: string,
  datacenter: string,
  locator: StaticGatewayLocator,
) {
  const tls = { ca: caPem(), ...tlsFixture(short) }
  const server = new AlpnServer({ tls, closeGraceMs: 100 })
  const transport = new WanfedTransport({
    transport: network.createTransport(`${short}.${datacenter}`),
    datacenter,
    locator,
    tls,
  }).attach(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  const gateway = new MeshGateway({
    datacenter,
    servers: { [short]: `127.0.0.1:${port}` },
    closeGraceMs: 100,
  })
  const gw = await gateway.listen({ host: '127.0.0.1', port: 0 })
  servers.push(server)
  gateways.push(gateway)
  return { transport, gateway: `127.0.0.1:${gw.port}` }
}

transportConformance({
  name: 'WanfedTransport (dc1 -> MeshGateway -> dc2)',
  async setup() {
    servers = []
    gateways = []
    silent = await silentServer()
    const network = new MemoryNetwork()
    const locatorA = new StaticGatewayLocator({})
    const locatorB = new StaticGatewayLocator({})
    const bob = await node(network, 'bob', 'dc1', locatorA)
    const betty = await node(network, 'betty', 'dc2', locatorB)
    locatorA.setGateways('dc2', [betty.gateway])
    locatorB.setGateways('dc1', [bob.gateway])
    locatorA.setGateways('dc4', [`127.0.0.1:${await closedPort()}`])
    locatorA.setGateways('dc5', [`127.0.0.1:${silent.port}`])
    return {
      a: bob.transport,
      b: betty.transport,
      addressOf: (which) => ({
        name: which === 'a' ? 'bob.dc1' : 'betty.dc2',
        addr: '192.0.2.2:8302',
      }),
    }
  },
  async teardown() {
    await Promise.all([...servers.map((s) => s.close()), ...gateways.map((g) => g.close())])
    await silent?.close()
  },
  unknownDestination: () => ({ name: 'bonnie.dc3', addr: '192.0.2.3:8302' }),
  refusedDestination: async () => ({ name: 'x.dc4', addr: '192.0.2.4:8302' }),
  unresponsiveDestination: async () => ({
    address: { name: 'x.dc5', addr: '192.0.2.5:8302' },
    close: async () => {},
  }),
})
