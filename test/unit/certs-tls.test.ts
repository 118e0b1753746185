/**
 * The certificates on real sockets: mutual TLS on 127.0.0.1 with Node's own verification, the
 * cases Consul's ALPN wrapper tests cover (reference §8), with our committed fixtures.
 */

import type { Socket } from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type CertificateKeyPair,
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
} from '../../src/certs/index.ts'
import { caPem, otherCaPem, tlsFixture } from '../helpers/fixtures.ts'

interface HandshakeOptions {
  server: CertificateKeyPair
  client?: CertificateKeyPair
  /** CA the server trusts for client certificates. Default: the main fixture CA. */
  serverCa?: string
  /** CA the client trusts for the server certificate. Default: the main fixture CA. */
  clientCa?: string
  servername: string
}

interface HandshakeResult {
  /** `'ok'` or the client's error code. */
  client: string
  /** `'ok'`, the server's error code, or `'none'` when the server saw nothing conclusive. */
  server: string
  /** CN of the client certificate as the server saw it. */
  peerSubject?: string
}

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}

async function handshake(opts: HandshakeOptions): Promise<HandshakeResult> {
  const sockets = new Set<Socket>()
  let peerSubject: string | undefined
  const server = tls.createServer({
    ...opts.server,
    ca: opts.serverCa ?? caPem(),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('error', () => {})
  })
  const serverResult = new Promise<string>((resolve) => {
    server.on('secureConnection', (s) => {
      s.on('error', () => {})
      const cn = s.getPeerCertificate().subject?.CN
      peerSubject = Array.isArray(cn) ? cn.join(',') : cn
      resolve('ok')
    })
    server.on('tlsClientError', (err) => resolve(codeOf(err)))
  })
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')

  const client = tls.connect({
    host: '127.0.0.1',
    port: address.port,
    servername: opts.servername,
    ca: opts.clientCa ?? caPem(),
    ...(opts.client ?? tlsFixture('client')),
    minVersion: 'TLSv1.2',
  })
  cleanups.push(async () => {
    client.destroy()
  })
  const clientResult = await new Promise<string>((resolve) => {
    client.on('secureConnect', () => resolve('ok'))
    client.on('error', (err) => resolve(codeOf(err)))
  })
  const serverSaw = await Promise.race([
    serverResult,
    new Promise<string>((resolve) => setTimeout(() => resolve('none'), 2_000).unref()),
  ])
  return {
    client: clientResult,
    server: serverSaw,
    ...(peerSubject === undefined ? {} : { peerSubject }),
  }
}

describe('mutual TLS with the fixtures', () => {
  it('bob with SNI bob.server.dc1.consul and the client certificate: succeeds both ways', async () => {
    const r = await handshake({ server: tlsFixture('bob'), servername: 'bob.server.dc1.consul' })
    expect(r).toEqual({ client: 'ok', server: 'ok', peerSubject: 'client.dc1.consul' })
  })

  it('bob with the "any server" SNI server.dc1.consul: succeeds', async () => {
    const r = await handshake({ server: tlsFixture('bob'), servername: 'server.dc1.consul' })
    expect(r.client).toBe('ok')
    expect(r.server).toBe('ok')
  })

  it('a server certificate works as the client certificate (serverAuth + clientAuth)', async () => {
    const r = await handshake({
      server: tlsFixture('bob'),
      client: tlsFixture('betty'),
      servername: 'bob.server.dc1.consul',
    })
    expect(r).toEqual({ client: 'ok', server: 'ok', peerSubject: 'server.dc2.consul' })
  })

  it.each([
    ['betty', 'betty.server.dc2.consul'],
    ['bonnie', 'bonnie.server.dc3.consul'],
  ])('%s with SNI %s: succeeds', async (name, servername) => {
    const r = await handshake({ server: tlsFixture(name), servername })
    expect(r.client).toBe('ok')
    expect(r.server).toBe('ok')
  })

  it('bob with SNI bob.server.dc2.consul: ERR_TLS_CERT_ALTNAME_INVALID', async () => {
    const r = await handshake({ server: tlsFixture('bob'), servername: 'bob.server.dc2.consul' })
    expect(r.client).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  it('alice (no node SAN) with SNI bob.server.dc1.consul: ERR_TLS_CERT_ALTNAME_INVALID', async () => {
    const r = await handshake({ server: tlsFixture('alice'), servername: 'bob.server.dc1.consul' })
    expect(r.client).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
    const any = await handshake({ server: tlsFixture('alice'), servername: 'server.dc1.consul' })
    expect(any.client).toBe('ok')
  })

  it('an expired server certificate: CERT_HAS_EXPIRED', async () => {
    const r = await handshake({
      server: tlsFixture('expired'),
      servername: 'bob.server.dc1.consul',
    })
    expect(r.client).toBe('CERT_HAS_EXPIRED')
  })

  it('a server certificate from another CA (right names): fails verification', async () => {
    const r = await handshake({
      server: tlsFixture('other-server'),
      servername: 'bob.server.dc1.consul',
    })
    expect(r.client).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  it('the other CA trusts other-server and nothing from the main CA', async () => {
    const ok = await handshake({
      server: tlsFixture('other-server'),
      client: tlsFixture('other-server'),
      serverCa: otherCaPem(),
      clientCa: otherCaPem(),
      servername: 'bob.server.dc1.consul',
    })
    expect(ok.client).toBe('ok')
    expect(ok.server).toBe('ok')
  })

  it('the server refuses a client certificate from another CA', async () => {
    const r = await handshake({
      server: tlsFixture('bob'),
      client: tlsFixture('other-server'),
      servername: 'bob.server.dc1.consul',
    })
    expect(r.server).not.toBe('ok')
    expect(r.server).not.toBe('none')
    expect(r.peerSubject).toBeUndefined()
  })

  it('the server refuses an expired client certificate', async () => {
    const r = await handshake({
      server: tlsFixture('bob'),
      client: tlsFixture('expired'),
      servername: 'bob.server.dc1.consul',
    })
    expect(r.server).not.toBe('ok')
    expect(r.server).not.toBe('none')
  })
})

describe('mutual TLS with freshly made certificates', () => {
  it('an RSA CA, an RSA server and an ECDSA client', async () => {
    const ca = await createCertificateAuthority({ keyType: 'rsa' })
    const server = await createServerCertificate(ca, {
      datacenter: 'dc9',
      node: 'zed',
      domain: 'example.',
      keyType: 'rsa',
    })
    const client = await createClientCertificate(ca, { datacenter: 'dc9', domain: 'example' })
    const r = await handshake({
      server,
      client,
      serverCa: ca.cert,
      clientCa: ca.cert,
      servername: 'zed.server.dc9.example',
    })
    expect(r).toEqual({ client: 'ok', server: 'ok', peerSubject: 'client.dc9.example' })
  })

  it('an additional DNS name is accepted as SNI', async () => {
    const ca = await createCertificateAuthority()
    const server = await createServerCertificate(ca, { additionalDnsNames: ['gw.example.net'] })
    const client = await createClientCertificate(ca)
    const r = await handshake({
      server,
      client,
      serverCa: ca.cert,
      clientCa: ca.cert,
      servername: 'gw.example.net',
    })
    expect(r.client).toBe('ok')
  })
})
