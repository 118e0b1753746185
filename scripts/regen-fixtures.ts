/**
 * Regenerates the TLS fixtures in test/fixtures/tls/ (see its README.md for what each one is).
 *
 *   npx tsx scripts/regen-fixtures.ts
 *
 * The normal certificates are made with the `wanfed cert create` command itself (its in-process
 * `main()`), so the tool is exercised; the expired one needs dates the command does not take, so it
 * comes from the library. Everything is valid for 100 years (36500 days) so the committed fixtures
 * do not expire. Existing fixtures are replaced.
 */

import { X509Certificate } from 'node:crypto'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServerCertificate, loadCertificateAuthority } from '../src/certs/index.ts'
import { main } from '../src/cli/main.ts'

const OUT = fileURLToPath(new URL('../test/fixtures/tls/', import.meta.url))
const DAYS = '36500'

async function wanfed(dir: string, ...args: string[]): Promise<void> {
  let err = ''
  const code = await main(['cert', 'create', ...args, '--days', DAYS], {
    cwd: dir,
    stdout: { write: () => true },
    stderr: { write: (s: string) => (err += s) },
  })
  if (code !== 0) throw new Error(`wanfed cert create ${args.join(' ')} failed: ${err}`)
}

async function take(dir: string, from: string, to: string): Promise<void> {
  await copyFile(join(dir, `${from}.pem`), join(OUT, `${to}.pem`))
  await copyFile(join(dir, `${from}-key.pem`), join(OUT, `${to}-key.pem`))
  console.log(`wrote ${to}.pem, ${to}-key.pem`)
}

const work = await mkdtemp(join(tmpdir(), 'wanfed-fixtures-'))
try {
  const mainDir = join(work, 'main')
  const otherDir = join(work, 'other')

  // The CA and the leaves it signs. Servers carry ::1 as well as 127.0.0.1.
  await wanfed(mainDir, '--ca', '--dir', mainDir)
  await take(mainDir, 'consul-agent-ca', 'ca')
  const servers: [name: string, dc: string][] = [
    ['bob', 'dc1'],
    ['betty', 'dc2'],
    ['bonnie', 'dc3'],
  ]
  for (const [name, dc] of servers) {
    await wanfed(
      mainDir,
      '--server',
      '--dc',
      dc,
      '--node',
      name,
      '--additional-ipaddress',
      '::1',
      '--dir',
      mainDir,
    )
    await take(mainDir, `${dc}-server-consul-0`, name)
  }
  // alice: a dc1 server with no node SAN (Consul's Alice.crt: server.dc1.consul only).
  await wanfed(
    mainDir,
    '--server',
    '--dc',
    'dc1',
    '--additional-ipaddress',
    '::1',
    '--dir',
    mainDir,
  )
  await take(mainDir, 'dc1-server-consul-1', 'alice')
  await wanfed(mainDir, '--client', '--dc', 'dc1', '--dir', mainDir)
  await take(mainDir, 'dc1-client-consul-0', 'client')

  // A second, unrelated CA, and a server certificate from it with bob's names.
  await wanfed(otherDir, '--ca', '--dir', otherDir)
  await take(otherDir, 'consul-agent-ca', 'other-ca')
  await wanfed(
    otherDir,
    '--server',
    '--dc',
    'dc1',
    '--node',
    'bob',
    '--additional-ipaddress',
    '::1',
    '--dir',
    otherDir,
  )
  await take(otherDir, 'dc1-server-consul-0', 'other-server')

  // Expired: bob's names from the main CA, valid for one day in 2020.
  const ca = await loadCertificateAuthority({
    cert: await readFile(join(OUT, 'ca.pem'), 'utf8'),
    key: await readFile(join(OUT, 'ca-key.pem'), 'utf8'),
  })
  const expired = await createServerCertificate(ca, {
    datacenter: 'dc1',
    node: 'bob',
    additionalIps: ['::1'],
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2020-01-02T00:00:00Z'),
  })
  await writeFile(join(OUT, 'expired.pem'), expired.cert)
  await writeFile(join(OUT, 'expired-key.pem'), expired.key, { mode: 0o600 })
  console.log('wrote expired.pem, expired-key.pem')

  // Sanity: every leaf is issued by the CA it should be.
  const caCert = new X509Certificate(await readFile(join(OUT, 'ca.pem')))
  const otherCa = new X509Certificate(await readFile(join(OUT, 'other-ca.pem')))
  for (const name of ['bob', 'betty', 'bonnie', 'alice', 'client', 'expired', 'other-server']) {
    const cert = new X509Certificate(await readFile(join(OUT, `${name}.pem`)))
    const issuer = name === 'other-server' ? otherCa : caCert
    if (!cert.verify(issuer.publicKey)) throw new Error(`${name}.pem is not signed by its CA`)
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
