/**
 * The committed fixtures in test/fixtures/tls/ keep the properties their README promises (other
 * tests depend on them). If this fails after a regeneration, fix scripts/regen-fixtures.ts.
 */

import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { caPem, otherCaPem, TLS_FIXTURE_NAMES, tlsFixture } from '../helpers/fixtures.ts'

const YEAR_2100 = Date.UTC(2100, 0, 1)

const leaves: [name: string, cn: string, dns: string[], ips: string[], ca: 'ca' | 'other-ca'][] = [
  [
    'bob',
    'server.dc1.consul',
    ['bob.server.dc1.consul', 'server.dc1.consul', 'localhost'],
    ['::1', '127.0.0.1'],
    'ca',
  ],
  [
    'betty',
    'server.dc2.consul',
    ['betty.server.dc2.consul', 'server.dc2.consul', 'localhost'],
    ['::1', '127.0.0.1'],
    'ca',
  ],
  [
    'bonnie',
    'server.dc3.consul',
    ['bonnie.server.dc3.consul', 'server.dc3.consul', 'localhost'],
    ['::1', '127.0.0.1'],
    'ca',
  ],
  ['alice', 'server.dc1.consul', ['server.dc1.consul', 'localhost'], ['::1', '127.0.0.1'], 'ca'],
  ['client', 'client.dc1.consul', ['client.dc1.consul', 'localhost'], ['127.0.0.1'], 'ca'],
  [
    'other-server',
    'server.dc1.consul',
    ['bob.server.dc1.consul', 'server.dc1.consul', 'localhost'],
    ['::1', '127.0.0.1'],
    'other-ca',
  ],
  [
    'expired',
    'server.dc1.consul',
    ['bob.server.dc1.consul', 'server.dc1.consul', 'localhost'],
    ['::1', '127.0.0.1'],
    'ca',
  ],
]

describe('TLS fixtures', () => {
  it('every fixture has a certificate and a matching PKCS#8 key', () => {
    for (const name of TLS_FIXTURE_NAMES) {
      const { cert, key } = tlsFixture(name)
      expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/)
      const fromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' })
      const fromCert = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' })
      expect(fromKey.equals(fromCert), name).toBe(true)
    }
  })

  it('the two CAs are self-signed, unrelated and valid past 2100', () => {
    const ca = new X509Certificate(caPem())
    const other = new X509Certificate(otherCaPem())
    for (const c of [ca, other]) {
      expect(c.ca).toBe(true)
      expect(c.verify(c.publicKey)).toBe(true)
      expect(Date.parse(c.validTo)).toBeGreaterThan(YEAR_2100)
    }
    expect(ca.subject).not.toBe(other.subject)
    expect(ca.verify(other.publicKey)).toBe(false)
  })

  it.each(leaves)('%s: CN %s, SANs, issuer', (name, cn, dns, ips, issuer) => {
    const cert = new X509Certificate(tlsFixture(name).cert)
    expect(cert.subject).toBe(`CN=${cn}`)
    expect(cert.ca).toBe(false)
    const parts = (cert.subjectAltName ?? '').split(', ')
    expect(parts.filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4))).toEqual(dns)
    const certIps = parts.filter((p) => p.startsWith('IP Address:'))
    expect(certIps).toHaveLength(ips.length)
    for (const ip of ips) expect(cert.checkIP(ip), ip).toBe(ip)
    const ca = new X509Certificate(issuer === 'ca' ? caPem() : otherCaPem())
    const wrong = new X509Certificate(issuer === 'ca' ? otherCaPem() : caPem())
    expect(cert.checkIssued(ca)).toBe(true)
    expect(cert.verify(ca.publicKey)).toBe(true)
    expect(cert.verify(wrong.publicKey)).toBe(false)
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1')
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2')
    if (name === 'expired') expect(Date.parse(cert.validTo)).toBeLessThan(Date.now())
    else expect(Date.parse(cert.validTo)).toBeGreaterThan(YEAR_2100)
  })

  it('tlsFixture caches reads, returns fresh objects and rejects unknown names', () => {
    const a = tlsFixture('bob')
    const b = tlsFixture('bob')
    expect(a).toEqual(b)
    expect(a).not.toBe(b)
    expect(() => tlsFixture('carol')).toThrow(/unknown TLS fixture "carol"/)
  })
})
