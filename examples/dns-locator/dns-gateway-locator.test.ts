/** The DNS locator against the example's DNS server, over real UDP on 127.0.0.1. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { expectNoLeakedHandles, handleCounts } from 'wanfed/testing'
import { DnsGatewayLocator } from './dns-gateway-locator.ts'
import { type DnsServer, startDnsServer } from './dns-server.ts'

const NAME = '_mesh-gateway._tcp.dc2.wanfed.test'
let dns: DnsServer
let baseline: Map<string, number>

beforeEach(async () => {
  baseline = handleCounts()
  dns = await startDnsServer()
})
afterEach(async () => {
  await dns.close()
  await expectNoLeakedHandles(baseline)
})

describe('DnsGatewayLocator', () => {
  it('picks among the targets of the best SRV priority, names resolved to IPv4', async () => {
    dns.set(NAME, {
      srv: [
        { priority: 10, weight: 1, port: 8443, target: 'gw-a.wanfed.test' },
        { priority: 10, weight: 1, port: 9443, target: '127.0.0.3' },
        { priority: 20, weight: 1, port: 7443, target: 'backup.wanfed.test' },
      ],
    })
    dns.set('gw-a.wanfed.test', { a: ['127.0.0.1', '127.0.0.2'] })
    dns.set('backup.wanfed.test', { a: ['127.0.0.9'] })
    const locator = new DnsGatewayLocator({ srvNames: { dc2: NAME }, servers: [dns.address] })
    try {
      expect(await locator.resolve(NAME)).toEqual([
        '127.0.0.1:8443',
        '127.0.0.2:8443',
        '127.0.0.3:9443',
      ])
      expect(locator.pickGateway('dc2')).toBeUndefined() // nothing before start()
      await locator.start()
      const picked = new Set<string | undefined>()
      for (let i = 0; i < 200; i++) picked.add(locator.pickGateway('dc2'))
      expect([...picked].sort()).toEqual(['127.0.0.1:8443', '127.0.0.2:8443', '127.0.0.3:9443'])
      expect(locator.pickGateway('dc3')).toBeUndefined()
      // A gateway that failed is avoided while the others are fine.
      locator.reportFailure('dc2', '127.0.0.3:9443', new Error('refused'))
      for (let i = 0; i < 50; i++) expect(locator.pickGateway('dc2')).not.toBe('127.0.0.3:9443')
    } finally {
      locator.close()
    }
  })

  it('keeps the last gateways when a lookup fails, and says so', async () => {
    dns.set(NAME, { srv: [{ priority: 1, weight: 1, port: 8443, target: '127.0.0.1' }] })
    const errors: string[] = []
    const locator = new DnsGatewayLocator({
      srvNames: { dc2: NAME },
      servers: [dns.address],
      onError: (dc, err) => errors.push(`${dc}: ${(err as NodeJS.ErrnoException).code}`),
    })
    try {
      await locator.start()
      expect(locator.pickGateway('dc2')).toBe('127.0.0.1:8443')
      dns.set(NAME, undefined)
      await locator.refresh()
      expect(errors).toEqual(['dc2: ENOTFOUND'])
      expect(locator.pickGateway('dc2')).toBe('127.0.0.1:8443')
      // And a new answer replaces the old one.
      dns.set(NAME, { srv: [{ priority: 1, weight: 1, port: 9443, target: '127.0.0.1' }] })
      await locator.refresh()
      expect(locator.pickGateway('dc2')).toBe('127.0.0.1:9443')
    } finally {
      locator.close()
    }
  })
})
