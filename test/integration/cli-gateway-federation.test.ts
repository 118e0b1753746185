/**
 * `wanfed gateway --admin` and `--primary-gateway`, on the real CLI process (bin/wanfed.js in a
 * child): the admin endpoint serves the gateway's metrics, status and health and goes away with
 * the process; a secondary's gateway given only the primary gateway's address replicates the
 * federation states through it and routes, over real TLS, to a datacenter applied later in the
 * primary's store only, with no config edit.
 */

import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { describe, expect, it } from 'vitest'
import { ALPN_WAN_GOSSIP_STREAM, dialViaGateway } from '../../src/alpn/index.ts'
import { main } from '../../src/cli/main.ts'
import { FederationStateStore } from '../../src/locator/index.ts'
import { gateway, state } from '../helpers/federation.ts'
import { federationGateways } from '../helpers/federation-gateways.ts'
import { caPem, TLS_FIXTURES_DIR, tlsFixture } from '../helpers/fixtures.ts'
import { getJson, http } from '../helpers/http.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { parseStrict } from '../helpers/prometheus.ts'
import { spawnWanfedChild } from '../helpers/wanfed-child.ts'

const { cleanups } = leakGuard()
const { server, meshGateway } = federationGateways(cleanups)
const tls = (name: string) => ({ ca: caPem(), ...tlsFixture(name) })

interface Child {
  child: ChildProcess
  out: { stdout: string; stderr: string }
  exited: Promise<number | null>
  gatewayPort: number
  adminPort: number
}

const STARTUP = /^gateway \S+ listening on \S+:(\d+) /m
const ADMIN = /^admin endpoint listening on http:\/\/127\.0\.0\.1:(\d+)$/m

async function spawnGateway(argv: string[]): Promise<Child> {
  const { child, out, exited } = spawnWanfedChild(['gateway', ...argv], cleanups)
  await until(() => STARTUP.test(out.stdout) || child.exitCode !== null, 'the startup line', 20_000)
  const gw = STARTUP.exec(out.stdout)
  const admin = ADMIN.exec(out.stdout)
  if (gw === null || admin === null)
    throw new Error(`gateway did not start: ${out.stdout}${out.stderr}`)
  return { child, out, exited, gatewayPort: Number(gw[1]), adminPort: Number(admin[1]) }
}

async function echoVia(port: number, dc: string, node: string): Promise<string> {
  const socket: TLSSocket = await dialViaGateway({
    gateway: `127.0.0.1:${port}`,
    datacenter: dc,
    node,
    alpn: ALPN_WAN_GOSSIP_STREAM,
    tls: tls('client'),
    handshakeTimeoutMs: 5_000,
  })
  try {
    socket.write('ping')
    const [data] = (await once(socket, 'data')) as [Buffer]
    return data.toString()
  } finally {
    socket.destroy()
  }
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  return parseStrict(text)
    .find((f) => f.name === name)
    ?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

describe('wanfed gateway --admin (child process)', () => {
  it("serves the gateway's /metrics, /v1/status and /health, and closes with the process", async () => {
    const bob = await server('bob')
    const gw = await spawnGateway([
      '--dc',
      'dc1',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `bob=${bob}`,
      '--status-interval',
      '0',
      '--admin',
      '127.0.0.1:0',
    ])
    expect(await echoVia(gw.gatewayPort, 'dc1', 'bob')).toBe('ping')
    const metrics = await http(gw.adminPort, '/metrics')
    expect(metrics.status).toBe(200)
    const text = metrics.body
    expect(
      sample(text, 'wanfed_gateway_route_connections_total', {
        gateway: 'dc1',
        kind: 'local-server',
      }),
    ).toBe(1)
    expect(sample(text, 'wanfed_gateway_listening', { gateway: 'dc1' })).toBe(1)
    const status = (await getJson(gw.adminPort, '/v1/status')).body as {
      datacenter: string
      gateways: Record<string, { accepted: number }>
    }
    expect(status.datacenter).toBe('dc1')
    expect(status.gateways['dc1']?.accepted).toBe(1)
    expect((await getJson(gw.adminPort, '/health')).body).toEqual({
      status: 'passing',
      checks: { 'gateway/dc1': 'listening' },
    })
    // No federation states without --primary-datacenter.
    expect((await http(gw.adminPort, '/v1/internal/federation-states')).status).toBe(404)
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
    await expect(http(gw.adminPort, '/health')).rejects.toThrow(/ECONNREFUSED/)
  })
})

describe('wanfed gateway --primary-gateway (child process)', () => {
  it("a secondary's gateway learns a new DC from the primary's federation states and routes to it, no config edit", async () => {
    // The primary, dc1, in this process: bob holds the authoritative store; gw1 routes by it.
    const primaryStore = new FederationStateStore()
    cleanups.push(() => primaryStore.close())
    const bob = await server('bob', primaryStore)
    const gw1 = await meshGateway('dc1', { bob }, primaryStore)
    // dc3, which no gateway's config names.
    const bonnie = await server('bonnie')
    const gw3 = await meshGateway('dc3', { bonnie })

    const betty = await server('betty')
    const gw2 = await spawnGateway([
      '--dc',
      'dc2',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `betty=${betty}`,
      '--status-interval',
      '0',
      '--primary-datacenter',
      'dc1',
      '--primary-gateway',
      gw1.address,
      '--ca-file',
      join(TLS_FIXTURES_DIR, 'ca.pem'),
      '--cert-file',
      join(TLS_FIXTURES_DIR, 'betty.pem'),
      '--key-file',
      join(TLS_FIXTURES_DIR, 'betty-key.pem'),
      '--admin',
      '127.0.0.1:0',
    ])
    expect(gw2.out.stdout).toContain(
      `federation states: primary dc1, replicated through ${gw1.address}`,
    )
    primaryStore.upsert(state('dc1', gateway({ name: 'gw1', lan: '127.0.0.1', port: gw1.port })))
    primaryStore.upsert(
      state('dc2', gateway({ name: 'gw2', lan: '127.0.0.1', port: gw2.gatewayPort })),
    )
    // The child's replicated copy, read through its admin endpoint with a blocking query.
    const replicated = async (minIndex: number) => {
      const r = await http(
        gw2.adminPort,
        `/v1/internal/federation-states?index=${minIndex}&wait=5s`,
      )
      return {
        index: Number(r.headers['x-consul-index']),
        states: JSON.parse(r.body) as { Datacenter: string }[],
      }
    }
    let seen = await replicated(0)
    while (seen.states.length < 2) seen = await replicated(seen.index)
    expect(seen.states.map((s) => s.Datacenter)).toEqual(['dc1', 'dc2'])
    await expect(echoVia(gw2.gatewayPort, 'dc3', 'bonnie')).rejects.toThrow()

    primaryStore.upsert(state('dc3', gateway({ name: 'gw3', lan: '127.0.0.1', port: gw3.port })))
    while (!seen.states.some((s) => s.Datacenter === 'dc3')) seen = await replicated(seen.index)
    expect(await echoVia(gw2.gatewayPort, 'dc3', 'bonnie')).toBe('ping')
    expect(gw3.gw.stats().routes['local-server'].connections).toBe(1)

    const text = (await http(gw2.adminPort, '/metrics')).body
    expect(sample(text, 'wanfed_federation_states', { store: 'federation-states' })).toBe(3)
    expect(
      sample(text, 'wanfed_gateway_target_connections_total', { target: 'server.dc3.consul' }),
    ).toBe(1)
    expect(sample(text, 'wanfed_locator_populated', { locator: 'federation' })).toBe(1)
    gw2.child.kill('SIGTERM')
    expect(await gw2.exited).toBe(0)
  })
})

describe('wanfed gateway --primary-datacenter in the primary (child process)', () => {
  it('reads the federation states from its local servers and routes by them', async () => {
    const primaryStore = new FederationStateStore()
    cleanups.push(() => primaryStore.close())
    const bob = await server('bob', primaryStore)
    const bonnie = await server('bonnie')
    const gw3 = await meshGateway('dc3', { bonnie })
    const gw1 = await spawnGateway([
      '--dc',
      'dc1',
      '--listen',
      '127.0.0.1:0',
      '--server',
      `bob=${bob}`,
      '--status-interval',
      '0',
      '--primary-datacenter',
      'dc1',
      '--ca-file',
      join(TLS_FIXTURES_DIR, 'ca.pem'),
      '--cert-file',
      join(TLS_FIXTURES_DIR, 'alice.pem'),
      '--key-file',
      join(TLS_FIXTURES_DIR, 'alice-key.pem'),
      '--admin',
      '127.0.0.1:0',
    ])
    expect(gw1.out.stdout).toContain('federation states: primary dc1, read from the local servers')
    primaryStore.upsert(state('dc3', gateway({ name: 'gw3', lan: '127.0.0.1', port: gw3.port })))
    let r = await http(gw1.adminPort, '/v1/internal/federation-state/dc3')
    while (r.status === 404)
      r = await http(
        gw1.adminPort,
        `/v1/internal/federation-state/dc3?index=${r.headers['x-consul-index']}&wait=5s`,
      )
    expect(r.status).toBe(200)
    expect(await echoVia(gw1.gatewayPort, 'dc3', 'bonnie')).toBe('ping')
    gw1.child.kill('SIGTERM')
    expect(await gw1.exited).toBe(0)
  })
})

describe('wanfed gateway federation flags', () => {
  async function run(...argv: string[]) {
    let stderr = ''
    const code = await main(['gateway', '--dc', 'dc2', '--server', 'b=127.0.0.1:1', ...argv], {
      cwd: TLS_FIXTURES_DIR,
      stdout: { write: () => true },
      stderr: {
        write: (s: string) => {
          stderr += s
          return true
        },
      },
    })
    return { code, stderr }
  }

  it('refuses inconsistent federation flags and a bad --admin address, starting nothing', async () => {
    expect(await run('--primary-gateway', '127.0.0.1:1')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--primary-gateway needs --primary-datacenter'),
    })
    expect((await run('--primary-datacenter', 'dc1')).stderr).toContain(
      'at least one --primary-gateway',
    )
    expect(
      (await run('--primary-datacenter', 'dc2', '--primary-gateway', '127.0.0.1:1')).stderr,
    ).toContain('should only be configured in a secondary datacenter')
    expect(
      (await run('--primary-datacenter', 'dc1', '--primary-gateway', 'nope')).stderr,
    ).toContain('--primary-gateway: invalid address')
    expect(
      (await run('--primary-datacenter', 'dc1', '--primary-gateway', '127.0.0.1:1')).stderr,
    ).toContain('--ca-file is required')
    expect(
      (
        await run(
          '--primary-datacenter',
          'dc1',
          '--primary-gateway',
          '127.0.0.1:1',
          '--ca-file',
          'missing.pem',
          '--cert-file',
          'betty.pem',
          '--key-file',
          'betty-key.pem',
        )
      ).stderr,
    ).toContain('--ca-file missing.pem')
    expect((await run('--ca-file', 'ca.pem')).stderr).toContain(
      '--ca-file is used only with --primary-datacenter',
    )
    expect((await run('--admin', 'localhost')).stderr).toContain('--admin: invalid address')
  })
})
