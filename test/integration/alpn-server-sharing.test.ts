import { describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_PACKET, AlpnServer } from '../../src/alpn/index.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'

const { clock } = leakGuard()

describe('WanfedTransport: sharing an AlpnServer', () => {
  it('refuses a second transport on the same server, and a closed one leaves a new one’s handlers', async () => {
    const network = new MemoryNetwork({ clock })
    const server = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture('bob') } })
    const tls = { ca: caPem(), ...tlsFixture('bob') }
    const make = () =>
      new WanfedTransport({
        transport: network.createTransport(),
        datacenter: 'dc1',
        locator: new StaticGatewayLocator({}),
        tls,
      })
    const first = make().attach(server)
    expect(() => make().attach(server)).toThrow(/already carries WAN gossip/)
    await first.listen()
    await first.close()
    const second = make().attach(server)
    await second.listen()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    // Closing the first again (idempotent) must not remove the second's handlers.
    await first.close()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(true)
    await second.close()
    expect(server.handles(ALPN_WAN_GOSSIP_PACKET)).toBe(false)
    await server.close()
  })
})
