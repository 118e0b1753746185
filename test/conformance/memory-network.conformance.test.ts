import { transportConformance } from '../../src/testing/index.ts'
import { MemoryNetwork } from '../../src/transport/index.ts'

// The reference implementation of the contract: lossless, in memory; a partitioned node stands in
// for a peer whose dials never complete.
let network: MemoryNetwork

transportConformance({
  name: 'MemoryTransport (MemoryNetwork)',
  async setup() {
    network = new MemoryNetwork({ latencyMs: 1 })
    const a = network.createTransport('a.dc1')
    const b = network.createTransport('b.dc1')
    return {
      a,
      b,
      addressOf: (which) => ({ name: `${which}.dc1`, addr: (which === 'a' ? a : b).address }),
    }
  },
  unknownDestination: () => ({ name: 'nobody.dc1', addr: '127.0.0.1:65000' }),
  async unresponsiveDestination() {
    network.partition('far.dc1')
    return {
      address: { name: 'far.dc1', addr: '127.0.0.1:65001' },
      close: async () => network.heal('far.dc1'),
    }
  },
})
