import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  loadCertificateAuthority,
  normalizeDomain,
} from '../../src/certs/index.ts'
import { checkDnsLabel } from '../../src/certs/names.ts'
import { loadX509 } from '../../src/certs/x509.ts'
import { CertificateError, InvalidArgumentError } from '../../src/errors.ts'

const DAY = 86_400_000
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

const x509 = (pem: string) => new X509Certificate(pem)

/** `DNS:a, DNS:b, IP Address:…` split into DNS names and IPs, in order. */
function sans(pem: string): { dns: string[]; ips: string[] } {
  const parts = (x509(pem).subjectAltName ?? '').split(', ').filter((p) => p !== '')
  return {
    dns: parts.filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4)),
    ips: parts.filter((p) => p.startsWith('IP Address:')).map((p) => p.slice(11)),
  }
}

async function keyUsageFlags(pem: string): Promise<number | undefined> {
  const lib = await loadX509()
  return new lib.X509Certificate(pem).getExtension(lib.KeyUsagesExtension)?.usages
}

function spki(keyPem: string): Buffer {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' })
}

function expectKeyMatches(pair: CertificateKeyPair) {
  expect(pair.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/)
  expect(pair.cert).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/)
  expect(
    spki(pair.key).equals(x509(pair.cert).publicKey.export({ type: 'spki', format: 'der' })),
  ).toBe(true)
}

function expectIssuedBy(leaf: string, ca: string) {
  const c = x509(ca)
  expect(x509(leaf).checkIssued(c)).toBe(true)
  expect(x509(leaf).verify(c.publicKey)).toBe(true)
}

const ca = await createCertificateAuthority()

describe('createCertificateAuthority', () => {
  it('makes a self-signed ECDSA P-256 CA like Consul agent CAs', async () => {
    const cert = x509(ca.cert)
    expect(cert.ca).toBe(true)
    expect(cert.subject).toMatch(/^CN=Consul Agent CA \d+$/)
    expect(cert.issuer).toBe(cert.subject)
    expect(cert.checkIssued(cert)).toBe(true)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(cert.publicKey.asymmetricKeyType).toBe('ec')
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expectKeyMatches(ca)
    const lib = await loadX509()
    expect(await keyUsageFlags(ca.cert)).toBe(
      lib.KeyUsageFlags.keyCertSign |
        lib.KeyUsageFlags.cRLSign |
        lib.KeyUsageFlags.digitalSignature,
    )
    // The CN carries the serial in decimal, as Consul's does.
    expect(cert.subject).toBe(`CN=Consul Agent CA ${BigInt(`0x${cert.serialNumber}`)}`)
  })

  it('is valid for 1825 days by default, starting a minute ago', () => {
    const cert = x509(ca.cert)
    expect(Math.abs(Date.parse(cert.validTo) - (Date.now() + 1825 * DAY))).toBeLessThan(60_000)
    expect(Date.now() - Date.parse(cert.validFrom)).toBeGreaterThanOrEqual(59_000)
    expect(Date.now() - Date.parse(cert.validFrom)).toBeLessThan(120_000)
  })

  it('uses random positive serial numbers', async () => {
    const other = await createCertificateAuthority()
    const a = x509(ca.cert).serialNumber
    const b = x509(other.cert).serialNumber
    expect(a).not.toBe(b)
    for (const serial of [a, b]) {
      expect(serial).toMatch(/^[0-9A-F]{32}$/)
      expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80)
    }
  })

  it('takes a common name, days and RSA', async () => {
    const rsa = await createCertificateAuthority({
      commonName: 'Test CA, Inc',
      days: 10,
      keyType: 'rsa',
    })
    const cert = x509(rsa.cert)
    // One CN attribute holding the comma (Node escapes it when printing), not two attributes.
    expect(cert.subject).toBe('CN=Test CA\\, Inc')
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa')
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(cert.verify(cert.publicKey)).toBe(true)
    expect(Math.abs(Date.parse(cert.validTo) - (Date.now() + 10 * DAY))).toBeLessThan(60_000)
    expectKeyMatches(rsa)
  })

  it('takes explicit notBefore / notAfter', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z')
    const notAfter = new Date('2031-06-01T12:00:00Z')
    const cert = x509((await createCertificateAuthority({ notBefore, notAfter })).cert)
    expect(new Date(cert.validFrom)).toEqual(notBefore)
    expect(new Date(cert.validTo)).toEqual(notAfter)
  })

  it('counts days from notBefore when both are given', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z')
    const cert = x509((await createCertificateAuthority({ notBefore, days: 2 })).cert)
    expect(new Date(cert.validTo)).toEqual(new Date('2030-01-03T00:00:00Z'))
  })
})

describe('createServerCertificate', () => {
  it("has Consul's CN, SANs in Consul's order, EKU and key usage", async () => {
    const bob = await createServerCertificate(ca, { datacenter: 'dc1', node: 'bob' })
    const cert = x509(bob.cert)
    expect(cert.subject).toBe('CN=server.dc1.consul')
    expect(cert.ca).toBe(false)
    expect(sans(bob.cert)).toEqual({
      dns: ['bob.server.dc1.consul', 'server.dc1.consul', 'localhost'],
      ips: ['127.0.0.1'],
    })
    expect(cert.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH])
    const lib = await loadX509()
    expect(await keyUsageFlags(bob.cert)).toBe(
      lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment,
    )
    expect(cert.checkHost('bob.server.dc1.consul')).toBe('bob.server.dc1.consul')
    expect(cert.checkHost('server.dc1.consul')).toBe('server.dc1.consul')
    expect(cert.checkHost('bob.server.dc2.consul')).toBeUndefined()
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    expectIssuedBy(bob.cert, ca.cert)
    expectKeyMatches(bob)
  })

  it('puts additional DNS names first and additional IPs before 127.0.0.1', async () => {
    const pair = await createServerCertificate(ca, {
      datacenter: 'dc2',
      node: 'betty',
      additionalDnsNames: ['gw.example.com', '*.wild.example'],
      additionalIps: ['::1', '10.0.0.5'],
    })
    expect(sans(pair.cert)).toEqual({
      dns: [
        'gw.example.com',
        '*.wild.example',
        'betty.server.dc2.consul',
        'server.dc2.consul',
        'localhost',
      ],
      ips: ['0:0:0:0:0:0:0:1', '10.0.0.5', '127.0.0.1'],
    })
    expect(x509(pair.cert).checkIP('::1')).toBe('::1')
  })

  it('defaults to dc1 and domain consul, with no node SAN without a node', async () => {
    for (const node of [undefined, '']) {
      const pair = await createServerCertificate(ca, node === undefined ? {} : { node })
      expect(x509(pair.cert).subject).toBe('CN=server.dc1.consul')
      expect(sans(pair.cert).dns).toEqual(['server.dc1.consul', 'localhost'])
    }
    const pair = await createServerCertificate(ca)
    expect(sans(pair.cert).dns).toEqual(['server.dc1.consul', 'localhost'])
  })

  it('strips one trailing dot from the domain and accepts dotted domains', async () => {
    const dotted = await createServerCertificate(ca, { domain: 'consul.', node: 'bob' })
    expect(sans(dotted.cert).dns).toEqual([
      'bob.server.dc1.consul',
      'server.dc1.consul',
      'localhost',
    ])
    const custom = await createServerCertificate(ca, {
      domain: 'wan.example.com',
      datacenter: 'east',
    })
    expect(x509(custom.cert).subject).toBe('CN=server.east.wan.example.com')
    expect(normalizeDomain('consul.')).toBe('consul')
    expect(normalizeDomain()).toBe('consul')
    expect(() => normalizeDomain('consul..')).toThrow(InvalidArgumentError)
  })

  it('lists a repeated name once', async () => {
    const pair = await createServerCertificate(ca, {
      additionalDnsNames: ['localhost'],
      additionalIps: ['127.0.0.1'],
    })
    expect(sans(pair.cert)).toEqual({ dns: ['localhost', 'server.dc1.consul'], ips: ['127.0.0.1'] })
  })

  it('is valid for 365 days by default; days and dates change that', async () => {
    const def = x509((await createServerCertificate(ca)).cert)
    expect(Math.abs(Date.parse(def.validTo) - (Date.now() + 365 * DAY))).toBeLessThan(60_000)
    const long = x509((await createServerCertificate(ca, { days: 36500 })).cert)
    expect(Math.abs(Date.parse(long.validTo) - (Date.now() + 36500 * DAY))).toBeLessThan(60_000)
    const expired = x509(
      (
        await createServerCertificate(ca, {
          notBefore: new Date('2020-01-01T00:00:00Z'),
          notAfter: new Date('2020-01-02T00:00:00Z'),
        })
      ).cert,
    )
    expect(new Date(expired.validTo)).toEqual(new Date('2020-01-02T00:00:00Z'))
  })

  it('makes RSA 2048 keys with keyType rsa, signed by an ECDSA or RSA CA', async () => {
    const rsaCa = await createCertificateAuthority({ keyType: 'rsa' })
    for (const signer of [ca, rsaCa]) {
      const pair = await createServerCertificate(signer, { keyType: 'rsa', node: 'bob' })
      const cert = x509(pair.cert)
      expect(cert.publicKey.asymmetricKeyType).toBe('rsa')
      expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
      expectIssuedBy(pair.cert, signer.cert)
      expectKeyMatches(pair)
    }
    // An ECDSA leaf from the RSA CA too.
    const ec = await createServerCertificate(rsaCa)
    expect(x509(ec.cert).publicKey.asymmetricKeyType).toBe('ec')
    expectIssuedBy(ec.cert, rsaCa.cert)
  })

  it('gives every certificate a fresh key and serial', async () => {
    const a = await createServerCertificate(ca, { node: 'bob' })
    const b = await createServerCertificate(ca, { node: 'bob' })
    expect(a.key).not.toBe(b.key)
    expect(x509(a.cert).serialNumber).not.toBe(x509(b.cert).serialNumber)
  })
})

describe('createClientCertificate', () => {
  it("has Consul's client CN, SANs and both EKUs", async () => {
    const pair = await createClientCertificate(ca, { datacenter: 'dc2' })
    const cert = x509(pair.cert)
    expect(cert.subject).toBe('CN=client.dc2.consul')
    expect(cert.ca).toBe(false)
    expect(sans(pair.cert)).toEqual({ dns: ['client.dc2.consul', 'localhost'], ips: ['127.0.0.1'] })
    expect(cert.keyUsage).toEqual([CLIENT_AUTH, SERVER_AUTH])
    expectIssuedBy(pair.cert, ca.cert)
    expectKeyMatches(pair)
  })

  it('takes additional names, a domain and RSA', async () => {
    const pair = await createClientCertificate(ca, {
      domain: 'example.',
      additionalDnsNames: ['app.example'],
      additionalIps: ['::1'],
      keyType: 'rsa',
      days: 5,
    })
    expect(sans(pair.cert)).toEqual({
      dns: ['app.example', 'client.dc1.example', 'localhost'],
      ips: ['0:0:0:0:0:0:0:1', '127.0.0.1'],
    })
    const cert = x509(pair.cert)
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa')
    expect(Math.abs(Date.parse(cert.validTo) - (Date.now() + 5 * DAY))).toBeLessThan(60_000)
  })

  it('refuses a node, which only server certificates carry', async () => {
    const options = { node: 'bob' } as unknown as Parameters<typeof createClientCertificate>[1]
    await expect(createClientCertificate(ca, options)).rejects.toThrow(/-node requires -server/)
  })
})

describe('invalid input', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['datacenter with a dot', { datacenter: 'dc.1' }, /^datacenter must be a DNS label/],
    ['datacenter with an underscore', { datacenter: 'dc_1' }, /^datacenter /],
    ['empty datacenter', { datacenter: '' }, /^datacenter /],
    ['datacenter starting with a hyphen', { datacenter: '-dc' }, /^datacenter /],
    ['datacenter of 64 characters', { datacenter: 'a'.repeat(64) }, /^datacenter /],
    ['datacenter not a string', { datacenter: 1 }, /^datacenter /],
    ['node with a dot', { node: 'bob.dc1' }, /^node must be a DNS label/],
    ['node with a slash', { node: 'bob/x' }, /^node /],
    ['node with a space', { node: 'bo b' }, /^node /],
    ['node *', { node: '*' }, /^node /],
    ['empty domain', { domain: '' }, /^domain /],
    ['domain with two trailing dots', { domain: 'consul..' }, /^domain /],
    ['domain with an empty label', { domain: 'a..b' }, /^domain /],
    ['domain with a bad label', { domain: 'x_y.com' }, /^domain /],
    ['days 0', { days: 0 }, /^days must be a positive integer/],
    ['days -1', { days: -1 }, /^days /],
    ['days 1.5', { days: 1.5 }, /^days /],
    ['days NaN', { days: Number.NaN }, /^days /],
    ['days as a string', { days: '3' }, /^days /],
    ['days past the year 9999', { days: 3_000_000 }, /^days is too large/],
    ['days and notAfter', { days: 3, notAfter: new Date(Date.now() + DAY) }, /days or notAfter/],
    ['notAfter before notBefore', { notBefore: new Date(), notAfter: new Date(0) }, /notAfter/],
    ['notBefore not a Date', { notBefore: '2020-01-01' }, /^notBefore must be a valid Date/],
    ['an invalid Date', { notAfter: new Date(Number.NaN) }, /^notAfter must be a valid Date/],
    [
      'a bad additional IP',
      { additionalIps: ['nope'] },
      /^additionalIps\[0\] must be an IPv4 or IPv6/,
    ],
    [
      'a bad additional DNS name',
      { additionalDnsNames: ['ok.example', 'bad name'] },
      /^additionalDnsNames\[1\] /,
    ],
    ['additionalIps not an array', { additionalIps: '::1' }, /^additionalIps must be an array/],
    ['an unknown key type', { keyType: 'dsa' }, /^keyType must be 'ecdsa' or 'rsa'/],
  ]
  it.each(bad)('server certificate: %s', async (_what, options, message) => {
    const err = await createServerCertificate(ca, options as never).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).code).toBe('WANFED_ERR_INVALID_ARG')
    expect((err as Error).message).toMatch(message)
  })

  it.each(bad.filter(([what]) => !what.startsWith('node')))(
    'client certificate: %s',
    async (_what, options, message) => {
      await expect(createClientCertificate(ca, options as never)).rejects.toThrow(message)
      await expect(createClientCertificate(ca, options as never)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      )
    },
  )

  it('CA options', async () => {
    for (const options of [
      { days: 0 },
      { keyType: 'ed25519' },
      { commonName: '' },
      { commonName: 'x'.repeat(65) },
      { notAfter: new Date(0) },
    ]) {
      await expect(createCertificateAuthority(options as never)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      )
    }
    await expect(createCertificateAuthority('nope' as never)).rejects.toThrow(
      /options must be an object/,
    )
  })

  it('a CA that is not a pair of PEM strings', async () => {
    await expect(createServerCertificate(null as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(createServerCertificate({ cert: 1, key: 2 } as never)).rejects.toThrow(
      /ca must be an object with PEM strings cert and key/,
    )
  })

  it('property: a datacenter is accepted exactly when it is one DNS label', () => {
    const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (s) => {
        let ok: boolean
        try {
          ok = checkDnsLabel(s, 'datacenter') === s
        } catch (err) {
          if (!(err instanceof InvalidArgumentError)) throw err
          ok = false
        }
        return ok === label.test(s)
      }),
      { numRuns: 500 },
    )
  })
})

describe('CA loading and CertificateError', () => {
  it('rejects a CA certificate that does not parse', async () => {
    const err = await createServerCertificate({ cert: 'not a pem', key: ca.key }).catch((e) => e)
    expect(err).toBeInstanceOf(CertificateError)
    expect(err.code).toBe('WANFED_ERR_CERT')
    expect(err.message).toMatch(/CA certificate is not a PEM X.509 certificate/)
  })

  it('rejects a CA key that does not parse', async () => {
    await expect(
      createServerCertificate({
        cert: ca.cert,
        key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      }),
    ).rejects.toThrow(CertificateError)
  })

  it('rejects a key that does not match the certificate', async () => {
    const other = await createCertificateAuthority()
    const err = await createServerCertificate({ cert: ca.cert, key: other.key }).catch((e) => e)
    expect(err).toBeInstanceOf(CertificateError)
    expect(err.message).toMatch(/does not match/)
    await expect(loadCertificateAuthority({ cert: other.cert, key: ca.key })).rejects.toThrow(
      /does not match/,
    )
  })

  it('rejects a certificate that is not a CA', async () => {
    const leaf = await createServerCertificate(ca)
    await expect(createServerCertificate(leaf)).rejects.toThrow(/is not a CA/)
  })

  it('loads a CA whose key is a SEC 1 "EC PRIVATE KEY", as Consul writes it', async () => {
    const sec1 = createPrivateKey(ca.key).export({ type: 'sec1', format: 'pem' }).toString()
    expect(sec1).toMatch(/BEGIN EC PRIVATE KEY/)
    const loaded = await loadCertificateAuthority({ cert: ca.cert, key: sec1 })
    expect(loaded.cert).toBe(ca.cert)
    const leaf = await createServerCertificate(loaded, { node: 'bob' })
    expectIssuedBy(leaf.cert, ca.cert)
  })

  it('loads an RSA CA with a PKCS#1 key and signs with it', async () => {
    const rsa = await createCertificateAuthority({ keyType: 'rsa' })
    const pkcs1 = createPrivateKey(rsa.key).export({ type: 'pkcs1', format: 'pem' }).toString()
    const leaf = await createClientCertificate({ cert: rsa.cert, key: pkcs1 })
    expectIssuedBy(leaf.cert, rsa.cert)
  })

  it("names the CA as the leaf's issuer, with the CA's key id as authority key id", async () => {
    const leaf = await createServerCertificate(ca)
    expect(x509(leaf.cert).issuer).toBe(x509(ca.cert).subject)
    const lib = await loadX509()
    const ski = new lib.X509Certificate(ca.cert).getExtension(lib.SubjectKeyIdentifierExtension)
    const aki = new lib.X509Certificate(leaf.cert).getExtension(lib.AuthorityKeyIdentifierExtension)
    expect(ski?.keyId).toMatch(/^[0-9a-f]{40}$/)
    expect(aki?.keyId).toBe(ski?.keyId)
  })

  it('leaves no Reflect metadata polyfill behind', async () => {
    await createServerCertificate(ca)
    const reflect = Reflect as unknown as { getMetadata?: unknown; defineMetadata?: unknown }
    expect(reflect.getMetadata).toBeUndefined()
    expect(reflect.defineMetadata).toBeUndefined()
  })
})

describe('IP SANs', () => {
  it('encode IPv6 addresses with an embedded IPv4 part exactly, and refuse zone ids', async () => {
    const ca = await createCertificateAuthority()
    const cases: [string, string][] = [
      ['::ffff:10.1.2.3', 'IP Address:0:0:0:0:0:FFFF:A01:203'],
      ['2001:db8::10.0.0.1', 'IP Address:2001:DB8:0:0:0:0:A00:1'],
      ['::1.2.3.4', 'IP Address:0:0:0:0:0:0:102:304'],
      ['2001:db8::1', 'IP Address:2001:DB8:0:0:0:0:0:1'],
    ]
    for (const [ip, san] of cases) {
      const { cert } = await createServerCertificate(ca, { datacenter: 'dc1', additionalIps: [ip] })
      expect(new X509Certificate(cert).subjectAltName, ip).toContain(san)
    }
    await expect(
      createServerCertificate(ca, { datacenter: 'dc1', additionalIps: ['fe80::1%eth0'] }),
    ).rejects.toThrow(/no zone id/)
  })
})

describe('an expired CA', () => {
  it('is refused before it signs anything', async () => {
    const ca = await createCertificateAuthority({
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-01-02T00:00:00Z'),
    })
    await expect(createServerCertificate(ca, { datacenter: 'dc1' })).rejects.toMatchObject({
      code: 'WANFED_ERR_CERT',
      message: expect.stringMatching(/expired/),
    })
  })
})
