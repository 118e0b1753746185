import { afterEach, describe, expect, it } from 'vitest'
import { hasCommand } from '../lib/processes.ts'
import { type DemoChild, spawnDemo } from './demo-child.ts'
import { LIMITS, parseDemoArgs } from './options.ts'

/**
 * `npm start` as users run it: `node --import tsx examples/run.ts` in a child process, stdout a pipe (so plain
 * timestamped lines), on loopback. The in-process run (`main(log)`, no leaked handles) is
 * examples.test.ts's.
 */
const children: DemoChild[] = []
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()))
})

function demo(...args: string[]): DemoChild {
  const c = spawnDemo(args)
  children.push(c)
  return c
}

const hasHaproxy = hasCommand('haproxy', ['-v'])
const hasNginx = hasCommand('nginx', ['-v'])
if (!hasHaproxy)
  console.warn('haproxy is not installed: the demo test with HAProxy gateways is skipped')
if (!hasNginx) console.warn('nginx is not installed: the demo test with nginx gateways is skipped')

/** What every complete run prints, whatever its options: convergence, the act, the proof, the end. */
async function expectCompleteRun(c: DemoChild, members: number, dc1Nodes: number): Promise<void> {
  const code = await c.exited
  const text = c.out.stdout
  expect(code, `${text}\n${c.out.stderr}`).toBe(0)
  for (const l of c.lines()) expect(l).toMatch(/^\[\+\d+\.\d{3}s\] /)
  expect(text).toContain(`converged: every node sees all ${members} members alive`)
  expect(text).toMatch(new RegExp(`n${dc1Nodes}\\.dc1 suspected by \\S+ after`))
  expect(text).toContain(`n${dc1Nodes}.dc1 dead in all ${members - 1} live nodes' views`)
  expect(text).toMatch(
    /failover: every dc1 node and every other DC's nodes reach each other again, through dc1-gw-[ab]/,
  )
  expect(text).toMatch(/membership updated: dc1-gw-[ab] critical in every DC's federation states/)
  expect(text).toMatch(/convergence: .* all \d+ members in every view [\d.]+ s/)
  expect(text).toMatch(/detection: .* dead everywhere after [\d.]+ s/)
  expect(text).toMatch(/failover: dc1-gw-[ab] killed; traffic through dc1-gw-[ab] after [\d.]+ s/)
  expect(text).toContain('proof from the counters:')
  expect(text).not.toContain('MISMATCH')
  expect(c.lines().at(-1)).toMatch(/\] closed cleanly$/)
}

describe('npm start: the federation demo', () => {
  it('converges, survives the failure act, proves the routing and exits 0', async () => {
    const c = demo()
    await expectCompleteRun(c, 9, 3)
    const text = c.out.stdout
    expect(text).toContain("gateways: wanfed's MeshGateway")
    expect(text).toContain('secondaries start knowing one primary gateway')
    // Our gateways count: the gateway-side checks ran, and each DC's passed.
    expect(text.match(/ {4}in: {2}other DCs' gateways sent \d+ .*✓/g)).toHaveLength(3)
    expect(text.match(/ {4}out: nodes opened \d+ cross-DC connections, .*✓/g)).toHaveLength(3)
  }, 120_000)

  it.skipIf(!hasHaproxy)(
    'runs with HAProxy as every gateway, SIGKILLing one of dc1s',
    async () => {
      const c = demo('--gateway', 'haproxy')
      await expectCompleteRun(c, 9, 3)
      expect(c.out.stdout).toContain('gateways: haproxy, configs rendered from the topology')
      expect(c.out.stdout).toContain('reports no counters to the demo')
    },
    120_000,
  )

  it.skipIf(!hasNginx)(
    'runs with nginx as every gateway',
    async () => {
      const c = demo('--gateway', 'nginx')
      await expectCompleteRun(c, 9, 3)
      expect(c.out.stdout).toContain('gateways: nginx, configs rendered from the topology')
    },
    120_000,
  )

  it('holds at 5 DCs of 10 nodes', async () => {
    const c = demo('--dcs', '5', '--nodes', '10')
    await expectCompleteRun(c, 50, 10)
    expect(c.out.stdout).toContain('5 DCs × 10 nodes (50 members)')
  }, 240_000)

  it('with --follow, --admin and --encrypt: keeps running, serves the admin endpoint, ends on Ctrl-C with exit 0', async () => {
    const c = demo('--follow', '--admin', '127.0.0.1:0', '--encrypt')
    const admin = await c.line(/admin endpoint: http:\/\//)
    const base = (admin.match(/(http:\/\/[\d.:]+)\//) as RegExpMatchArray)[1]
    await c.line(/following: running until Ctrl-C/)
    const status = await fetch(`${base}/v1/status`)
    expect(status.status).toBe(200)
    const body = JSON.stringify(await status.json())
    for (const name of ['n1.dc1', 'n3.dc3', 'dc1-gw-a', 'dc1-gw-b', 'dc2-gw-a'])
      expect(body).toContain(name)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toMatch(/wanfed_gateway_route_connections_total\{[^}]*gateway="dc1-gw-a"/)
    // Still running after the act, until interrupted.
    expect(c.child.exitCode).toBeNull()
    c.child.kill('SIGINT')
    await expectCompleteRun(c, 9, 3)
    expect(c.out.stdout).toContain('gossip encryption on')
  }, 120_000)

  for (const [phase, after] of [
    ['while starting', /certificates: a CA/],
    ['during the failure act', /act 1: stopping/],
  ] as const) {
    it(`Ctrl-C ${phase} closes everything and exits 130`, async () => {
      const c = demo()
      await c.line(after)
      const sent = performance.now()
      c.child.kill('SIGINT')
      const code = await c.exited
      const tookMs = performance.now() - sent
      expect(code, c.out.stderr).toBe(130)
      expect(c.out.stderr).toContain('interrupted: closed everything')
      expect(c.out.stderr).not.toContain('close took too long')
      // A bound for a loaded CI host, not a speed claim: the runner's own watchdog fires at 5 s.
      expect(tookMs).toBeLessThan(5_000)
    }, 60_000)
  }

  for (const [args, message] of [
    [
      ['--dcs', '0'],
      `--dcs must be an integer from ${LIMITS.dcs.min} to ${LIMITS.dcs.max}, got "0"`,
    ],
    [['--nodes', 'many'], '--nodes must be an integer'],
    [['--gateway', 'envoy'], '--gateway must be ours, haproxy or nginx, got "envoy"'],
    [['--admin', 'localhost'], '--admin must be IP:PORT'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['federation', 'extra'], 'unexpected argument "extra"'],
    [['cross-dc', '--dcs', '3'], 'example cross-dc takes no options'],
    [['no-such-example'], 'unknown example "no-such-example"'],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit 2`, async () => {
      const c = demo(...args)
      expect(await c.exited).toBe(2)
      expect(c.out.stderr).toContain(`error: ${message}`)
      expect(c.out.stdout).toBe('')
    }, 30_000)
  }

  it('--help prints the options and exits 0', async () => {
    const c = demo('--help')
    expect(await c.exited).toBe(0)
    for (const flag of ['--dcs', '--nodes', '--gateway', '--encrypt', '--admin', '--follow'])
      expect(c.out.stdout).toContain(flag)
  }, 30_000)
})

describe('parseDemoArgs', () => {
  it('fills defaults and reads every option', () => {
    expect(parseDemoArgs([])).toEqual({
      help: false,
      options: { dcs: 3, nodes: 3, gateway: 'ours', encrypt: false, follow: false },
    })
    expect(
      parseDemoArgs(['--dcs=5', '--nodes', '10', '--encrypt', '--follow', '--admin', '[::1]:8501']),
    ).toEqual({
      help: false,
      options: {
        dcs: 5,
        nodes: 10,
        gateway: 'ours',
        encrypt: true,
        follow: true,
        admin: '[::1]:8501',
      },
    })
    expect(parseDemoArgs(['-h'])).toEqual({ help: true })
  })

  it('refuses out-of-range counts with an InvalidArgumentError naming the flag', () => {
    for (const bad of [
      ['--dcs', '1'],
      ['--dcs', '9'],
      ['--nodes', '1'],
      ['--nodes', '2.5'],
      ['--nodes', '-3'],
    ])
      expect(() => parseDemoArgs(bad)).toThrow(
        expect.objectContaining({
          code: 'WANFED_ERR_INVALID_ARG',
          message: expect.stringContaining(bad[0] as string),
        }),
      )
  })
})
