import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/index.ts'
import { renderHaproxyConfig, renderNginxConfig } from '../../src/gateway/proxy-config.ts'
import { routeTable } from '../../src/gateway/routes.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import type { Packet } from '../../src/transport/types.ts'
import { expectNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'
import { closedPort, readAll } from '../helpers/net.ts'
import {
  hasHaproxy,
  hasNginx,
  type RunningProxy,
  startHaproxy,
  startNginx,
} from '../helpers/proxies.ts'
import { type WanfedNode, wanfedNode } from '../helpers/wanfed-node.ts'

// Real L4 gateways between real WanfedTransports: HAProxy 2.6 (`mode tcp`, `req.ssl_sni`) and
// nginx (`stream`, `ssl_preread`), configured from the same route table MeshGateway uses.

type Kind = 'haproxy' | 'nginx'
const available: Record<Kind, boolean> = { haproxy: hasHaproxy, nginx: hasNginx }

let network: MemoryNetwork
let baseline: Map<string, number>
const cleanups: (() => Promise<void> | void)[] = []

beforeEach(() => {
  baseline = handleCounts()
  network = new MemoryNetwork()
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  await expectNoLeakedHandles(baseline)
})

async function node(
  short: string,
  datacenter: string,
  identity: string,
): Promise<WanfedNode & { locator: StaticGatewayLocator }> {
  const locator = new StaticGatewayLocator({}, { random: () => 0 })
  const n = await wanfedNode({ network, node: short, datacenter, identity, locator })
  cleanups.push(() => n.close())
  return { ...n, locator }
}

/** A real proxy acting as `datacenter`'s mesh gateway. */
async function gateway(
  kind: Kind,
  datacenter: string,
  servers: Record<string, string>,
  remoteGateways: Record<string, string[]> = {},
): Promise<RunningProxy> {
  const table = routeTable({ datacenter, servers, remoteGateways })
  const proxy =
    kind === 'haproxy'
      ? await startHaproxy((port) =>
          renderHaproxyConfig(table, { bind: `127.0.0.1:${port}`, helloTimeoutMs: 2_000 }),
        )
      : await startNginx((port, dir) =>
          renderNginxConfig(table, {
            bind: `127.0.0.1:${port}`,
            pidFile: `${dir}/nginx.pid`,
            helloTimeoutMs: 2_000,
          }),
        )
  cleanups.push(() => proxy.stop())
  return proxy
}

function nextPacket(n: WanfedNode): Promise<Packet> {
  return new Promise((resolve) => n.transport.once('packet', resolve))
}

async function exchange(from: WanfedNode, to: WanfedNode): Promise<void> {
  const got = nextPacket(to)
  await from.transport.writeToAddress(Buffer.from(`hello ${to.name}`), {
    name: to.name,
    addr: '192.0.2.2:8302',
  })
  expect((await got).buf.toString()).toBe(`hello ${to.name}`)

  const accepted = new Promise<Duplex>((resolve) => to.transport.once('stream', resolve))
  const stream = await from.transport.dialAddressTimeout(
    { name: to.name, addr: '192.0.2.2:8302' },
    5_000,
  )
  const remote = await accepted
  const request = Buffer.alloc(512 * 1024, 7)
  stream.end(request)
  expect((await readAll(remote)).equals(request)).toBe(true)
  remote.end('reply')
  expect((await readAll(stream)).toString()).toBe('reply')
}

for (const kind of ['haproxy', 'nginx'] as const) {
  describe.skipIf(!available[kind])(`real gateway: ${kind}`, () => {
    it('carries packets and streams to a node through the DC gateway (one hop)', async () => {
      const bob = await node('bob', 'dc1', 'bob')
      const betty = await node('betty', 'dc2', 'betty')
      const gw2 = await gateway(kind, 'dc2', { betty: betty.serverAddr })
      bob.locator.setGateways('dc2', [gw2.address])
      await exchange(bob, betty)
    })

    it('carries traffic over two hops: the secondary’s gateway, then the primary’s, then the server', async () => {
      const bob = await node('bob', 'dc1', 'bob')
      const betty = await node('betty', 'dc2', 'betty')
      const gw1 = await gateway(kind, 'dc1', { bob: bob.serverAddr })
      const gw2 = await gateway(kind, 'dc2', { betty: betty.serverAddr }, { dc1: [gw1.address] })
      betty.locator.setGateways('dc1', [gw2.address])
      bob.locator.setGateways('dc2', [gw2.address])
      await exchange(betty, bob)
      await exchange(bob, betty)
    })

    it(`carries traffic over a mixed path: MeshGateway in one DC, ${kind} in the other`, async () => {
      const bob = await node('bob', 'dc1', 'bob')
      const betty = await node('betty', 'dc2', 'betty')
      const gw1 = await gateway(kind, 'dc1', { bob: bob.serverAddr })
      const ours = new MeshGateway({
        datacenter: 'dc2',
        servers: { betty: betty.serverAddr },
        locator: new StaticGatewayLocator({ dc1: [gw1.address] }),
        closeGraceMs: 100,
      })
      const { port } = await ours.listen({ host: '127.0.0.1', port: 0 })
      cleanups.push(() => ours.close())
      betty.locator.setGateways('dc1', [`127.0.0.1:${port}`])
      bob.locator.setGateways('dc2', [gw1.address])
      // dc2 -> dc1: MeshGateway, then the real proxy, then bob.
      await exchange(betty, bob)
      expect(ours.stats().routes['remote-dc'].connections).toBeGreaterThanOrEqual(2)
    })

    it('routes server.<dc>.consul to any server, and fails over to a live remote gateway', async () => {
      const bob = await node('bob', 'dc1', 'bob')
      const betty = await node('betty', 'dc2', 'betty')
      const gw1 = await gateway(kind, 'dc1', { bob: bob.serverAddr })
      const dead = `127.0.0.1:${await closedPort()}`
      const gw2 = await gateway(
        kind,
        'dc2',
        { betty: betty.serverAddr },
        { dc1: [dead, gw1.address] },
      )
      betty.locator.setGateways('dc1', [gw2.address])
      // `*.dc1` is the wildcard join name: SNI server.dc1.consul, any server of dc1. Round robin
      // sends some of these to the dead gateway first; the proxy must move them on to the live one.
      for (let i = 0; i < 4; i++) {
        const accepted = new Promise<Duplex>((resolve) => bob.transport.once('stream', resolve))
        const stream = await betty.transport.dialAddressTimeout(
          { name: '*.dc1', addr: '192.0.2.2:8302' },
          5_000,
        )
        stream.write('join')
        const remote = await accepted
        remote.destroy()
        stream.destroy()
      }
      expect(bob.server.stats().byAlpn['consul/wan-gossip/stream']).toBe(4)
    })

    it('closes a connection whose SNI has no route', async () => {
      const bob = await node('bob', 'dc1', 'bob')
      const betty = await node('betty', 'dc2', 'betty')
      const gw2 = await gateway(kind, 'dc2', { betty: betty.serverAddr })
      bob.locator.setGateways('dc2', [gw2.address])
      // bonnie is in no route of dc2's gateway (and dc3 has none).
      bob.locator.setGateways('dc3', [gw2.address])
      const err = await bob.transport
        .dialAddressTimeout({ name: 'bonnie.dc3', addr: '' }, 3_000)
        .catch((e: unknown) => e)
      expect(err).toMatchObject({ remote: true })
      await sleep(10)
      expect(betty.server.stats().accepted).toBe(0)
    })
  })
}
