/**
 * Credentials fail closed: every constructor that builds a TLS context (or dials with one later)
 * refuses a missing, empty or unparsable `ca`, `cert` or `key`, and a key that does not match its
 * certificate, with a typed local error and without opening anything (the leak guard checks after
 * each test). Without this, `ca: undefined` made Node trust its default store, and a `ca` with no
 * certificate in it was silently ignored.
 */

import { describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_PACKET,
  AlpnServer,
  dialViaGateway,
  type TlsCredentials,
} from '../../src/alpn/index.ts'
import { FederationControlPlane } from '../../src/locator/federation/control-plane.ts'
import { FederationStateClient } from '../../src/locator/federation/rpc-client.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { closedPort } from '../helpers/net.ts'

const { clock } = leakGuard()

const good = (): TlsCredentials => ({ ca: caPem(), ...tlsFixture('bob') })

/** Each bad credential set, with the error it must raise. */
const BAD: [string, () => unknown, string][] = [
  ['no credentials at all', () => undefined, 'WANFED_ERR_INVALID_ARG'],
  ['ca undefined', () => ({ ...good(), ca: undefined }), 'WANFED_ERR_INVALID_ARG'],
  ['ca empty', () => ({ ...good(), ca: '' }), 'WANFED_ERR_INVALID_ARG'],
  ['ca an empty list', () => ({ ...good(), ca: [] }), 'WANFED_ERR_INVALID_ARG'],
  ['ca garbage', () => ({ ...good(), ca: 'not a certificate' }), 'WANFED_ERR_CERT'],
  [
    'ca a PEM block that does not parse',
    () => ({ ...good(), ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }),
    'WANFED_ERR_CERT',
  ],
  ['ca a private key', () => ({ ...good(), ca: tlsFixture('ca').key }), 'WANFED_ERR_CERT'],
  ['cert undefined', () => ({ ...good(), cert: undefined }), 'WANFED_ERR_INVALID_ARG'],
  ['cert empty', () => ({ ...good(), cert: '' }), 'WANFED_ERR_INVALID_ARG'],
  ['cert garbage', () => ({ ...good(), cert: 'garbage' }), 'WANFED_ERR_CERT'],
  ['key undefined', () => ({ ...good(), key: undefined }), 'WANFED_ERR_INVALID_ARG'],
  ['key empty', () => ({ ...good(), key: Buffer.alloc(0) }), 'WANFED_ERR_INVALID_ARG'],
  ['key garbage', () => ({ ...good(), key: 'garbage' }), 'WANFED_ERR_CERT'],
  [
    'key not matching the certificate',
    () => ({ ...good(), key: tlsFixture('alice').key }),
    'WANFED_ERR_CERT',
  ],
  ['minVersion unknown', () => ({ ...good(), minVersion: 'SSLv3' }), 'WANFED_ERR_INVALID_ARG'],
]

function expectRefused(fn: () => unknown, code: string): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown).toMatchObject({ code, remote: false })
}

function transport(tls: unknown): WanfedTransport {
  return new WanfedTransport({
    transport: new MemoryNetwork({ clock }).createTransport('bob.dc1'),
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({ dc2: ['127.0.0.1:1'] }, { clock }),
    tls: tls as TlsCredentials,
    clock,
  })
}

describe('credentials fail closed', () => {
  for (const [what, creds, code] of BAD) {
    it(`${what}: refused by AlpnServer, dialViaGateway, WanfedTransport, FederationStateClient and FederationControlPlane`, async () => {
      expectRefused(() => new AlpnServer({ tls: creds() as TlsCredentials, clock }), code)
      const port = await closedPort()
      await expect(
        dialViaGateway({
          gateway: `127.0.0.1:${port}`,
          datacenter: 'dc1',
          node: 'bob',
          alpn: ALPN_WAN_GOSSIP_PACKET,
          tls: creds() as TlsCredentials,
          clock,
        }),
      ).rejects.toMatchObject({ code, remote: false })
      expectRefused(() => transport(creds()), code)
      expectRefused(
        () =>
          new FederationStateClient({
            datacenter: 'dc1',
            locator: new StaticGatewayLocator({ dc1: ['127.0.0.1:1'] }, { clock }),
            tls: creds() as TlsCredentials,
            clock,
          }),
        code,
      )
      await expect(
        FederationControlPlane.start({
          datacenter: 'dc2',
          primaryDatacenter: 'dc1',
          primaryGateways: [`127.0.0.1:${port}`],
          tls: creds() as TlsCredentials,
          clock,
        }),
      ).rejects.toMatchObject({ code, remote: false })
    })
  }

  it('refuses bad credentials on rotation too, keeping the old ones', async () => {
    const server = new AlpnServer({ tls: good(), clock })
    expectRefused(
      () => server.setTlsCredentials({ ...good(), ca: undefined } as unknown as TlsCredentials),
      'WANFED_ERR_INVALID_ARG',
    )
    expectRefused(
      () => server.setTlsCredentials({ ...good(), key: tlsFixture('alice').key }),
      'WANFED_ERR_CERT',
    )
    const t = transport(good())
    expectRefused(() => t.setTlsCredentials({ ...good(), ca: '' }), 'WANFED_ERR_INVALID_ARG')
    await server.close()
    await t.close()
  })

  it('accepts a CA bundle given as a list or as concatenated PEM', () => {
    const bundle = `${tlsFixture('other-ca').cert}\n${caPem()}`
    for (const ca of [[tlsFixture('other-ca').cert, caPem()], bundle, Buffer.from(bundle)]) {
      const server = new AlpnServer({ tls: { ...good(), ca }, clock })
      void server.close()
    }
  })
})
