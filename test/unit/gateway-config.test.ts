import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CommandError, UsageError } from '../../src/cli/args.ts'
import { formatBytes, formatStatus } from '../../src/cli/gateway.ts'
import {
  CONFIG_KEYS,
  DEFAULT_GATEWAY_LISTEN,
  DEFAULT_STATUS_INTERVAL_MS,
  parseDuration,
  parseGatewayConfig,
  parseGatewayConfigText,
  parseGatewayFlags,
  readGatewayConfig,
  resolveGatewaySettings,
} from '../../src/cli/gateway-config.ts'
import { StatusMeter } from '../../src/cli/status.ts'
import type { MeshGatewayStats } from '../../src/gateway/index.ts'

const FULL = {
  datacenter: 'DC1',
  domain: 'Example.',
  listen: '[::1]:8443',
  servers: { Bob: '10.0.1.10:8300', alice: 'alice.internal:8300' },
  remoteGateways: { dc2: ['10.0.2.1:8443', '10.0.2.2:8443', '10.0.2.1:8443'], dc3: ['gw.dc3:443'] },
  helloTimeoutMs: 1000,
  connectTimeoutMs: 2000,
  idleTimeoutMs: 0,
  maxConnections: 100,
  closeGraceMs: 0,
  statusIntervalMs: 0,
}

function configError(value: unknown): string {
  try {
    parseGatewayConfig(value)
  } catch (err) {
    expect(err).toBeInstanceOf(CommandError)
    expect(err).not.toBeInstanceOf(UsageError)
    return (err as Error).message
  }
  throw new Error('expected parseGatewayConfig to throw')
}

const withKey = (key: string, value: unknown) => ({
  datacenter: 'dc1',
  servers: { bob: '127.0.0.1:8300' },
  [key]: value,
})

describe('parseGatewayConfig', () => {
  it('reads every field, lowercasing names and dropping duplicate gateways', () => {
    expect(parseGatewayConfig(FULL)).toEqual({
      datacenter: 'dc1',
      domain: 'example',
      listen: '[::1]:8443',
      servers: { bob: '10.0.1.10:8300', alice: 'alice.internal:8300' },
      remoteGateways: { dc2: ['10.0.2.1:8443', '10.0.2.2:8443'], dc3: ['gw.dc3:443'] },
      helloTimeoutMs: 1000,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 0,
      maxConnections: 100,
      closeGraceMs: 0,
      statusIntervalMs: 0,
    })
  })

  it('accepts an empty object (required fields are checked after the flags are merged)', () => {
    expect(parseGatewayConfig({})).toEqual({})
  })

  it('refuses a top level that is not an object', () => {
    expect(configError([])).toBe('config: expected a JSON object at the top level, got an array')
    expect(configError(null)).toMatch(/top level, got null/)
    expect(configError('dc1')).toMatch(/top level, got "dc1"/)
  })

  it('refuses unknown keys, naming them and the known ones', () => {
    expect(configError(withKey('remotes', {}))).toMatch(
      /^config: remotes: unknown key \(known keys: datacenter, domain, listen, servers, remoteGateways, /,
    )
    expect(configError(withKey('helloTimeout', 5))).toMatch(/^config: helloTimeout: unknown key/)
  })

  it.each([
    ['datacenter', 1, 'config: datacenter: expected a string, got 1'],
    [
      'datacenter',
      'a.b',
      'config: datacenter: invalid datacenter name "a.b": expected one DNS label',
    ],
    ['datacenter', '', 'config: datacenter: invalid datacenter name ""'],
    ['datacenter', '-dc', 'config: datacenter: invalid datacenter name "-dc"'],
    ['domain', true, 'config: domain: expected a string, got true'],
    ['domain', 'a..b', 'config: domain: invalid domain "a..b": expected a DNS name'],
    ['domain', 'has space', 'config: domain: invalid domain "has space"'],
    ['listen', 8443, 'config: listen: expected a host:port string, got 8443'],
    [
      'listen',
      '8443',
      'config: listen: invalid address "8443": expected host:port (IPv6 in brackets)',
    ],
    ['listen', '::1:8443', 'config: listen: invalid address "::1:8443"'],
    ['listen', '[::1]8443', 'config: listen: invalid address "[::1]8443"'],
    ['listen', 'a b:1', 'config: listen: invalid address "a b:1"'],
    ['listen', 'host:x', 'config: listen: invalid address "host:x"'],
    ['listen', 'host:70000', 'config: listen: invalid port in "host:70000": expected 0-65535'],
    [
      'servers',
      [],
      'config: servers: expected an object of node name to "host:port", got an array',
    ],
    ['servers', 'bob', 'config: servers: expected an object'],
    ['remoteGateways', ['dc2'], 'config: remoteGateways: expected an object of datacenter to'],
  ])('%s = %j: %s', (key, value, message) => {
    const err = configError(
      key === 'datacenter' ? { datacenter: value } : { datacenter: 'dc1', [key]: value },
    )
    expect(err.startsWith(message)).toBe(true)
  })

  it('names the server entry with a bad address or name', () => {
    expect(configError(withKey('servers', { bob: 'x' }))).toBe(
      'config: servers.bob: invalid address "x": expected host:port (IPv6 in brackets)',
    )
    expect(configError(withKey('servers', { bob: 8300 }))).toBe(
      'config: servers.bob: expected a host:port string, got 8300',
    )
    expect(configError(withKey('servers', { bob: '10.0.0.1:0' }))).toBe(
      'config: servers.bob: invalid port in "10.0.0.1:0": expected 1-65535',
    )
    expect(configError(withKey('servers', { 'b.ob': '10.0.0.1:1' }))).toMatch(
      /^config: servers\.b\.ob: invalid node name "b\.ob": expected one DNS label/,
    )
    expect(configError(withKey('servers', { Bob: '10.0.0.1:1', bob: '10.0.0.1:2' }))).toBe(
      'config: servers.bob: node bob is listed twice',
    )
  })

  it('names the remote gateway entry with a bad address, name or shape', () => {
    expect(configError(withKey('remoteGateways', { dc2: ['10.0.2.1:8443', 'nope'] }))).toBe(
      'config: remoteGateways.dc2[1]: invalid address "nope": expected host:port (IPv6 in brackets)',
    )
    expect(configError(withKey('remoteGateways', { dc2: '10.0.2.1:8443' }))).toBe(
      'config: remoteGateways.dc2: expected an array of "host:port", got "10.0.2.1:8443"',
    )
    expect(configError(withKey('remoteGateways', { dc2: [] }))).toBe(
      'config: remoteGateways.dc2: expected at least one gateway address',
    )
    expect(configError(withKey('remoteGateways', { 'dc 2': ['1.2.3.4:1'] }))).toMatch(
      /^config: remoteGateways\.dc 2: invalid datacenter name "dc 2"/,
    )
    expect(configError(withKey('remoteGateways', { DC2: ['1.2.3.4:1'], dc2: ['1.2.3.4:2'] }))).toBe(
      'config: remoteGateways.dc2: datacenter dc2 is listed twice',
    )
  })

  it.each([
    ['helloTimeoutMs', 1],
    ['connectTimeoutMs', 1],
    ['idleTimeoutMs', 0],
    ['closeGraceMs', 0],
    ['statusIntervalMs', 0],
  ])('%s must be a whole number of ms from %i', (key, min) => {
    expect(parseGatewayConfig(withKey(key, min))).toMatchObject({ [key]: min })
    expect(parseGatewayConfig(withKey(key, 2_147_483_647))).toMatchObject({
      [key]: 2_147_483_647,
    })
    expect(configError(withKey(key, '5s'))).toBe(
      `config: ${key}: expected a number of milliseconds, got "5s"`,
    )
    expect(configError(withKey(key, min - 1))).toBe(
      `config: ${key}: expected a whole number of milliseconds in ${min}..2147483647, got ${min - 1}`,
    )
    expect(configError(withKey(key, 1.5))).toMatch(`config: ${key}: expected a whole number`)
    expect(configError(withKey(key, 2_147_483_648))).toMatch(`config: ${key}: expected a whole`)
  })

  it('maxConnections is a non-negative integer', () => {
    expect(parseGatewayConfig(withKey('maxConnections', 0))).toMatchObject({ maxConnections: 0 })
    for (const bad of [-1, 1.5, '10', null]) {
      expect(configError(withKey('maxConnections', bad))).toMatch(
        /^config: maxConnections: expected a non-negative integer \(0 = no limit\), got /,
      )
    }
  })
})

describe('parseGatewayConfigText and readGatewayConfig', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wanfed-gwconf-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('names the file on invalid JSON and on a bad field', () => {
    expect(() => parseGatewayConfigText('{"datacenter": ', 'gw.json')).toThrow(
      /^config gw\.json: invalid JSON: /,
    )
    expect(() => parseGatewayConfigText('{"servers": {"bob": "x"}}', 'gw.json')).toThrow(
      'config: servers.bob: invalid address "x": expected host:port (IPv6 in brackets) (in gw.json)',
    )
  })

  it('reads a file, and names a missing or unreadable one', async () => {
    const path = join(dir, 'gw.json')
    await writeFile(path, JSON.stringify({ datacenter: 'dc1' }))
    expect(await readGatewayConfig(path)).toEqual({ datacenter: 'dc1' })
    await expect(readGatewayConfig(join(dir, 'nope.json'), 'nope.json')).rejects.toThrow(
      'config file not found: nope.json',
    )
    await expect(readGatewayConfig(dir, 'a-dir')).rejects.toThrow(
      /^cannot read config file a-dir: /,
    )
  })
})

describe('parseDuration', () => {
  it('takes milliseconds or a number with ms, s, m or h', () => {
    expect(parseDuration('1500', '--x')).toBe(1500)
    expect(parseDuration('250ms', '--x')).toBe(250)
    expect(parseDuration('5s', '--x')).toBe(5000)
    expect(parseDuration('1.5s', '--x')).toBe(1500)
    expect(parseDuration('2m', '--x')).toBe(120_000)
    expect(parseDuration('1h', '--x')).toBe(3_600_000)
    expect(parseDuration('0', '--x')).toBe(0)
  })

  it('refuses other forms, fractions of a ms, and values out of range, naming the flag', () => {
    for (const bad of ['', '5 sec', '-1', '1d', 's', '1e3']) {
      expect(() => parseDuration(bad, '--idle-timeout')).toThrow(
        new RegExp(`^--idle-timeout: invalid duration ${JSON.stringify(bad)}`),
      )
    }
    expect(() => parseDuration('0.5ms', '--x')).toThrow(/--x: "0.5ms" is out of range/)
    expect(() => parseDuration('0', '--hello-timeout', 1)).toThrow(
      '--hello-timeout: "0" is out of range: expected a whole number of milliseconds in 1..2147483647',
    )
    expect(() => parseDuration('25d', '--x')).toThrow(UsageError)
    expect(() => parseDuration('600h', '--x')).toThrow(/out of range/)
  })
})

describe('parseGatewayFlags', () => {
  it('turns every flag into a config value', () => {
    expect(
      parseGatewayFlags({
        datacenter: 'DC1',
        domain: 'example',
        listen: '0.0.0.0:0',
        server: ['bob=10.0.1.10:8300', 'Alice=[::1]:8300'],
        remote: ['dc2=10.0.2.1:8443', 'dc2=10.0.2.2:8443', 'dc2=10.0.2.1:8443', 'dc3=gw:1'],
        helloTimeout: '2s',
        connectTimeout: '3000',
        idleTimeout: '0',
        closeGrace: '100ms',
        statusInterval: '1m',
        maxConnections: '50',
      }),
    ).toEqual({
      datacenter: 'dc1',
      domain: 'example',
      listen: '0.0.0.0:0',
      servers: { bob: '10.0.1.10:8300', alice: '[::1]:8300' },
      remoteGateways: { dc2: ['10.0.2.1:8443', '10.0.2.2:8443'], dc3: ['gw:1'] },
      helloTimeoutMs: 2000,
      connectTimeoutMs: 3000,
      idleTimeoutMs: 0,
      closeGraceMs: 100,
      statusIntervalMs: 60_000,
      maxConnections: 50,
    })
    expect(parseGatewayFlags({ server: [], remote: [] })).toEqual({})
  })

  it.each([
    [{ datacenter: 'a.b' }, '--datacenter: invalid datacenter name "a.b"'],
    [{ domain: 'a..b' }, '--domain: invalid domain "a..b"'],
    [{ listen: 'localhost' }, '--listen: invalid address "localhost": expected host:port'],
    [{ server: ['bob'] }, '--server bob: expected node=host:port'],
    [{ server: ['=1.2.3.4:5'] }, '--server =1.2.3.4:5: expected node=host:port'],
    [{ server: ['bob=x'] }, '--server bob=x: invalid address "x": expected host:port'],
    [{ server: ['b.b=1.2.3.4:5'] }, '--server b.b=1.2.3.4:5: invalid node name "b.b"'],
    [
      { server: ['bob=1.2.3.4:5', 'BOB=1.2.3.4:6'] },
      '--server BOB=1.2.3.4:6: node bob is given twice',
    ],
    [{ remote: ['dc2'] }, '--remote dc2: expected dc=host:port'],
    [{ remote: ['dc2=1.2.3.4'] }, '--remote dc2=1.2.3.4: invalid address "1.2.3.4"'],
    [{ remote: ['d c=1.2.3.4:1'] }, '--remote d c=1.2.3.4:1: invalid datacenter name "d c"'],
    [{ helloTimeout: '0' }, '--hello-timeout: "0" is out of range'],
    [{ connectTimeout: 'soon' }, '--connect-timeout: invalid duration "soon"'],
    [{ idleTimeout: '-5s' }, '--idle-timeout: invalid duration "-5s"'],
    [{ closeGrace: '1w' }, '--close-grace: invalid duration "1w"'],
    [{ statusInterval: '10 s' }, '--status-interval: invalid duration "10 s"'],
    [
      { maxConnections: '-1' },
      '--max-connections: expected a non-negative integer (0 = no limit), got "-1"',
    ],
    [{ maxConnections: 'many' }, '--max-connections: expected a non-negative integer'],
  ])('%j: %s', (flags, message) => {
    let error: unknown
    try {
      parseGatewayFlags(flags)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(UsageError)
    expect((error as Error).message.startsWith(message)).toBe(true)
  })
})

describe('resolveGatewaySettings', () => {
  it('fills in the defaults', () => {
    expect(
      resolveGatewaySettings(undefined, { datacenter: 'dc1', servers: { bob: 'h:1' } }),
    ).toEqual({
      datacenter: 'dc1',
      domain: undefined,
      listen: DEFAULT_GATEWAY_LISTEN,
      servers: { bob: 'h:1' },
      remoteGateways: {},
      helloTimeoutMs: undefined,
      connectTimeoutMs: undefined,
      idleTimeoutMs: undefined,
      maxConnections: undefined,
      closeGraceMs: undefined,
      statusIntervalMs: DEFAULT_STATUS_INTERVAL_MS,
    })
    expect(DEFAULT_GATEWAY_LISTEN).toBe('127.0.0.1:8443')
    expect(DEFAULT_STATUS_INTERVAL_MS).toBe(10_000)
  })

  it('lets flags override the file: values replace, servers merge by node, remotes by DC', () => {
    const file = parseGatewayConfig(FULL)
    const flags = parseGatewayFlags({
      datacenter: 'dc9',
      listen: '127.0.0.1:0',
      server: ['bob=127.0.0.1:1', 'carol=127.0.0.1:2'],
      remote: ['dc2=127.0.0.1:3', 'dc9=127.0.0.1:4'],
      helloTimeout: '7s',
      idleTimeout: '1m',
      maxConnections: '0',
      statusInterval: '50ms',
    })
    expect(resolveGatewaySettings(file, flags, 'gw.json')).toEqual({
      datacenter: 'dc9',
      domain: 'example',
      listen: '127.0.0.1:0',
      servers: { bob: '127.0.0.1:1', alice: 'alice.internal:8300', carol: '127.0.0.1:2' },
      // dc9 is now the local datacenter: its entry is dropped.
      remoteGateways: { dc2: ['127.0.0.1:3'], dc3: ['gw.dc3:443'] },
      helloTimeoutMs: 7000,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 60_000,
      maxConnections: 0,
      closeGraceMs: 0,
      statusIntervalMs: 50,
    })
  })

  it('drops a remoteGateways entry for the local datacenter', () => {
    const file = parseGatewayConfig({
      datacenter: 'dc1',
      servers: { bob: 'h:1' },
      remoteGateways: { dc1: ['h:2'], dc2: ['h:3'] },
    })
    expect(resolveGatewaySettings(file, {}).remoteGateways).toEqual({ dc2: ['h:3'] })
  })

  it('names a missing datacenter or server: in the config file, or as a flag', () => {
    expect(() => resolveGatewaySettings({ servers: { bob: 'h:1' } }, {}, 'gw.json')).toThrow(
      "config: datacenter: missing: the gateway's own datacenter is required (in gw.json; or pass --datacenter on the command line)",
    )
    expect(() => resolveGatewaySettings({ datacenter: 'dc1', servers: {} }, {}, 'gw.json')).toThrow(
      /^config: servers: missing: at least one local server .* \(in gw\.json; or pass --server node=host:port/,
    )
    expect(() => resolveGatewaySettings(undefined, { servers: { bob: 'h:1' } })).toThrow(
      new UsageError("--datacenter is required: missing: the gateway's own datacenter is required"),
    )
    expect(() => resolveGatewaySettings(undefined, { datacenter: 'dc1' })).toThrow(
      /^--server node=host:port is required/,
    )
    // A flag fills in what the file lacks.
    expect(
      resolveGatewaySettings({ servers: { bob: 'h:1' } }, { datacenter: 'dc1' }, 'gw.json')
        .datacenter,
    ).toBe('dc1')
  })
})

describe('status line', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0B')
    expect(formatBytes(1023)).toBe('1023B')
    expect(formatBytes(1024)).toBe('1KiB')
    expect(formatBytes(1536)).toBe('1.5KiB')
    expect(formatBytes(800 * 1024)).toBe('800KiB')
    expect(formatBytes(1.2 * 1024 * 1024)).toBe('1.2MiB')
    expect(formatBytes(5 * 1024 ** 4)).toBe('5TiB')
  })

  it('shows traffic per local route and per remote DC, and the rejections seen', () => {
    const t = (connections: number, bytesIn: number, bytesOut: number, connectFailures = 0) => ({
      connections,
      active: 1,
      bytesIn,
      bytesOut,
      connectFailures,
    })
    const stats = {
      status: 'listening',
      accepted: 9,
      open: 2,
      pending: 0,
      routes: {
        'local-server': t(3, 1.2 * 1024 * 1024, 800 * 1024),
        'local-any': t(0, 0, 0),
        'remote-dc': t(2, 10, 20, 1),
      },
      targets: {
        'server.dc2.consul': { kind: 'remote-dc', ...t(2, 10, 20, 1) },
        'bob.server.dc1.consul': { kind: 'local-server', ...t(3, 1, 1) },
      },
      rejected: { 'no-sni': 1, 'unknown-route': 0, 'hello-timeout': 2 },
      idleTimeouts: 0,
    } as unknown as MeshGatewayStats
    expect(formatStatus(stats, ['dc2', 'dc3'])).toBe(
      'status: open=2 | local-server conns=3 active=1 in=1.2MiB out=800KiB | local-any conns=0 active=1 in=0B out=0B | remote-dc:dc2 conns=2 active=1 in=10B out=20B failed=1 | remote-dc:dc3 conns=0 active=0 in=0B out=0B | rejected no-sni=1 hello-timeout=2',
    )
    expect(formatStatus({ ...stats, targets: {}, rejected: { 'no-sni': 0 } } as never, [])).toMatch(
      /local-any conns=0 active=1 in=0B out=0B \| rejected 0$/,
    )
  })
})

describe('status rates', () => {
  it('measures connections and bytes per second since the previous line, with a timestamp', () => {
    let now = 1_000
    const meter = new StatusMeter(() => now)
    const traffic = (bytesIn: number, bytesOut: number) => ({
      connections: 0,
      active: 0,
      bytesIn,
      bytesOut,
      connectFailures: 0,
    })
    const stats = (accepted: number, bytesIn: number, bytesOut: number) =>
      ({
        status: 'listening',
        accepted,
        open: 0,
        pending: 0,
        routes: {
          'local-server': traffic(bytesIn, 0),
          'local-any': traffic(0, bytesOut),
          'remote-dc': traffic(0, 0),
        },
        targets: {},
        rejected: {},
        idleTimeouts: 0,
      }) as unknown as MeshGatewayStats
    now += 2_000
    expect(meter.rates(stats(4, 2048, 1024))).toEqual({
      connectionsPerSec: 2,
      bytesInPerSec: 1024,
      bytesOutPerSec: 512,
    })
    now += 500
    expect(meter.rates(stats(5, 2048, 1024))).toEqual({
      connectionsPerSec: 2,
      bytesInPerSec: 0,
      bytesOutPerSec: 0,
    })
    const at = new Date('2026-01-02T03:04:05.678Z')
    expect(
      formatStatus(stats(5, 0, 0), [], {
        at,
        rates: { connectionsPerSec: 2.25, bytesInPerSec: 1536, bytesOutPerSec: 0 },
      }),
    ).toMatch(
      /^status: 2026-01-02T03:04:05\.678Z open=0 rate=2\.3conn\/s in=1\.5KiB\/s out=0B\/s \| local-server /,
    )
  })
})

describe('README gateway commands', () => {
  it('name a config file that exists where the command runs (the checkout root) and is valid', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url))
    const readme = await readFile(`${root}README.md`, 'utf8')
    const paths = [...readme.matchAll(/wanfed gateway --config (\S+)/g)].map((m) => m[1] as string)
    expect(paths.length).toBeGreaterThan(0)
    for (const path of paths) {
      expect(existsSync(`${root}${path}`), path).toBe(true)
      expect((await readGatewayConfig(`${root}${path}`)).datacenter).toBe('dc1')
    }
  })
})

describe('examples/gateway.json', () => {
  it('is a valid config that sets every key', async () => {
    const path = fileURLToPath(new URL('../../examples/gateway.json', import.meta.url))
    const config = await readGatewayConfig(path)
    expect(Object.keys(config).sort()).toEqual([...CONFIG_KEYS].sort())
    expect(resolveGatewaySettings(config, {}, path).datacenter).toBe('dc1')
  })
})

describe('names that are Object.prototype keys', () => {
  it('keeps a node and a DC named __proto__ like any other', () => {
    const config = parseGatewayConfig(
      JSON.parse(
        '{"datacenter":"dc1","servers":{"__proto__":"127.0.0.1:1"},"remoteGateways":{"__proto__":["127.0.0.1:2"]}}',
      ),
    )
    expect(Object.keys(config.servers ?? {})).toEqual(['__proto__'])
    expect(Object.entries(config.servers ?? {})).toEqual([['__proto__', '127.0.0.1:1']])
    expect(Object.keys(config.remoteGateways ?? {})).toEqual(['__proto__'])
  })
})
