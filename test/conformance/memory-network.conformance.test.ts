import { transportConformance } from '../../src/testing/index.ts'
import { MemoryNetwork } from '../../src/transport/index.ts'

// The reference implementation of the contract: lossless, in memory.
transportConformance({
  name: 'MemoryTransport (MemoryNetwork)',
  async setup() {
    const network = new MemoryNetwork({ latencyMs: 1 })
    const a = network.createTransport('a.dc1')
    const b = network.createTransport('b.dc1')
    return {
      a,
      b,
      addressOf: (which) => ({ name: `${which}.dc1`, addr: (which === 'a' ? a : b).address }),
    }
  },
  unknownDestination: () => ({ name: 'nobody.dc1', addr: '127.0.0.1:65000' }),
})
