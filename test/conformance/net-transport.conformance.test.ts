import { createServer } from 'node:net'
import { transportConformance } from '../../src/testing/index.ts'
import { NetTransport } from '../../src/transport/index.ts'
import { blackholePort, closedPort } from '../helpers/net.ts'

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = createServer()
  s.once('error', () => resolve(false))
  s.listen(0, '::1', () => s.close(() => resolve(true)))
})

// `::` is the dual-stack bind: its peers are addressed by IPv4, which its one udp6 socket must
// reach as IPv4-mapped addresses and whose packets it must report as plain IPv4.
for (const host of hasIpv6 ? ['127.0.0.1', '::1', '::'] : ['127.0.0.1']) {
  const bracketed = host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  transportConformance({
    name: `NetTransport (${host})`,
    async setup() {
      // An unspecified bind advertises the host's first private IPv4; give it one to find.
      const networkInterfaces = () => ({
        eth0: [
          {
            address: '10.0.0.7',
            netmask: '255.0.0.0',
            family: 'IPv4' as const,
            mac: '00:00:00:00:00:00',
            internal: false,
            cidr: '10.0.0.7/8',
          },
        ],
      })
      const a = new NetTransport({ bindAddrs: [host], networkInterfaces })
      const b = new NetTransport({ bindAddrs: [host], networkInterfaces })
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
