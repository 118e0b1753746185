import { until } from '../helpers/net.ts'
/**
 * `wanfed gateway`, run in-process (stopped through `CliIo.signal`, or through the process signal
 * handlers it installs when there is none) carrying real mutual-TLS connections to `AlpnServer`s,
 * plus one run of the `bin/wanfed.js` launcher in a child process stopped with SIGTERM.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  ALPN_WAN_GOSSIP_STREAM,
  AlpnServer,
  type DialViaGatewayOptions,
  dialViaGateway,
} from '../../src/alpn/index.ts'
import { formatDuration, gatewayCommand } from '../../src/cli/gateway.ts'
import { DEFAULT_GATEWAY_LISTEN, DEFAULT_STATUS_INTERVAL_MS } from '../../src/cli/gateway-config.ts'
import { main } from '../../src/cli/main.ts'
import {
  DEFAULT_GATEWAY_CLOSE_GRACE_MS,
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_GATEWAY_CONNECTIONS,
} from '../../src/gateway/options.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { expectNoLeakedHandles, handleCounts } from '../helpers/leaks.ts'
import { spawnWanfedChild } from '../helpers/wanfed-child.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = join(ROOT, 'bin/wanfed.js')

let dir: string
let baseline: Map<string, number>
let signalListeners: { SIGINT: number; SIGTERM: number; SIGHUP: number }
const cleanups: (() => Promise<void> | void)[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wanfed-gw-cli-'))
  baseline = handleCounts()
  signalListeners = {
    SIGINT: process.listenerCount('SIGINT'),
    SIGTERM: process.listenerCount('SIGTERM'),
    SIGHUP: process.listenerCount('SIGHUP'),
  }
})

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  await rm(dir, { recursive: true, force: true })
  await expectNoLeakedHandles(baseline)
  expect({
    SIGINT: process.listenerCount('SIGINT'),
    SIGTERM: process.listenerCount('SIGTERM'),
    SIGHUP: process.listenerCount('SIGHUP'),
  }).toEqual(signalListeners)
})

interface Output {
  stdout: string
  stderr: string
}

function capture(): Output & {
  io: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } }
} {
  const out = {
    stdout: '',
    stderr: '',
    io: {
      stdout: {
        write: (s: string) => {
          out.stdout += s
          return true
        },
      },
      stderr: {
        write: (s: string) => {
          out.stderr += s
          return true
        },
      },
    },
  }
  return out
}

/** `wanfed <argv>` through main(), for commands that return on their own. */
async function wanfed(...argv: string[]): Promise<Output & { code: number }> {
  const out = capture()
  const code = await main(argv, { cwd: dir, ...out.io })
  return { code, stdout: out.stdout, stderr: out.stderr }
}

const STARTUP = /^gateway (\S+) listening on (\S+):(\d+) \(domain (\S+)\); routes: (.*)$/m

interface Running {
  out: Output
  port: number
  address: string
  /** The startup line. */
  startup: string
  /** Aborts the signal and resolves to the exit code. */
  stop(): Promise<number>
  done: Promise<number>
}

/** Runs `wanfed gateway <argv>` in-process until stop(); resolves once the startup line is out. */
async function gateway(...argv: string[]): Promise<Running> {
  const out = capture()
  const controller = new AbortController()
  const done = gatewayCommand.run(argv, { cwd: dir, ...out.io, signal: controller.signal })
  let finished = false
  done.then(
    () => {
      finished = true
    },
    () => {
      finished = true
    },
  )
  await until(() => STARTUP.test(out.stdout) || finished, 'the startup line')
  const m = STARTUP.exec(out.stdout)
  if (m === null) throw new Error(`gateway did not start: ${out.stderr}`)
  const stop = async () => {
    controller.abort()
    return done
  }
  cleanups.push(async () => {
    await stop()
  })
  return { out, port: Number(m[3]), address: `127.0.0.1:${m[3]}`, startup: m[0], stop, done }
}

/** An AlpnServer with a fixture identity whose stream protocol echoes; `seen.n` counts its connections. */
async function server(identity: 'bob' | 'betty', seen = { n: 0 }): Promise<string> {
  const s = new AlpnServer({ tls: { ca: caPem(), ...tlsFixture(identity) }, closeGraceMs: 100 })
  s.handle(ALPN_WAN_GOSSIP_STREAM, (socket) => {
    seen.n++
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  const { port } = await s.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => s.close())
  return `127.0.0.1:${port}`
}

async function dial(gw: string, over: Partial<DialViaGatewayOptions> = {}) {
  const socket = await dialViaGateway({
    gateway: gw,
    datacenter: 'dc1',
    node: 'bob',
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls: { ca: caPem(), ...tlsFixture('client') },
    handshakeTimeoutMs: 5_000,
    ...over,
  })
  socket.on('error', () => {})
  cleanups.push(() => {
    socket.destroy()
  })
  return socket
}

async function echo(socket: Socket, payload: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  const done = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      got += chunk.length
      if (got >= payload.length) {
        socket.off('data', onData)
        resolve()
      }
    }
    socket.on('data', onData)
  })
  socket.write(payload)
  await done
  return Buffer.concat(chunks)
}

async function closeSocket(socket: Socket): Promise<void> {
  if (socket.closed) return
  socket.end()
  await once(socket, 'close')
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }

/** Reads `<name> conns=.. active=.. in=.. out=..` from a status line; bytes in bytes. */
function route(line: string, name: string) {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const m = new RegExp(
    `${esc} conns=(\\d+) active=(\\d+) in=([\\d.]+)(B|KiB|MiB|GiB) out=([\\d.]+)(B|KiB|MiB|GiB)`,
  ).exec(line)
  if (m === null) throw new Error(`no ${name} in ${line}`)
  return {
    conns: Number(m[1]),
    active: Number(m[2]),
    bytesIn: Number(m[3]) * (UNITS[m[4] as string] as number),
    bytesOut: Number(m[5]) * (UNITS[m[6] as string] as number),
  }
}

function statusLines(out: Output): string[] {
  return out.stdout.split('\n').filter((l) => l.startsWith('status: '))
}

describe('wanfed gateway (in-process)', () => {
  it('routes a mutual-TLS connection to a local server, reports its bytes, stops on the signal', async () => {
    const bob = await server('bob')
    const gw = await gateway(
      '--dc',
      'dc1',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `bob=${bob}`,
      '--status-interval',
      '50ms',
    )
    expect(gw.startup).toBe(
      `gateway dc1 listening on 127.0.0.1:${gw.port} (domain consul); routes: bob.server.dc1.consul -> ${bob}; server.dc1.consul -> ${bob}`,
    )
    expect(gw.port).toBeGreaterThan(0)

    const payload = Buffer.alloc(100 * 1024, 7)
    const socket = await dial(gw.address)
    expect(socket.alpnProtocol).toBe(ALPN_WAN_GOSSIP_STREAM)
    expect((await echo(socket, payload)).equals(payload)).toBe(true)
    // The periodic status line sees the open connection and at least the payload both ways.
    await until(
      () =>
        statusLines(gw.out).some((l) => {
          const r = route(l, 'local-server')
          return r.active === 1 && r.bytesIn >= payload.length && r.bytesOut >= payload.length
        }),
      'a status line with the bytes',
    )
    const line = statusLines(gw.out).at(-1) as string
    expect(line).toMatch(
      /^status: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z open=1 rate=[\d.]+conn\/s in=\S+\/s out=\S+\/s \| local-server conns=1 active=1 in=\S+ out=\S+ \| /,
    )
    expect(line).toMatch(/local-any conns=0 active=0 in=0B out=0B \| rejected 0$/)

    await closeSocket(socket)
    const before = statusLines(gw.out).length
    expect(await gw.stop()).toBe(0)
    expect(gw.out.stderr).toBe('')
    expect(gw.out.stdout).toMatch(/stopping: closing\nstatus: [^\n]*\nclosed\n$/)
    const last = statusLines(gw.out).at(-1) as string
    expect(route(last, 'local-server')).toMatchObject({ conns: 1, active: 0 })
    // The interval is cleared: no status line after the final one.
    const after = statusLines(gw.out).length
    await new Promise((r) => setTimeout(r, 150))
    expect(statusLines(gw.out).length).toBe(after)
    expect(after).toBeGreaterThan(before)
  })

  it('runs from a config file with flag overrides and carries a connection two hops, to another DC', async () => {
    const betty = await server('betty')
    const gw2 = await gateway(
      '--dc',
      'dc2',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `betty=${betty}`,
      '--status-interval',
      '0',
    )
    await writeFile(
      join(dir, 'gw1.json'),
      JSON.stringify({
        datacenter: 'dc1',
        listen: '127.0.0.1:1', // overridden below
        servers: { bob: '127.0.0.1:1' },
        remoteGateways: { dc2: ['127.0.0.1:1'], dc3: ['127.0.0.1:2'] },
        helloTimeoutMs: 2000,
        statusIntervalMs: 0,
      }),
    )
    const gw1 = await gateway(
      '--config',
      'gw1.json',
      '--listen',
      '127.0.0.1:0',
      '--remote',
      `dc2=${gw2.address}`,
    )
    expect(gw1.startup).toContain(
      `routes: bob.server.dc1.consul -> 127.0.0.1:1; server.dc1.consul -> 127.0.0.1:1; *.server.dc2.consul -> ${gw2.address}; *.server.dc3.consul -> 127.0.0.1:2`,
    )

    const socket = await dial(gw1.address, { datacenter: 'dc2', node: 'betty' })
    const payload = Buffer.from('across the WAN')
    expect((await echo(socket, payload)).toString()).toBe('across the WAN')
    await closeSocket(socket)

    // A client that does not speak TLS is rejected and counted.
    const raw = netConnect({ host: '127.0.0.1', port: gw1.port })
    raw.on('error', () => {})
    await once(raw, 'connect')
    raw.write('GET / HTTP/1.0\r\n\r\n')
    await once(raw, 'close')

    expect(await gw1.stop()).toBe(0)
    expect(await gw2.stop()).toBe(0)
    const last1 = statusLines(gw1.out).at(-1) as string
    expect(route(last1, 'remote-dc:dc2')).toMatchObject({ conns: 1, active: 0 })
    expect(route(last1, 'remote-dc:dc2').bytesIn).toBeGreaterThan(payload.length)
    expect(route(last1, 'remote-dc:dc3')).toMatchObject({ conns: 0, bytesIn: 0 })
    expect(route(last1, 'local-server')).toMatchObject({ conns: 0 })
    expect(last1).toMatch(/\| rejected not-tls=1$/)
    const last2 = statusLines(gw2.out).at(-1) as string
    expect(route(last2, 'local-server')).toMatchObject({ conns: 1, active: 0 })
    // --status-interval 0: only the final status line.
    expect(statusLines(gw1.out)).toHaveLength(1)
    expect(statusLines(gw2.out)).toHaveLength(1)
  })

  it('without io.signal installs SIGINT/SIGTERM handlers: the first closes gracefully, a second at once, and they are removed', async () => {
    const bob = await server('bob')
    const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') }
    const out = capture()
    const done = main(
      [
        'gateway',
        '--dc',
        'dc1',
        '--listen',
        '127.0.0.1:0',
        '--server',
        `bob=${bob}`,
        '--close-grace',
        '20s',
        '--status-interval',
        '0',
      ],
      { cwd: dir, ...out.io },
    )
    await until(() => STARTUP.test(out.stdout), 'the startup line')
    const port = Number(STARTUP.exec(out.stdout)?.[3])
    // Call the handlers it added directly: emitting a real signal would reach the test runner too.
    const added = (name: 'SIGINT' | 'SIGTERM') =>
      process.listeners(name).filter((l) => !before[name].includes(l))
    expect(added('SIGINT')).toHaveLength(1)
    expect(added('SIGTERM')).toHaveLength(1)
    const onSigint = added('SIGINT')[0] as (s: string) => void
    const onSigterm = added('SIGTERM')[0] as (s: string) => void

    const socket = await dial(`127.0.0.1:${port}`)
    expect((await echo(socket, Buffer.from('x'))).toString()).toBe('x')
    const started = Date.now()
    onSigint('SIGINT')
    await until(() => out.stdout.includes('received SIGINT'), 'the shutdown line')
    expect(out.stdout).toContain(
      'received SIGINT: closing, 1 connection(s) open (send the signal again to close at once)\n',
    )
    // The spliced connection holds the graceful close (grace 20 s) until the second signal.
    await new Promise((r) => setTimeout(r, 100))
    expect(out.stdout).not.toContain('closed\n')
    onSigterm('SIGTERM')
    expect(await done).toBe(0)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(out.stdout).toMatch(/closing at once\nstatus: [^\n]*\nclosed\n$/)
    expect(added('SIGINT')).toHaveLength(0)
    expect(added('SIGTERM')).toHaveLength(0)
  })

  it('stops at once when the signal is already aborted', async () => {
    const out = capture()
    const code = await gatewayCommand.run(
      ['--dc', 'dc1', '--listen', '127.0.0.1:0', '--server', 'bob=127.0.0.1:1'],
      { cwd: dir, ...out.io, signal: AbortSignal.abort() },
    )
    expect(code).toBe(0)
    expect(out.stdout).toMatch(/listening on 127\.0\.0\.1:\d+[^\n]*\nstopping: closing\n/)
  })

  it('exits 1 naming the address when it cannot listen, and leaves nothing behind', async () => {
    const busy: Server = createServer()
    busy.listen(0, '127.0.0.1')
    await once(busy, 'listening')
    cleanups.push(() => new Promise<void>((r) => busy.close(() => r())))
    const { port } = busy.address() as { port: number }
    const r = await wanfed(
      'gateway',
      '--dc',
      'dc1',
      '--listen',
      `127.0.0.1:${port}`,
      '--server',
      'bob=127.0.0.1:1',
    )
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^Error: MeshGateway cannot listen on 127.0.0.1:\d+: .*EADDRINUSE/)
    expect(r.stdout).toBe('')
  })
})

describe('wanfed gateway --render', () => {
  beforeEach(async () => {
    await writeFile(
      join(dir, 'gw.json'),
      JSON.stringify({
        datacenter: 'dc1',
        listen: '0.0.0.0:8443',
        servers: { bob: '10.0.1.10:8300', alice: '10.0.1.11:8300' },
        remoteGateways: { dc2: ['10.0.2.1:8443', '10.0.2.2:8443'] },
        helloTimeoutMs: 3000,
        connectTimeoutMs: 4000,
        idleTimeoutMs: 60000,
        maxConnections: 500,
      }),
    )
  })

  it('haproxy: the same routes, listen address and timeouts; nothing starts', async () => {
    const r = await wanfed('gateway', '--config', 'gw.json', '--render', 'haproxy')
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    for (const line of [
      '# wanfed mesh gateway for dc1 (domain consul); generated by renderHaproxyConfig',
      '  maxconn 500',
      '  timeout connect 4000ms',
      '  timeout client 60000ms',
      '  bind 0.0.0.0:8443',
      '  tcp-request inspect-delay 3000ms',
      '  use_backend wanfed_alice_server_dc1_consul if { req.ssl_sni -i alice.server.dc1.consul }',
      '  use_backend wanfed_bob_server_dc1_consul if { req.ssl_sni -i bob.server.dc1.consul }',
      '  use_backend wanfed_server_dc1_consul if { req.ssl_sni -i server.dc1.consul }',
      '  use_backend wanfed_server_dc2_consul if { req.ssl_sni -i server.dc2.consul } || { req.ssl_sni -i -m end .server.dc2.consul }',
      '  server s0 10.0.2.1:8443',
      '  server s1 10.0.2.2:8443',
    ]) {
      expect(r.stdout).toContain(`${line}\n`)
    }
    expect(r.stdout).not.toMatch(/listening|status:/)
  })

  it('nginx: the same routes, with flags overriding the file', async () => {
    const r = await wanfed(
      'gateway',
      '--config',
      'gw.json',
      '--render',
      'nginx',
      '--listen',
      '127.0.0.1:9443',
      '--idle-timeout',
      '2m',
      '--remote',
      'dc3=10.0.3.1:8443',
    )
    expect(r.code).toBe(0)
    for (const line of [
      '    bob.server.dc1.consul wanfed_bob_server_dc1_consul;',
      '    alice.server.dc1.consul wanfed_alice_server_dc1_consul;',
      '    server.dc1.consul wanfed_server_dc1_consul;',
      '    .server.dc2.consul wanfed_server_dc2_consul;',
      '    .server.dc3.consul wanfed_server_dc3_consul;',
      '    server 10.0.3.1:8443;',
      '    listen 127.0.0.1:9443;',
      '    preread_timeout 3000ms;',
      '    proxy_connect_timeout 4000ms;',
      '    proxy_timeout 120000ms;',
      'events { worker_connections 500; }',
    ]) {
      expect(r.stdout).toContain(`${line}\n`)
    }
  })

  it('refuses what has no proxy equivalent, and an unknown renderer', async () => {
    const port0 = await wanfed(
      'gateway',
      '--config',
      'gw.json',
      '--render',
      'nginx',
      '--listen',
      '127.0.0.1:0',
    )
    expect(port0.code).toBe(1)
    expect(port0.stderr).toContain('--render needs a fixed listen port, got 127.0.0.1:0')
    const idle0 = await wanfed(
      'gateway',
      '--config',
      'gw.json',
      '--render',
      'haproxy',
      '--idle-timeout',
      '0',
    )
    expect(idle0.code).toBe(1)
    expect(idle0.stderr).toContain('an idle timeout of 0 (disabled) has no haproxy equivalent')
    const bad = await wanfed('gateway', '--config', 'gw.json', '--render', 'envoy')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      `Error: --render must be haproxy or nginx, got "envoy"\nRun 'wanfed gateway --help' for usage.\n`,
    )
  })
})

describe('wanfed gateway: bad input exits 1 and starts nothing', () => {
  async function expectRefused(args: string[], message: string) {
    const r = await wanfed('gateway', ...args)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(message)
    expect(r.stderr).not.toMatch(/\n\s+at /) // an expected failure: no stack
    expect(r.stdout).toBe('')
    // No listener was opened, not even briefly left behind.
    expect(handleCounts().get('TCPServerWrap') ?? 0).toBe(baseline.get('TCPServerWrap') ?? 0)
    return r
  }

  it('names the field of a bad config file, and the file', async () => {
    const cases: [unknown, string][] = [
      [
        { datacenter: 'dc1', servers: { bob: 'x' } },
        'Error: config: servers.bob: invalid address "x": expected host:port (IPv6 in brackets) (in gw.json)\n',
      ],
      [{ datacenter: 'dc1', servers: { bob: '1.2.3.4:1' }, port: 1 }, 'config: port: unknown key'],
      [
        { datacenter: 'dc1', servers: { bob: '1.2.3.4:1' }, helloTimeoutMs: '5s' },
        'config: helloTimeoutMs: expected a number of milliseconds, got "5s"',
      ],
      [
        { datacenter: 'd.c', servers: { bob: '1.2.3.4:1' } },
        'config: datacenter: invalid datacenter name "d.c"',
      ],
      [{ servers: { bob: '1.2.3.4:1' } }, 'config: datacenter: missing'],
      [{ datacenter: 'dc1' }, 'config: servers: missing'],
      [
        { datacenter: 'dc1', servers: { bob: '1.2.3.4:1' }, remoteGateways: { dc2: ['1.2.3.4'] } },
        'config: remoteGateways.dc2[0]: invalid address "1.2.3.4"',
      ],
    ]
    for (const [config, message] of cases) {
      await writeFile(join(dir, 'gw.json'), JSON.stringify(config))
      await expectRefused(['--config', 'gw.json', '--listen', '127.0.0.1:0'], message)
    }
  })

  it('names the path of a missing, unreadable or invalid JSON file', async () => {
    await expectRefused(['--config', 'nope.json'], 'Error: config file not found: nope.json\n')
    await mkdir(join(dir, 'sub'))
    await expectRefused(['--config', 'sub'], 'Error: cannot read config file sub: ')
    await writeFile(join(dir, 'bad.json'), '{"datacenter": "dc1",')
    await expectRefused(['--config', 'bad.json'], 'Error: config bad.json: invalid JSON: ')
  })

  it('names the flag of a bad flag value and points at --help', async () => {
    const r = await expectRefused(
      ['--dc', 'dc1', '--server', 'bob=127.0.0.1'],
      'Error: --server bob=127.0.0.1: invalid address "127.0.0.1": expected host:port',
    )
    expect(r.stderr).toContain("Run 'wanfed gateway --help' for usage.")
    await expectRefused(['--server', 'bob=127.0.0.1:1'], 'Error: --datacenter is required')
    await expectRefused(['--dc', 'dc1'], 'Error: --server node=host:port is required')
    await expectRefused(
      ['--dc', 'dc1', '--datacenter', 'dc1'],
      'give --datacenter or --dc, not both',
    )
    await expectRefused(
      ['--dc', 'dc1', '--server', 'bob=h:1', '--hello-timeout', '5 s'],
      '--hello-timeout: invalid duration "5 s"',
    )
    await expectRefused(
      ['--dc', 'dc1', '--server', 'bob=h:1', '--max-connections', 'x'],
      '--max-connections: expected a non-negative integer',
    )
    await expectRefused(
      ['--dc', 'dc1', '--server', 'bob=h:1', '--port', '1'],
      'unknown flag: --port',
    )
    await expectRefused(
      ['--dc', 'dc1', '--server', 'bob=h:1', 'extra'],
      'unexpected argument: extra',
    )
  })

  it('--help prints the usage with the config schema; wanfed --help lists the command', async () => {
    const help = await wanfed('gateway', '--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: wanfed gateway [--config <path>] [options]')
    expect(help.stdout).toContain('--status-interval <duration>')
    expect(help.stdout).toContain('"remoteGateways": { "dc2": ["10.0.2.1:8443"] }')
    expect((await wanfed('--help')).stdout).toMatch(/\n {2}gateway +Run a mesh gateway/)
  })
})

describe('bin/wanfed.js gateway (child process)', () => {
  /** In a source checkout the launcher runs src/ through tsx, so it is the code under test. */
  async function launcher(): Promise<string> {
    return BIN
  }

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'starts, prints the startup line, and exits 0 on %s',
    async (sig) => {
      const bin = await launcher()
      const child: ChildProcess = spawn(
        process.execPath,
        [bin, 'gateway', '--dc', 'dc1', '--listen', '127.0.0.1:0', '--server', 'bob=127.0.0.1:1'],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      cleanups.push(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      })
      let stdout = ''
      let stderr = ''
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString()
      })
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => resolve(code)),
      )
      await until(() => STARTUP.test(stdout) || child.exitCode !== null, 'the startup line', 15_000)
      expect(stderr).toBe('')
      expect(stdout).toMatch(
        /^gateway dc1 listening on 127\.0\.0\.1:\d+ \(domain consul\); routes: bob\.server\.dc1\.consul -> 127\.0\.0\.1:1; server\.dc1\.consul -> 127\.0\.0\.1:1\n/,
      )
      const sent = Date.now()
      child.kill(sig)
      expect(await exited).toBe(0)
      expect(Date.now() - sent).toBeLessThan(3_000)
      expect(stdout).toMatch(new RegExp(`received ${sig}: closing\\nstatus: [^\\n]*\\nclosed\\n$`))
      expect(stderr).toBe('')
    },
  )
})

interface Child {
  child: ChildProcess
  out: Output
  exited: Promise<number | null>
  port: number
  address: string
}

/** `bin/wanfed.js <argv>` in a child process; with `started`, resolves once the startup line is out. */
async function spawnWanfed(argv: string[], started = true): Promise<Child> {
  const { child, out, exited } = spawnWanfedChild(argv, cleanups, dir)
  let port = 0
  if (started) {
    await until(
      () => STARTUP.test(out.stdout) || child.exitCode !== null,
      'the startup line',
      15_000,
    )
    const m = STARTUP.exec(out.stdout)
    if (m === null) throw new Error(`gateway did not start: ${out.stderr}`)
    port = Number(m[3])
  } else {
    await exited
  }
  return { child, out, exited, port, address: `127.0.0.1:${port}` }
}

describe('bin/wanfed.js: what operators look at (child process)', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(
      await import('node:fs/promises').then((fs) =>
        fs.readFile(join(ROOT, 'package.json'), 'utf8'),
      ),
    ) as { version: string }
    const r = await spawnWanfed(['--version'], false)
    expect(await r.exited).toBe(0)
    expect(r.out.stdout).toBe(`wanfed ${version}\n`)
    expect(r.out.stderr).toBe('')
    expect((await wanfed('--help')).stdout).toContain('--version  Print the version and exit')
  })

  it('--help shows the defaults the code uses', async () => {
    const r = await spawnWanfed(['gateway', '--help'], false)
    expect(await r.exited).toBe(0)
    const help = r.out.stdout
    const flag = (name: string) => help.split('\n').find((l) => l.startsWith(`  --${name} `)) ?? ''
    expect(flag('max-connections')).toContain(`(default ${DEFAULT_MAX_GATEWAY_CONNECTIONS})`)
    expect(DEFAULT_MAX_GATEWAY_CONNECTIONS).toBe(4096)
    expect(flag('hello-timeout')).toContain(`(default ${formatDuration(DEFAULT_HELLO_TIMEOUT_MS)})`)
    expect(flag('connect-timeout')).toContain(
      `(default ${formatDuration(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)})`,
    )
    expect(flag('idle-timeout')).toContain(`(default ${formatDuration(DEFAULT_IDLE_TIMEOUT_MS)})`)
    expect(flag('close-grace')).toContain(
      `(default ${formatDuration(DEFAULT_GATEWAY_CLOSE_GRACE_MS)})`,
    )
    expect(flag('status-interval')).toContain(
      `(default ${formatDuration(DEFAULT_STATUS_INTERVAL_MS)})`,
    )
    expect(flag('listen')).toContain(`(default ${DEFAULT_GATEWAY_LISTEN};`)
    expect(help).toContain(`"maxConnections": ${DEFAULT_MAX_GATEWAY_CONNECTIONS},`)
    expect(formatDuration(600_000)).toBe('10m')
    expect(formatDuration(1_500)).toBe('1500ms')
  })

  it('status lines carry an ISO timestamp and the rates since the previous line; a rejection is logged with its reason and SNI', async () => {
    const bob = await server('bob')
    const gw = await spawnWanfed([
      'gateway',
      '--dc',
      'dc1',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `bob=${bob}`,
      '--status-interval',
      '200ms',
    ])
    const payload = Buffer.alloc(256 * 1024, 3)
    const socket = await dial(gw.address)
    expect((await echo(socket, payload)).equals(payload)).toBe(true)
    // A name with no route: refused, and the log line names why and the SNI.
    const err = await dial(gw.address, { node: 'nobody' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    await until(
      () => /rejected 127\.0\.0\.1:\d+: reason=unknown-route/.test(gw.out.stdout),
      'the rejection line',
    )
    expect(gw.out.stdout).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z rejected 127\.0\.0\.1:\d+: reason=unknown-route sni=nobody\.server\.dc1\.consul$/m,
    )
    const LINE =
      /^status: (\S+) open=\d+ rate=([\d.]+)conn\/s in=([\d.]+)(B|KiB|MiB)\/s out=([\d.]+)(B|KiB|MiB)\/s \| /
    // Some line saw the traffic as a rate; once quiet, a later line reads zero.
    await until(
      () =>
        statusLines(gw.out).some((l) => {
          const m = LINE.exec(l)
          return (
            m !== null && Number(m[2]) > 0 && Number(m[3]) * (UNITS[m[4] as string] as number) > 0
          )
        }),
      'a status line with non-zero rates',
    )
    await until(() => {
      const m = LINE.exec(statusLines(gw.out).at(-1) ?? '')
      return m !== null && m[2] === '0' && m[3] === '0'
    }, 'a quiet status line')
    for (const l of statusLines(gw.out)) {
      const m = LINE.exec(l)
      expect(m, l).not.toBeNull()
      expect(new Date(m?.[1] as string).toISOString()).toBe(m?.[1])
    }
    await closeSocket(socket)
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
  })

  it('SIGHUP reloads the config: new connections go to the new server, an open one keeps flowing; a bad file is refused and the old config kept', async () => {
    const oldSeen = { n: 0 }
    const newSeen = { n: 0 }
    const oldBob = await server('bob', oldSeen)
    const newBob = await server('bob', newSeen)
    const config = (bob: string) =>
      JSON.stringify({ datacenter: 'dc1', servers: { bob }, statusIntervalMs: 0 })
    await writeFile(join(dir, 'gw.json'), config(oldBob))
    const gw = await spawnWanfed(['gateway', '--config', 'gw.json', '--listen', '127.0.0.1:0'])
    const established = await dial(gw.address)
    expect((await echo(established, Buffer.from('one'))).toString()).toBe('one')
    expect(oldSeen.n).toBe(1)

    await writeFile(join(dir, 'gw.json'), config(newBob))
    gw.child.kill('SIGHUP')
    await until(() => gw.out.stdout.includes('reloaded gw.json'), 'the reload line')
    expect(gw.out.stdout).toContain(
      `reloaded gw.json: routes: bob.server.dc1.consul -> ${newBob}; server.dc1.consul -> ${newBob}\n`,
    )
    const fresh = await dial(gw.address)
    expect((await echo(fresh, Buffer.from('two'))).toString()).toBe('two')
    expect(newSeen.n).toBe(1)
    expect(oldSeen.n).toBe(1)
    // The connection made before the reload still flows through the old route.
    expect((await echo(established, Buffer.from('still here'))).toString()).toBe('still here')

    await writeFile(join(dir, 'gw.json'), '{"datacenter": "dc1",')
    gw.child.kill('SIGHUP')
    await until(() => gw.out.stderr.includes('reload of gw.json refused'), 'the refusal')
    expect(gw.out.stderr).toMatch(
      /^reload of gw\.json refused: config gw\.json: invalid JSON: .*; keeping the running config\n$/,
    )
    const third = await dial(gw.address)
    expect((await echo(third, Buffer.from('three'))).toString()).toBe('three')
    expect(newSeen.n).toBe(2)
    expect(gw.child.exitCode).toBe(null)

    for (const s of [established, fresh, third]) await closeSocket(s)
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
  })
})
