/**
 * The admin endpoint on real HTTP over loopback: Consul's federation-state debug APIs (paths, JSON
 * shapes, X-Consul-Index, blocking), /v1/status, /health and /metrics (read by a real Prometheus
 * text parser and by a strict one), the 4xx answers, bounded requests, the handler mounted in a
 * server of the user's own, and close() releasing everything.
 */

import { createServer } from 'node:http'
import { connect } from 'node:net'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { describe, expect, it } from 'vitest'
import { AdminEndpoint, createAdminServer, PROMETHEUS_CONTENT_TYPE } from '../../src/admin/index.ts'
import { AlpnServer } from '../../src/alpn/index.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import {
  FederationGatewayLocator,
  FederationStateStore,
  StaticGatewayLocator,
} from '../../src/locator/index.ts'
import { MemoryNetwork, NetTransport, WanfedTransport } from '../../src/transport/index.ts'
import { gateway, state } from '../helpers/federation.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'
import { getJson, http } from '../helpers/http.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'
import { parseStrict } from '../helpers/prometheus.ts'

const { clock, cleanups } = leakGuard()

async function admin(options: Parameters<typeof createAdminServer>[0] = {}) {
  const server = createAdminServer(options)
  const { port, address } = await server.listen()
  cleanups.push(() => server.close())
  return { server, port, address }
}

function store() {
  const s = new FederationStateStore({ clock })
  cleanups.push(() => s.close())
  return s
}

const FULL = {
  datacenter: 'dc2',
  updatedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 670),
  meshGateways: [
    {
      node: {
        id: 'a0b1',
        node: 'gw-node',
        address: '10.0.2.1',
        datacenter: 'dc2',
        taggedAddresses: { lan: '10.0.2.1', wan: '198.51.100.2' },
        meta: { rack: 'r1' },
      },
      service: {
        kind: 'mesh-gateway',
        id: 'mesh-gateway',
        service: 'mesh-gateway',
        tags: ['t1'],
        address: '10.0.2.1',
        port: 8443,
        taggedAddresses: {
          lan: { address: '10.0.2.1', port: 8443 },
          wan: { address: '198.51.100.2', port: 443 },
        },
        meta: { 'consul-wan-federation': '1' },
      },
      checks: [
        {
          node: 'gw-node',
          checkId: 'serfHealth',
          name: 'Serf Health Status',
          status: 'passing' as const,
          notes: 'n',
          output: 'Agent alive and reachable',
          serviceId: '',
          serviceName: '',
          serviceTags: [],
        },
      ],
    },
  ],
}

/** Consul's JSON for FULL once stored at `index` (Go's encoding of structs.FederationState). */
function fullJson(index: number) {
  return {
    Datacenter: 'dc2',
    MeshGateways: [
      {
        Node: {
          ID: 'a0b1',
          Node: 'gw-node',
          Address: '10.0.2.1',
          Datacenter: 'dc2',
          TaggedAddresses: { lan: '10.0.2.1', wan: '198.51.100.2' },
          Meta: { rack: 'r1' },
        },
        Service: {
          Kind: 'mesh-gateway',
          ID: 'mesh-gateway',
          Service: 'mesh-gateway',
          Tags: ['t1'],
          Address: '10.0.2.1',
          TaggedAddresses: {
            lan: { Address: '10.0.2.1', Port: 8443 },
            wan: { Address: '198.51.100.2', Port: 443 },
          },
          Meta: { 'consul-wan-federation': '1' },
          Port: 8443,
        },
        Checks: [
          {
            Node: 'gw-node',
            CheckID: 'serfHealth',
            Name: 'Serf Health Status',
            Status: 'passing',
            Notes: 'n',
            Output: 'Agent alive and reachable',
            ServiceID: '',
            ServiceName: '',
            ServiceTags: [],
          },
        ],
      },
    ],
    UpdatedAt: '2026-01-02T03:04:05.67Z',
    PrimaryModifyIndex: index,
    CreateIndex: index,
    ModifyIndex: index,
  }
}

describe('admin endpoint: federation-state debug APIs', () => {
  it('GET /v1/internal/federation-states: [] when empty, then every state in Consul JSON, with X-Consul-Index', async () => {
    const s = store()
    const { port } = await admin({ datacenter: 'dc1', federationStates: s })
    const empty = await getJson(port, '/v1/internal/federation-states')
    expect(empty.body).toEqual([])
    // An empty store's index is forced to 1, as Consul's blocking queries do.
    expect(empty.headers['x-consul-index']).toBe('1')
    expect(empty.headers['content-type']).toBe('application/json')
    expect(empty.headers['x-consul-knownleader']).toBe('true')

    s.upsert(FULL)
    s.upsert(state('DC1'))
    const list = await getJson(port, '/v1/internal/federation-states')
    // The first write takes index 2 (a reader blocked at an empty store's 1 must see it).
    expect(list.headers['x-consul-index']).toBe('3')
    // Ordered by lowercased datacenter; a state without gateways has no MeshGateways field.
    expect(list.body).toEqual([
      {
        Datacenter: 'DC1',
        UpdatedAt: '0001-01-01T00:00:00Z',
        PrimaryModifyIndex: 3,
        CreateIndex: 3,
        ModifyIndex: 3,
      },
      fullJson(2),
    ])
  })

  it('GET /v1/internal/federation-state/<dc>: the FederationStateResponse, case-insensitive; 404 when missing; 400 without a name', async () => {
    const s = store()
    s.upsert(FULL)
    const { port } = await admin({ datacenter: 'dc1', federationStates: s })
    const got = await getJson(port, '/v1/internal/federation-state/DC2')
    expect(got.headers['x-consul-index']).toBe('2')
    expect(got.body).toEqual({
      State: fullJson(2),
      Index: 2,
      LastContact: 0,
      KnownLeader: true,
      ConsistencyLevel: 'default',
      NotModified: false,
      Backend: 0,
      ResultsFilteredByACLs: false,
    })
    const missing = await http(port, '/v1/internal/federation-state/dc9')
    expect(missing.status).toBe(404)
    expect(missing.headers['x-consul-index']).toBe('2')
    const noName = await http(port, '/v1/internal/federation-state/')
    expect(noName).toMatchObject({ status: 400, body: 'Missing datacenter name' })
    const badEncoding = await http(port, '/v1/internal/federation-state/%E0%A4%A')
    expect(badEncoding.status).toBe(400)
    const encoded = await getJson(port, '/v1/internal/federation-state/%64c2')
    expect((encoded.body as { State: { Datacenter: string } }).State.Datacenter).toBe('dc2')
  })

  it('GET /v1/internal/federation-states/mesh-gateways: datacenter to gateways, only datacenters with some', async () => {
    const s = store()
    s.upsert(FULL)
    s.upsert(state('dc1'))
    s.upsert(state('dc3', gateway({ name: 'gw3', lan: '10.0.3.1' })))
    const { port } = await admin({ federationStates: s })
    const { body, headers } = await getJson(port, '/v1/internal/federation-states/mesh-gateways')
    expect(headers['x-consul-index']).toBe('4')
    expect(Object.keys(body as object)).toEqual(['dc2', 'dc3'])
    expect((body as Record<string, unknown>)['dc2']).toEqual(fullJson(2).MeshGateways)
    const gw3 = (body as Record<string, { Service: { Port: number }; Node: { Node: string } }[]>)[
      'dc3'
    ]
    expect(gw3?.map((g) => [g.Node.Node, g.Service.Port])).toEqual([['gw3', 8443]])
  })

  it('blocks on ?index= until the store passes it, or until ?wait= runs out', async () => {
    const s = store()
    s.upsert(state('dc1'))
    const { port, server } = await admin({ federationStates: s })
    const t0 = Date.now()
    const timedOut = await http(port, '/v1/internal/federation-states?index=2&wait=200ms')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    expect(timedOut.headers['x-consul-index']).toBe('2')

    const pending = http(port, '/v1/internal/federation-state/dc2?index=2&wait=30s')
    const pendingList = http(port, '/v1/internal/federation-states/mesh-gateways?index=2&wait=1m')
    await until(() => server.endpoint.stats().blocking === 2, 'two blocking queries')
    s.upsert(FULL)
    const [got, list] = await Promise.all([pending, pendingList])
    expect(got.status).toBe(200)
    expect(got.headers['x-consul-index']).toBe('3')
    expect(JSON.parse(got.body).State.Datacenter).toBe('dc2')
    expect(Object.keys(JSON.parse(list.body))).toEqual(['dc2'])
    // An index already passed answers at once.
    const now = await http(port, '/v1/internal/federation-states?index=2&wait=10m')
    expect(now.headers['x-consul-index']).toBe('3')
  })

  it("answers Consul's 400s for bad query parameters, and 500 for another datacenter", async () => {
    const s = store()
    const { port } = await admin({ datacenter: 'dc1', federationStates: s })
    const base = '/v1/internal/federation-states'
    for (const [q, body] of [
      ['index=abc', 'Invalid index'],
      ['index=-1', 'Invalid index'],
      ['index=1.5', 'Invalid index'],
      ['index=99999999999999999999', 'Invalid index'],
      ['wait=5', 'Invalid wait time'],
      ['wait=5x', 'Invalid wait time'],
      ['wait=.s', 'Invalid wait time'],
      ['stale&consistent', 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
    ] as const) {
      expect(await http(port, `${base}?${q}`), q).toMatchObject({ status: 400, body })
    }
    expect(await http(port, `${base}?dc=dc7`)).toMatchObject({
      status: 500,
      body: 'No path to datacenter',
    })
    expect((await http(port, `${base}?dc=DC1&stale&pretty`)).status).toBe(200)
    const pretty = await http(port, '/v1/internal/federation-states/mesh-gateways?pretty')
    expect(pretty.body).toBe('{}\n')
  })

  it('answers 404 for the federation paths when no store is served', async () => {
    const { port } = await admin()
    expect((await http(port, '/v1/internal/federation-states')).status).toBe(404)
    expect((await http(port, '/v1/internal/federation-state/dc1')).status).toBe(404)
  })
})

describe('admin endpoint: bounded, read-only requests', () => {
  it('refuses other methods (405 with Allow), bodies (413), long targets (414), unknown paths (404)', async () => {
    const { port } = await admin({ federationStates: store() })
    const post = await http(port, '/metrics', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD')
    expect((await http(port, '/v1/status', { method: 'DELETE' })).status).toBe(405)
    expect((await http(port, '/elsewhere', { method: 'PUT' })).status).toBe(405)
    const body = await http(port, '/v1/status', {
      headers: { 'content-length': '5' },
      body: 'hello',
    })
    expect(body.status).toBe(413)
    expect((await http(port, `/v1/internal/federation-state/${'x'.repeat(3000)}`)).status).toBe(414)
    expect((await http(port, '/nothing-here')).status).toBe(404)
    expect((await http(port, '/v1/internal/federation-states/')).status).toBe(404)
    const head = await http(port, '/v1/internal/federation-states', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(head.headers['x-consul-index']).toBe('1')
  })

  it('refuses oversized headers (431) and closes a client that never finishes its headers', async () => {
    const { port } = await admin({ headersTimeoutMs: 300, requestTimeoutMs: 300 })
    const big = await http(port, '/health', { headers: { 'x-big': 'y'.repeat(10_000) } })
    expect(big.status).toBe(431)
    const socket = connect(port, '127.0.0.1')
    cleanups.push(() => {
      socket.destroy()
    })
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n')
    let answer = ''
    socket.on('data', (d) => {
      answer += d
    })
    const t0 = Date.now()
    await new Promise((resolve) => socket.once('close', resolve))
    expect(Date.now() - t0).toBeLessThan(5_000)
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
  })

  it('a blocking query outlives the request timeout, which bounds only receiving the request', async () => {
    const s = store()
    const { port } = await admin({
      federationStates: s,
      headersTimeoutMs: 200,
      requestTimeoutMs: 300,
    })
    const t0 = Date.now()
    const answer = await http(port, '/v1/internal/federation-states?index=1&wait=1s')
    expect(answer.status).toBe(200)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
  })

  it('holds at most maxConnections connections; one more is closed unanswered', async () => {
    const { port } = await admin({ maxConnections: 1 })
    const held = connect(port, '127.0.0.1')
    held.on('error', () => {})
    cleanups.push(() => {
      held.destroy()
    })
    held.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    await new Promise((r) => held.once('data', r))
    await expect(http(port, '/health')).rejects.toThrow(/ECONNRESET|socket hang up/)
    held.destroy()
    await until(() => held.closed, 'the held connection closed')
    // The slot is free again once the connection has gone.
    let answer: Awaited<ReturnType<typeof http>> | undefined
    for (let i = 0; i < 50 && answer === undefined; i++)
      answer = await http(port, '/health').catch(() => undefined)
    expect(answer?.status).toBe(200)
  })

  it('validates its options', () => {
    expect(() => createAdminServer({ maxConnections: 0 })).toThrow(/maxConnections/)
    expect(() => createAdminServer({ headersTimeoutMs: 500, requestTimeoutMs: 100 })).toThrow(
      /requestTimeoutMs/,
    )
    expect(() => new AdminEndpoint({ datacenter: '' })).toThrow(/datacenter/)
    expect(() => new AdminEndpoint({ components: { gateways: { g: {} as never } } })).toThrow(
      /stats\(\)/,
    )
    expect(
      () =>
        new AdminEndpoint({ components: { transports: { 'bad name': { stats: () => ({}) } } } }),
    ).toThrow(/name/)
    const e = new AdminEndpoint({ components: { servers: { a: { stats: () => ({}) } } } })
    expect(() => e.register({ servers: { a: { stats: () => ({}) } } })).toThrow(/already/)
    // A failed registration adds nothing; a successful one can be undone.
    expect(() =>
      e.register({ servers: { b: { stats: () => ({}) } }, gateways: { c: {} as never } }),
    ).toThrow(/stats\(\)/)
    const undo = e.register({ servers: { b: { stats: () => ({}) } } })
    undo()
    expect(() => e.register({ servers: { b: { stats: () => ({}) } } })).not.toThrow()
    expect(() => e.register({ nope: {} } as never)).toThrow(/unknown component group/)
  })
})

/** Real components, listening on loopback. */
async function components() {
  const tls = { ca: caPem(), ...tlsFixture('bob') }
  const alpn = new AlpnServer({ tls, clock })
  await alpn.listen({ host: '127.0.0.1', port: 0 })
  const net = new NetTransport({ bindAddrs: ['127.0.0.1'] })
  const network = new MemoryNetwork()
  const wan = new WanfedTransport({
    transport: network.createTransport('bob.dc1'),
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({}),
    tls,
  }).attach(alpn)
  await net.listen()
  await wan.listen()
  const gw = new MeshGateway({
    datacenter: 'dc1',
    servers: { bob: `127.0.0.1:${alpn.address()?.port}` },
    clock,
  })
  await gw.listen({ host: '127.0.0.1', port: 0 })
  const s = store()
  s.upsert(state('dc1', gateway({ lan: '127.0.0.1', port: gw.address()?.port ?? 0 })))
  const locator = new FederationGatewayLocator({
    store: s,
    datacenter: 'dc1',
    primaryDatacenter: 'dc1',
    clock,
  }).start()
  await until(() => locator.decision().populated, 'the locator read the store')
  cleanups.push(async () => {
    await locator.close()
    await wan.close()
    await net.close()
    await alpn.close()
    await gw.close()
  })
  return { alpn, net, wan, gw, store: s, locator }
}

describe('admin endpoint: status, health, metrics', () => {
  it('/v1/status reports every registered component, pools from the wanfed transports, and the locator decision', async () => {
    const c = await components()
    const { port } = await admin({
      datacenter: 'dc1',
      federationStates: c.store,
      components: {
        transports: { net: c.net, wan: c.wan },
        servers: { rpc: c.alpn },
        gateways: { main: c.gw },
        locators: { federation: c.locator },
      },
    })
    const { body } = await getJson(port, '/v1/status')
    const status = body as Record<string, Record<string, Record<string, unknown>>>
    expect(status['datacenter']).toBe('dc1')
    expect(Object.keys(status['transports'] ?? {})).toEqual(['net', 'wan'])
    expect(status['transports']?.['net']).toEqual(JSON.parse(JSON.stringify(c.net.stats())))
    expect(status['pools']).toEqual({ wan: JSON.parse(JSON.stringify(c.wan.stats().pool)) })
    expect(status['servers']?.['rpc']?.['status']).toBe('listening')
    expect(status['gateways']?.['main']?.['status']).toBe('listening')
    expect(status['locators']?.['federation']).toEqual(
      JSON.parse(JSON.stringify({ decision: c.locator.decision(), stats: c.locator.stats() })),
    )
    expect(status['stores']?.['federation-states']).toMatchObject({ index: 2, states: 1 })
  })

  it('/health is 200 while every transport, server and gateway listens, 503 naming the one that does not', async () => {
    const c = await components()
    const { port } = await admin({
      components: {
        transports: { wan: c.wan },
        servers: { rpc: c.alpn },
        gateways: { main: c.gw },
      },
    })
    const ok = await getJson(port, '/health')
    expect(ok.body).toEqual({
      status: 'passing',
      checks: {
        'transport/wan': 'listening',
        'server/rpc': 'listening',
        'gateway/main': 'listening',
      },
    })
    await c.gw.close()
    const bad = await getJson(port, '/health', 503)
    expect(bad.body).toMatchObject({ status: 'critical', checks: { 'gateway/main': 'closed' } })
  })

  it('/metrics: Prometheus text format, read by a real parser and a strict one, values equal to stats()', async () => {
    const c = await components()
    const weird = 'we"ird\\alpn\nx'
    const { port } = await admin({
      federationStates: c.store,
      components: {
        transports: { wan: c.wan, net: c.net },
        servers: {
          rpc: c.alpn,
          edge: { stats: () => ({ status: 'listening', byAlpn: { [weird]: 3 } }) },
        },
        gateways: { main: c.gw },
        locators: { federation: c.locator },
      },
    })
    // Traffic through the gateway so route counters are not all zero: one connection without SNI.
    const raw = connect(c.gw.address()?.port ?? 0, '127.0.0.1')
    raw.on('error', () => {})
    raw.end(Buffer.from([0x16, 3, 1, 0, 4, 1, 0, 0, 0]))
    await until(
      () => c.gw.stats().rejected.malformed + c.gw.stats().rejected['no-sni'] > 0,
      'reject',
    )

    const answer = await http(port, '/metrics')
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toBe(PROMETHEUS_CONTENT_TYPE)
    const strict = parseStrict(answer.body)
    const parsed = parsePrometheusTextFormat(answer.body)
    expect(parsed.map((f) => f.name)).toEqual(strict.map((f) => f.name))
    for (const f of strict) {
      expect(f.name).toMatch(/^wanfed_/)
      expect(f.help.length).toBeGreaterThan(0)
    }
    const value = (name: string, labels: Record<string, string>) => {
      const family = strict.find((f) => f.name === name)
      const sample = family?.samples.find((s) =>
        Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )
      return sample?.value
    }
    const gw = c.gw.stats()
    expect(value('wanfed_gateway_accepted_total', { gateway: 'main' })).toBe(gw.accepted)
    expect(strict.find((f) => f.name === 'wanfed_gateway_accepted_total')?.type).toBe('counter')
    expect(value('wanfed_gateway_open_connections', { gateway: 'main' })).toBe(gw.open)
    expect(strict.find((f) => f.name === 'wanfed_gateway_open_connections')?.type).toBe('gauge')
    for (const [reason, n] of Object.entries(gw.rejected))
      expect(value('wanfed_gateway_rejected_total', { gateway: 'main', reason }), reason).toBe(n)
    expect(value('wanfed_gateway_listening', { gateway: 'main' })).toBe(1)
    expect(value('wanfed_server_accepted_total', { server: 'rpc' })).toBe(c.alpn.stats().accepted)
    expect(value('wanfed_transport_packets_sent_total', { transport: 'net' })).toBe(0)
    expect(value('wanfed_pool_open_connections', { transport: 'wan' })).toBe(0)
    expect(value('wanfed_pool_open_connections', { transport: 'net' })).toBeUndefined()
    expect(value('wanfed_locator_populated', { locator: 'federation' })).toBe(1)
    expect(value('wanfed_locator_primary_gateways', { locator: 'federation' })).toBe(1)
    expect(value('wanfed_federation_states', { store: 'federation-states' })).toBe(1)
    // Label values are escaped, and the parsers give the original back.
    expect(answer.body).toContain('alpn="we\\"ird\\\\alpn\\nx"')
    expect(value('wanfed_server_tls_connections_total', { server: 'edge', alpn: weird })).toBe(3)
    const fromReal = parsed
      .find((f) => f.name === 'wanfed_server_tls_connections_total')
      ?.metrics.find((m) => m.labels?.['server'] === 'edge')
    expect(fromReal?.labels?.['alpn']).toBe(weird)
    expect(fromReal?.value).toBe('3')
    // The admin endpoint counts its own answers.
    const again = parseStrict((await http(port, '/metrics')).body)
    expect(
      again
        .find((f) => f.name === 'wanfed_admin_responses_total')
        ?.samples.find((s) => s.labels['code'] === '200')?.value,
    ).toBeGreaterThanOrEqual(1)
  })
})

describe('admin endpoint: mounting and closing', () => {
  it("serves from the user's own http server: admin paths answered, others left to the user", async () => {
    const s = store()
    s.upsert(state('dc1'))
    const endpoint = new AdminEndpoint({ datacenter: 'dc1', federationStates: s })
    const server = createServer((req, res) => {
      if (endpoint.handle(req, res)) return
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('mine')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    cleanups.push(async () => {
      await endpoint.close()
      await new Promise<void>((r) => server.close(() => r()))
    })
    const port = (server.address() as { port: number }).port
    expect((await http(port, '/app')).body).toBe('mine')
    expect((await getJson(port, '/v1/internal/federation-states')).body).toHaveLength(1)
    const blocked = http(port, '/v1/internal/federation-states?index=2&wait=5m')
    await until(() => endpoint.stats().blocking === 1, 'a blocking query')
    await endpoint.close()
    // Closing ends the blocking query at once, and later requests are refused.
    expect((await blocked).status).toBe(503)
    expect((await http(port, '/metrics')).status).toBe(503)
    expect((await http(port, '/app')).body).toBe('mine')
  })

  it('close() ends blocking queries and keep-alive connections and releases the port', async () => {
    const s = store()
    const { server, port } = await admin({ federationStates: s })
    const blocked = http(port, '/v1/internal/federation-states?index=1&wait=10m')
    // A keep-alive connection left idle after one answer.
    const idle = connect(port, '127.0.0.1')
    idle.on('error', () => {})
    idle.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    await new Promise((r) => idle.once('data', r))
    await until(() => server.endpoint.stats().blocking === 1, 'a blocking query')
    const t0 = Date.now()
    await server.close()
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect((await blocked).status).toBe(503)
    await until(() => idle.destroyed || idle.readableEnded, 'the idle connection closed')
    idle.destroy()
    expect(server.status).toBe('closed')
    await expect(http(port, '/health')).rejects.toThrow(/ECONNREFUSED/)
    await server.close()
  })

  it('listens on loopback by default', async () => {
    const { address } = await admin()
    expect(address).toBe('127.0.0.1')
  })
})
