import { describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { farEnd } from '../helpers/far-end.ts'
import { closedPort } from '../helpers/net.ts'
import { dc1Sender, dc2Receiver, nodeContext } from '../helpers/wanfed-node.ts'

// Who a failed cross-DC dial is blamed on: the gateway (the locator steers away from it), the far
// node behind it (nothing is marked), the caller (a local error), or a buggy locator.

const ctx = nodeContext()
const { clock, cleanups } = ctx

describe('WanfedTransport: who is blamed for a failed cross-DC dial', () => {
  it('a dead far node (the handshake fails behind the gateway) does not mark the gateway', async () => {
    const betty = await dc2Receiver(ctx)
    const locator = new StaticGatewayLocator({ dc2: [betty.serverAddr] }, { clock })
    const b = await dc1Sender(ctx, locator)
    // ghost.server.dc2.consul is not in betty's certificate: the dial fails after TCP connected.
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'ghost.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_TLS',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(0)
  })

  it('a far node that is down behind a working MeshGateway does not mark the gateway', async () => {
    // The gateway reads the hello, finds betty's server refusing, and says so with a TLS alert
    // instead of a bare close (which the dialer would take for a wedged gateway).
    const gw = new MeshGateway({
      datacenter: 'dc2',
      servers: { betty: `127.0.0.1:${await closedPort()}` },
      clock,
    })
    const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
    cleanups.push(() => gw.close())
    const locator = new StaticGatewayLocator({ dc2: [`127.0.0.1:${port}`] }, { clock })
    const b = await dc1Sender(ctx, locator)
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_TLS', remote: true })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(0)
  })

  it('an unreachable gateway is marked; a name SNI cannot carry fails locally and marks nothing', async () => {
    const dead = `127.0.0.1:${await closedPort()}`
    const locator = new StaticGatewayLocator({ dc2: [dead] }, { clock })
    const b = await dc1Sender(ctx, locator, { transport: { nodeNameRule: 'last-dot' } })
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_SOCKET',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: 'ceph.example.com.dc2', addr: '' }),
    ).rejects.toMatchObject({ code: 'WANFED_ERR_INVALID_ARG', remote: false })
    await expect(
      b.transport.writeToAddress(Buffer.from('x'), { name: '.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_INVALID_NODE_NAME',
    })
    expect(locator.health('dc2')[0]?.consecutiveFailures).toBe(1)
  })

  it('a locator whose hooks throw is reported as an error and does not break the dial', async () => {
    const far = await farEnd(cleanups, (s) => s.resume())
    const locator = {
      pickGateway: () => far,
      reportSuccess: () => {
        throw new Error('buggy locator')
      },
    }
    const b = await dc1Sender(ctx, locator as never)
    const errors: Error[] = []
    b.transport.on('error', (e) => errors.push(e))
    await b.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' })
    expect(errors.map((e) => e.message)).toEqual(['GatewayLocator.reportSuccess threw'])
    expect(b.transport.stats().pool.open).toBe(1)
    const throwing = await dc1Sender(
      ctx,
      {
        pickGateway: () => {
          throw new Error('boom')
        },
      },
      { node: 'carl' },
    )
    await expect(
      throwing.transport.writeToAddress(Buffer.from('x'), { name: 'betty.dc2', addr: '' }),
    ).rejects.toMatchObject({
      code: 'WANFED_ERR_NO_GATEWAY',
    })
  })
})
