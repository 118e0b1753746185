import { createServer } from 'node:net'
import { transportConformance } from '../../src/testing/index.ts'
import { NetTransport } from '../../src/transport/index.ts'
import { blackholePort, closedPort } from '../helpers/net.ts'

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createServer()
  s.once('error', () => resolve(false))
  s.listen(0, '::1', () => s.close(() => resolve(true)))
})

for (const host of hasIpv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1']) {
  const bracketed = host.includes(':') ? `[${host}]` : host
  transportConformance({
    name: `NetTransport (${host})`,
    async setup() {
      const a = new NetTransport({ bindAddrs: [host] })
      const b = new NetTransport({ bindAddrs: [host] })
      return {
        a,
        b,
        addressOf: (which) => ({
          name: `${which}.dc1`,
          addr: `${bracketed}:${(which === 'a' ? a : b).getAutoBindPort()}`,
        }),
      }
    },
    unknownDestination: () => ({ name: 'x.dc1', addr: 'not-an-address' }),
    refusedDestination: async () => ({ name: 'x.dc1', addr: `127.0.0.1:${await closedPort()}` }),
    async unresponsiveDestination() {
      const hole = await blackholePort()
      return {
        address: { name: 'x.dc1', addr: `127.0.0.1:${hole.port}` },
        close: () => hole.close(),
      }
    },
  })
}
