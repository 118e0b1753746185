import { beforeEach } from 'vitest'
import { AlpnServer, type AlpnServerOptions } from '../../src/alpn/index.ts'
import type { Clock } from '../../src/internal/clock.ts'
import { type GatewayLocator, StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import {
  WanfedTransport,
  type WanfedTransportOptions,
} from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from './fixtures.ts'
import { type Cleanup, leakGuard } from './leaks.ts'

export interface WanfedNode {
  /** `<node>.<dc>` */
  name: string
  transport: WanfedTransport
  server: AlpnServer
  /** `127.0.0.1:port` of the node's ALPN server (where gateways send its traffic). */
  serverAddr: string
  /** The address same-DC peers use (the inner memory transport's). */
  addr: string
  close(): Promise<void>
}

/**
 * One federated node for tests: a memory transport for same-DC traffic, an ALPN server with the
 * node's fixture certificate for cross-DC traffic, and the WanfedTransport joining them. Listening.
 */
export async function wanfedNode(options: {
  network: MemoryNetwork
  node: string
  datacenter: string
  /** Fixture whose certificate the node presents (bob: dc1, betty: dc2, bonnie: dc3). */
  identity: string
  locator: GatewayLocator
  clock?: Clock
  transport?: Partial<WanfedTransportOptions>
  /** Options of the node's ALPN server (closeGraceMs is 200 unless told). */
  server?: Partial<AlpnServerOptions>
}): Promise<WanfedNode> {
  const name = `${options.node}.${options.datacenter}`
  const inner = options.network.createTransport(name)
  const tls = { ca: caPem(), ...tlsFixture(options.identity) }
  const server = new AlpnServer({
    tls,
    closeGraceMs: 200,
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.server,
  })
  const transport = new WanfedTransport({
    transport: inner,
    datacenter: options.datacenter,
    locator: options.locator,
    tls,
    ...(options.clock ? { clock: options.clock } : {}),
    ...options.transport,
  }).attach(server)
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
  await transport.listen()
  return {
    name,
    transport,
    server,
    serverAddr: `127.0.0.1:${port}`,
    addr: inner.address,
    async close() {
      await transport.close()
      await server.close()
    },
  }
}

/** What a test file shares with the nodes it makes: its network, its clock and its cleanups. */
export interface NodeContext {
  network: MemoryNetwork
  clock: Clock
  cleanups: Cleanup[]
}

/**
 * The context of a test file of cross-DC dials: the leak check ({@link leakGuard}) and a fresh
 * memory network on its clock for each test. Call once at the top of the file.
 */
export function nodeContext(): NodeContext {
  const { clock, cleanups } = leakGuard()
  const ctx: NodeContext = { network: new MemoryNetwork({ clock }), clock, cleanups }
  beforeEach(() => {
    ctx.network = new MemoryNetwork({ clock })
  })
  return ctx
}

/**
 * A dc1 node with bob's certificate (named `bob` unless told), closed by the test's cleanups:
 * the sender in tests of cross-DC dials.
 */
export async function dc1Sender(
  ctx: NodeContext,
  locator: GatewayLocator,
  options: { node?: string; transport?: Partial<WanfedTransportOptions> } = {},
): Promise<WanfedNode> {
  const n = await wanfedNode({
    network: ctx.network,
    node: options.node ?? 'bob',
    datacenter: 'dc1',
    identity: 'bob',
    locator,
    clock: ctx.clock,
    transport: options.transport ?? {},
  })
  ctx.cleanups.push(() => n.close())
  return n
}

/**
 * betty.dc2 with betty's certificate and no gateways of her own, closed by the test's cleanups:
 * the receiver in tests of cross-DC dials.
 */
export async function dc2Receiver(
  ctx: NodeContext,
  options: {
    transport?: Partial<WanfedTransportOptions>
    server?: Partial<AlpnServerOptions>
  } = {},
): Promise<WanfedNode> {
  const n = await wanfedNode({
    network: ctx.network,
    node: 'betty',
    datacenter: 'dc2',
    identity: 'betty',
    locator: new StaticGatewayLocator({}),
    clock: ctx.clock,
    ...options,
  })
  ctx.cleanups.push(() => n.close())
  return n
}
