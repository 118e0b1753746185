/**
 * How a user runs wanfed's transport conformance suite against a transport of their own: one call,
 * with a harness that builds two transports that can reach each other. Here the transport is
 * `LabelTransport` (label-transport.ts) over wanfed's in-memory network.
 */
import { describe, expect, it } from 'vitest'
import { MemoryNetwork } from 'wanfed'
import { transportConformance } from 'wanfed/testing'
import { LabelTransport } from './label-transport.ts'

transportConformance({
  name: 'LabelTransport over MemoryNetwork',
  async setup() {
    const network = new MemoryNetwork()
    const innerA = network.createTransport('a.dc1')
    const innerB = network.createTransport('b.dc1')
    return {
      a: new LabelTransport(innerA, 'prod'),
      b: new LabelTransport(innerB, 'prod'),
      addressOf: (which) => ({
        name: `${which}.dc1`,
        addr: (which === 'a' ? innerA : innerB).address,
      }),
    }
  },
  unknownDestination: () => ({ name: 'nobody.dc1', addr: '127.0.0.1:1' }),
})

describe('LabelTransport', () => {
  it('ignores gossip from a cluster with another label', async () => {
    const network = new MemoryNetwork()
    const innerA = network.createTransport('a.dc1')
    const prod = new LabelTransport(network.createTransport('b.dc1'), 'prod')
    const staging = new LabelTransport(innerA, 'staging')
    try {
      await Promise.all([prod.listen(), staging.listen()])
      let reached = 0
      prod.on('packet', () => reached++)
      await staging.writeToAddress(Buffer.from('hello'), { name: 'b.dc1', addr: '' })
      for (let i = 0; i < 200 && prod.mislabelled === 0; i++)
        await new Promise((r) => setTimeout(r, 5))
      expect(prod.mislabelled).toBe(1)
      expect(reached).toBe(0)
    } finally {
      await Promise.all([prod.close(), staging.close()])
    }
  })
})
