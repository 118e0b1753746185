import type { Duplex } from 'node:stream'
import { expect } from 'vitest'
import { MeshGateway, type MeshGatewayOptions } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import type { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { until } from './net.ts'
import {
  dc1Sender,
  dc2Receiver,
  type NodeContext,
  type WanfedNode,
  type wanfedNode,
} from './wanfed-node.ts'

/**
 * betty.dc2, a real node whose AlpnServer the hostile tests attack, and bob.dc1, a real peer that
 * reaches her through `via` (her own server, or a gateway in front of it) and keeps doing round
 * trips between the attacks: the "legitimate peer served throughout".
 */
export interface TargetAndPeer {
  betty: WanfedNode
  bob: WanfedNode
  /** Every packet betty's consumer got, in order. */
  packets: Buffer[]
  /** Every error betty's transport emitted. */
  errors: Error[]
  /** One packet bob → betty through the pool; resolves when it arrived. */
  packetRoundTrip(): Promise<void>
  /** A stream bob → betty that betty echoes; resolves with the round-trip time in ms. */
  streamRoundTrip(): Promise<number>
}

/** betty's streams are echoed back: what a stream round trip measures. */
function echo(stream: Duplex): void {
  stream.on('error', () => {})
  stream.pipe(stream)
}

export async function targetAndPeer(
  ctx: NodeContext,
  options: {
    server?: Parameters<typeof wanfedNode>[0]['server']
    transport?: Parameters<typeof wanfedNode>[0]['transport']
    /** Where bob sends dc2 traffic; betty's own server when not given. */
    via?: (betty: WanfedNode) => Promise<string> | string
  } = {},
): Promise<TargetAndPeer> {
  const betty = await dc2Receiver(ctx, {
    server: { maxConnsPerClient: 0, ...options.server },
    transport: options.transport ?? {},
  })
  const packets: Buffer[] = []
  const errors: Error[] = []
  betty.transport.on('packet', (p) => packets.push(Buffer.from(p.buf)))
  betty.transport.on('stream', echo)
  betty.transport.on('error', (e) => errors.push(e))
  const via = options.via === undefined ? betty.serverAddr : await options.via(betty)
  const bob = await dc1Sender(ctx, new StaticGatewayLocator({ dc2: [via] }))
  let n = 0
  return {
    betty,
    bob,
    packets,
    errors,
    async packetRoundTrip() {
      const body = Buffer.from(`legit packet ${n++}`)
      const before = packets.length
      await bob.transport.writeToAddress(body, { name: 'betty.dc2', addr: '' })
      await until(
        () => packets.slice(before).some((p) => p.equals(body)),
        'the legitimate packet',
        10_000,
      )
      packets.splice(before)
    },
    async streamRoundTrip() {
      return streamEcho(bob.transport, Buffer.from(`legit stream ${n++}`))
    },
  }
}

/** Dials betty.dc2, writes `body`, half-closes, and checks the echo; ms from dial to echo. */
export async function streamEcho(from: WanfedTransport, body: Buffer): Promise<number> {
  const start = performance.now()
  const s = await from.dialAddressTimeout({ name: 'betty.dc2', addr: '' }, 10_000)
  const chunks: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c))
    s.once('end', () => resolve())
    s.once('error', reject)
  })
  s.end(body)
  await done
  const ms = performance.now() - start
  s.destroy()
  expect(Buffer.concat(chunks).equals(body)).toBe(true)
  return ms
}

/**
 * dc2's MeshGateway in front of betty (`servers: { betty }`), listening on loopback and closed by
 * the context's cleanups (after betty: cleanups run last first). Its errors are collected.
 */
export async function gatewayInFront(
  ctx: NodeContext,
  betty: WanfedNode,
  options: Partial<MeshGatewayOptions> = {},
): Promise<{ gateway: MeshGateway; address: string; port: number; errors: Error[] }> {
  const gateway = new MeshGateway({
    datacenter: 'dc2',
    servers: { betty: betty.serverAddr },
    clock: ctx.clock,
    closeGraceMs: 200,
    ...options,
  })
  const errors: Error[] = []
  gateway.on('error', (e) => errors.push(e))
  const { port } = await gateway.listen({ host: '127.0.0.1', port: 0 })
  ctx.cleanups.push(() => gateway.close())
  return { gateway, address: `127.0.0.1:${port}`, port, errors }
}
