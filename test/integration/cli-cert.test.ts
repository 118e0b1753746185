/**
 * `wanfed cert create`, run in-process through `main()` in a fresh temporary directory per test,
 * plus one run of the real `bin/wanfed.js` in a child process.
 */

import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.ts'

const DAY = 86_400_000
const BIN = fileURLToPath(new URL('../../bin/wanfed.js', import.meta.url))

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wanfed-cli-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface Run {
  code: number
  stdout: string
  stderr: string
}

async function wanfed(...argv: string[]): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await main(argv, {
    cwd: dir,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  })
  return { code, stdout, stderr }
}

const certCreate = (...args: string[]) => wanfed('cert', 'create', ...args)

async function files(sub = '.'): Promise<string[]> {
  return (await readdir(join(dir, sub))).sort()
}

async function cert(name: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(join(dir, name)))
}

async function sans(name: string): Promise<string[]> {
  return ((await cert(name)).subjectAltName ?? '').split(', ')
}

async function expectFailure(args: string[], message: RegExp | string, before: string[] = []) {
  const r = await certCreate(...args)
  expect(r.code).toBe(1)
  expect(r.stderr).toMatch(typeof message === 'string' ? message : message)
  expect(r.stdout).not.toMatch(/Saved/)
  expect(await files()).toEqual(before)
  return r
}

const CA_FILES = ['consul-agent-ca-key.pem', 'consul-agent-ca.pem']

describe('wanfed cert create --ca', () => {
  it('writes consul-agent-ca.pem and its key, as Consul names them, key mode 0600', async () => {
    const r = await certCreate('--ca')
    expect(r).toEqual({
      code: 0,
      stdout: '==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n',
      stderr: '',
    })
    expect(await files()).toEqual(CA_FILES)
    const ca = await cert('consul-agent-ca.pem')
    expect(ca.ca).toBe(true)
    expect(ca.subject).toMatch(/^CN=Consul Agent CA \d+$/)
    expect(Math.abs(Date.parse(ca.validTo) - (Date.now() + 1825 * DAY))).toBeLessThan(120_000)
    expect((await stat(join(dir, 'consul-agent-ca-key.pem'))).mode & 0o777).toBe(0o600)
    expect(await readFile(join(dir, 'consul-agent-ca-key.pem'), 'utf8')).toMatch(
      /^-----BEGIN PRIVATE KEY-----/,
    )
  })

  it('names the files after --domain (one trailing dot stripped)', async () => {
    expect((await certCreate('--ca', '--domain', 'example.')).code).toBe(0)
    expect(await files()).toEqual(['example-agent-ca-key.pem', 'example-agent-ca.pem'])
  })

  it('refuses to overwrite an existing CA and leaves it untouched', async () => {
    await certCreate('--ca')
    const before = await readFile(join(dir, 'consul-agent-ca.pem'), 'utf8')
    const r = await expectFailure(
      ['--ca'],
      /consul-agent-ca\.pem already exists; refusing to overwrite/,
      CA_FILES,
    )
    expect(r.stderr).toContain(join(dir, 'consul-agent-ca.pem'))
    expect(await readFile(join(dir, 'consul-agent-ca.pem'), 'utf8')).toBe(before)
  })

  it('refuses when only the key file exists, writing nothing', async () => {
    await writeFile(join(dir, 'consul-agent-ca-key.pem'), 'keep me')
    await expectFailure(['--ca'], /consul-agent-ca-key\.pem already exists/, [
      'consul-agent-ca-key.pem',
    ])
    expect(await readFile(join(dir, 'consul-agent-ca-key.pem'), 'utf8')).toBe('keep me')
  })

  it('takes --days, --key-type rsa, --dir, and --ca-file / --key-file as output paths', async () => {
    expect(
      (await certCreate('--ca', '--days', '30', '--key-type', 'rsa', '--dir', 'out/ca')).code,
    ).toBe(0)
    expect(await files('out/ca')).toEqual(CA_FILES)
    const ca = await cert('out/ca/consul-agent-ca.pem')
    expect(ca.publicKey.asymmetricKeyType).toBe('rsa')
    expect(Math.abs(Date.parse(ca.validTo) - (Date.now() + 30 * DAY))).toBeLessThan(120_000)

    const r = await certCreate('--ca', '--ca-file', 'mine.pem', '--key-file', 'keys/mine-key.pem')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('==> Saved mine.pem\n==> Saved keys/mine-key.pem\n')
  })

  it('refuses flags that only apply to leaf certificates', async () => {
    await expectFailure(['--ca', '--dc', 'dc2'], /--dc applies to --server and --client/)
    await expectFailure(['--ca', '--additional-dnsname', 'x'], /--additional-dnsname applies/)
    await expectFailure(['--ca', '--node', 'bob'], /-node requires -server/)
    await expectFailure(['--ca', '--server'], /--ca cannot be combined/)
  })
})

describe('wanfed cert create --server / --client', () => {
  beforeEach(async () => {
    expect((await certCreate('--ca')).code).toBe(0)
  })

  it("writes dc1-server-consul-0.pem with Consul's SANs and prints what it did", async () => {
    const r = await certCreate('--server')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toContain('==> WARNING: Server Certificates grants authority')
    expect(r.stdout).toContain('==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n')
    expect(r.stdout).toMatch(
      /==> Saved dc1-server-consul-0\.pem\n==> Saved dc1-server-consul-0-key\.pem\n$/,
    )
    expect(await files()).toEqual([
      ...CA_FILES,
      'dc1-server-consul-0-key.pem',
      'dc1-server-consul-0.pem',
    ])
    const c = await cert('dc1-server-consul-0.pem')
    expect(c.subject).toBe('CN=server.dc1.consul')
    expect(await sans('dc1-server-consul-0.pem')).toEqual([
      'DNS:server.dc1.consul',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ])
    expect(c.checkIssued(await cert('consul-agent-ca.pem'))).toBe(true)
    expect(c.verify((await cert('consul-agent-ca.pem')).publicKey)).toBe(true)
    expect(Math.abs(Date.parse(c.validTo) - (Date.now() + 365 * DAY))).toBeLessThan(120_000)
    expect((await stat(join(dir, 'dc1-server-consul-0-key.pem'))).mode & 0o777).toBe(0o600)
  })

  it("Consul's server1-with-node case: -server -node mysrv after a first server", async () => {
    await certCreate('-server')
    const r = await certCreate('-server', '-node', 'mysrv')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('==> Saved dc1-server-consul-1.pem')
    const c = await cert('dc1-server-consul-1.pem')
    expect(c.subject).toBe('CN=server.dc1.consul')
    expect(await sans('dc1-server-consul-1.pem')).toEqual([
      'DNS:mysrv.server.dc1.consul',
      'DNS:server.dc1.consul',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ])
  })

  it('never overwrites: takes the first index whose cert and key are both free', async () => {
    await certCreate('--server')
    await certCreate('--server')
    await unlink(join(dir, 'dc1-server-consul-0-key.pem'))
    // Index 0 still has its certificate, so Consul skips it; 1 is taken; 2 is next.
    const r = await certCreate('--server')
    expect(r.stdout).toContain('==> Saved dc1-server-consul-2.pem')
    await unlink(join(dir, 'dc1-server-consul-1.pem'))
    await unlink(join(dir, 'dc1-server-consul-1-key.pem'))
    expect((await certCreate('--server')).stdout).toContain('==> Saved dc1-server-consul-1.pem')
  })

  it('--dc, --node and additional names, in Consul order', async () => {
    const r = await certCreate(
      '--server',
      '--dc=dc2',
      '--node',
      'betty',
      '--additional-dnsname',
      'gw.example.com',
      '--additional-dnsname',
      ' ',
      '--additional-ipaddress',
      '::1',
      '--additional-ipaddress=10.1.2.3',
    )
    expect(r.code).toBe(0)
    expect(await sans('dc2-server-consul-0.pem')).toEqual([
      'DNS:gw.example.com',
      'DNS:betty.server.dc2.consul',
      'DNS:server.dc2.consul',
      'DNS:localhost',
      'IP Address:0:0:0:0:0:0:0:1',
      'IP Address:10.1.2.3',
      'IP Address:127.0.0.1',
    ])
  })

  it('--domain with a trailing dot', async () => {
    await certCreate('--ca', '--domain', 'example')
    expect((await certCreate('--server', '--domain', 'example.', '--node', 'bob')).code).toBe(0)
    expect(await sans('dc1-server-example-0.pem')).toEqual([
      'DNS:bob.server.dc1.example',
      'DNS:server.dc1.example',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ])
    // Signed by example-agent-ca.pem, the CA for that domain.
    expect(
      (await cert('dc1-server-example-0.pem')).checkIssued(await cert('example-agent-ca.pem')),
    ).toBe(true)
  })

  it('--client writes dc1-client-consul-0.pem', async () => {
    const r = await certCreate('--client', '--days', '10')
    expect(r.code).toBe(0)
    expect(r.stdout).not.toContain('WARNING')
    expect(r.stdout).toContain(
      '==> Saved dc1-client-consul-0.pem\n==> Saved dc1-client-consul-0-key.pem\n',
    )
    const c = await cert('dc1-client-consul-0.pem')
    expect(c.subject).toBe('CN=client.dc1.consul')
    expect(await sans('dc1-client-consul-0.pem')).toEqual([
      'DNS:client.dc1.consul',
      'DNS:localhost',
      'IP Address:127.0.0.1',
    ])
    expect(c.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'])
    expect(Math.abs(Date.parse(c.validTo) - (Date.now() + 10 * DAY))).toBeLessThan(120_000)
    expect((await certCreate('--client')).stdout).toContain('dc1-client-consul-1.pem')
  })

  it('--key-type rsa', async () => {
    expect((await certCreate('--server', '--key-type', 'rsa')).code).toBe(0)
    expect((await cert('dc1-server-consul-0.pem')).publicKey.asymmetricKeyType).toBe('rsa')
  })

  it('--dir: writes there and finds the default CA there', async () => {
    expect((await certCreate('--ca', '--dir', 'tls')).code).toBe(0)
    const r = await certCreate('--server', '--dir', 'tls', '--node', 'bob')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('==> Using tls/consul-agent-ca.pem and tls/consul-agent-ca-key.pem')
    expect(r.stdout).toContain('==> Saved tls/dc1-server-consul-0.pem')
    expect(
      (await cert('tls/dc1-server-consul-0.pem')).checkIssued(
        await cert('tls/consul-agent-ca.pem'),
      ),
    ).toBe(true)
  })

  it('--ca-file / --key-file choose the signing CA', async () => {
    await mkdir(join(dir, 'other'))
    await certCreate('--ca', '--dir', 'other')
    const r = await certCreate(
      '--client',
      '--ca-file',
      'other/consul-agent-ca.pem',
      '--key-file',
      join(dir, 'other/consul-agent-ca-key.pem'),
    )
    expect(r.code).toBe(0)
    const c = await cert('dc1-client-consul-0.pem')
    expect(c.checkIssued(await cert('other/consul-agent-ca.pem'))).toBe(true)
    expect(c.checkIssued(await cert('consul-agent-ca.pem'))).toBe(false)
  })

  it('a CA key that does not match the certificate: error, nothing written', async () => {
    await certCreate('--ca', '--dir', 'other')
    const before = await files()
    const r = await expectFailure(
      ['--server', '--key-file', 'other/consul-agent-ca-key.pem'],
      /does not match the CA certificate/,
      before,
    )
    expect(r.stderr).toContain('other/consul-agent-ca-key.pem')
  })
})

describe('wanfed cert create: errors write nothing', () => {
  it('--node without --server', async () => {
    await certCreate('--ca')
    for (const args of [
      ['--client', '--node', 'x'],
      ['--node', 'x'],
      ['-client', '-node', 'x'],
    ]) {
      const r = await expectFailure(args, '-node requires -server', CA_FILES)
      expect(r.stderr).toContain('--node requires --server')
    }
  })

  it('neither or both of --server and --client', async () => {
    await certCreate('--ca')
    await expectFailure([], /give exactly one of --server or --client/, CA_FILES)
    await expectFailure(
      ['--server', '--client'],
      /give exactly one of --server or --client/,
      CA_FILES,
    )
  })

  it('an unknown flag, named', async () => {
    await certCreate('--ca')
    const r = await expectFailure(['--server', '--bogus'], 'unknown flag: --bogus', CA_FILES)
    expect(r.stderr).toContain("Run 'wanfed cert create --help' for usage.")
    await expectFailure(['--server', 'stray'], 'unexpected argument: stray', CA_FILES)
    await expectFailure(['--server', '--dc'], '--dc needs a value', CA_FILES)
    await expectFailure(
      ['--server', '--dc', 'a', '--dc', 'b'],
      '--dc was given more than once',
      CA_FILES,
    )
    await expectFailure(['--server=yes'], '--server takes no value', CA_FILES)
  })

  it.each(['0', '-3', 'abc', '1.5', '', '99999999999999999999'])('bad --days %j', async (days) => {
    await certCreate('--ca')
    await expectFailure(['--server', '--days', days], '--days must be a positive integer', CA_FILES)
  })

  it.each(['dc.1', 'dc_1', '-dc', '', 'a b'])('bad --dc %j', async (dc) => {
    await certCreate('--ca')
    await expectFailure(['--server', '--dc', dc], /--dc must be a DNS label/, CA_FILES)
  })

  it('bad --node, --domain, --additional-* and --key-type', async () => {
    await certCreate('--ca')
    await expectFailure(['--server', '--node', 'bob.dc1'], /--node must be a DNS label/, CA_FILES)
    await expectFailure(['--server', '--node', 'a/b'], /--node must be a DNS label/, CA_FILES)
    await expectFailure(
      ['--server', '--domain', 'consul..'],
      /--domain must be a DNS name/,
      CA_FILES,
    )
    await expectFailure(
      ['--server', '--additional-ipaddress', '1.2.3'],
      /--additional-ipaddress must be an IPv4 or IPv6/,
      CA_FILES,
    )
    await expectFailure(
      ['--server', '--additional-dnsname', 'a..b'],
      /--additional-dnsname must be a DNS name/,
      CA_FILES,
    )
    await expectFailure(
      ['--server', '--key-type', 'dsa'],
      '--key-type must be ecdsa or rsa',
      CA_FILES,
    )
  })

  it('a missing CA names the path', async () => {
    const r = await expectFailure(['--server'], 'CA certificate not found')
    expect(r.stderr).toContain(join(dir, 'consul-agent-ca.pem'))
    await expectFailure(['--server', '--ca-file', 'nope/ca.pem'], join(dir, 'nope/ca.pem'))
  })

  it('a missing CA key names the path', async () => {
    await certCreate('--ca')
    await unlink(join(dir, 'consul-agent-ca-key.pem'))
    const r = await expectFailure(['--client'], 'CA key not found', ['consul-agent-ca.pem'])
    expect(r.stderr).toContain(join(dir, 'consul-agent-ca-key.pem'))
  })

  it('a CA file that is not a certificate', async () => {
    await certCreate('--ca')
    await writeFile(join(dir, 'consul-agent-ca.pem'), 'garbage')
    await expectFailure(['--server'], /not a PEM X.509 certificate/, CA_FILES)
  })
})

describe('wanfed command dispatch', () => {
  it('--help prints usage and exits 0', async () => {
    const r = await certCreate('--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Usage: wanfed cert create')
    expect(r.stdout).toContain('--additional-dnsname <name>')
    for (const argv of [['--help'], ['cert', '--help'], ['help']]) {
      const top = await wanfed(...argv)
      expect(top.code).toBe(0)
      expect(top.stdout).toContain('Commands:')
    }
    expect((await wanfed('cert', '--help')).stdout).toContain('create')
  })

  it('no command or an unknown one exits 1', async () => {
    const none = await wanfed()
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('Usage: wanfed <command>')
    const unknown = await wanfed('nope')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('unknown command: nope')
    expect((await wanfed('cert', 'destroy')).stderr).toContain('unknown command: destroy')
    expect(await files()).toEqual([])
  })
})

describe('bin/wanfed.js', () => {
  function runBin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd: dir, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
          resolve({ code, stdout, stderr })
        },
      )
    })
  }

  it('runs `cert create --ca` in a child process, then refuses a second time', async () => {
    const ok = await runBin(['cert', 'create', '--ca'])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe('==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n')
    expect(await files()).toEqual(CA_FILES)
    const again = await runBin(['cert', 'create', '--ca'])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already exists')
  })
})
