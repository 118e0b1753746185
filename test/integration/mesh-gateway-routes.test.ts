import { describe, expect, it } from 'vitest'
import { serverSni } from '../../src/alpn/sni.ts'
import {
  matchSni,
  type RouteTable,
  resolveRoute,
  routeTable,
  toServerRegistry,
} from '../../src/gateway/index.ts'

// Pure functions, no sockets: the routing rules MeshGateway applies and config renderers reuse.

const dc1 = { datacenter: 'dc1' }

describe('matchSni', () => {
  it('maps the three Consul name forms to route kinds and target keys', () => {
    expect(matchSni('bob.server.dc1.consul', dc1)).toEqual({
      kind: 'local-server',
      datacenter: 'dc1',
      node: 'bob',
      key: 'bob.server.dc1.consul',
    })
    expect(matchSni('server.dc1.consul', dc1)).toEqual({
      kind: 'local-any',
      datacenter: 'dc1',
      key: 'server.dc1.consul',
    })
    for (const sni of ['server.dc2.consul', 'betty.server.dc2.consul', 'a.b.server.dc2.consul']) {
      expect(matchSni(sni, dc1)).toEqual({
        kind: 'remote-dc',
        datacenter: 'dc2',
        key: 'server.dc2.consul',
      })
    }
  })

  it('is case-insensitive, ignores one trailing dot, and honours the domain', () => {
    expect(matchSni('BOB.Server.DC1.CONSUL.', { datacenter: 'DC1' })).toMatchObject({
      kind: 'local-server',
      node: 'bob',
      key: 'bob.server.dc1.consul',
    })
    const custom = { datacenter: 'dc1', domain: 'Example.Internal.' }
    expect(matchSni('bob.server.dc1.example.internal', custom)).toMatchObject({
      key: 'bob.server.dc1.example.internal',
    })
    expect(matchSni('bob.server.dc1.consul', custom)).toEqual({
      kind: 'none',
      reason: 'unknown-route',
    })
  })

  it('has no route for no SNI or for names outside the forms', () => {
    expect(matchSni(undefined, dc1)).toEqual({ kind: 'none', reason: 'no-sni' })
    expect(matchSni('', dc1)).toEqual({ kind: 'none', reason: 'no-sni' })
    for (const sni of [
      'consul',
      'dc1.consul',
      'server.consul',
      'bob.dc1.consul',
      'a.bob.server.dc1.consul',
      'bob..server.dc1.consul',
      '.server.dc1.consul',
      'server..consul',
      'www.example.com',
      'bob.server.dc1.consul.evil.com',
      'bob.client.dc1.consul',
    ]) {
      expect(matchSni(sni, dc1), sni).toEqual({ kind: 'none', reason: 'unknown-route' })
    }
  })

  it('agrees with serverSni for every node/dc pair it builds', () => {
    for (const dc of ['dc1', 'dc2', 'us-east-1']) {
      for (const node of [undefined, '*', 'bob', 'Node_7']) {
        const m = matchSni(serverSni(dc, node), dc1)
        const local = dc === 'dc1'
        const kind = !local
          ? 'remote-dc'
          : node === undefined || node === '*'
            ? 'local-any'
            : 'local-server'
        expect(m.kind).toBe(kind)
      }
    }
  })
})

describe('routeTable', () => {
  const table: RouteTable = routeTable({
    datacenter: 'DC1',
    servers: { bob: '10.0.1.10:8300', Alice: '10.0.1.11:8300' },
    remoteGateways: {
      dc3: ['10.0.3.1:8443'],
      dc2: ['10.0.2.1:8443', '10.0.2.2:8443', '10.0.2.1:8443'],
      dc1: ['10.0.1.1:8443'],
      dc4: [],
    },
  })

  it('lists local servers, the any-server route and remote DCs as plain data', () => {
    expect(table).toEqual({
      datacenter: 'dc1',
      domain: 'consul',
      routes: [
        {
          kind: 'local-server',
          key: 'alice.server.dc1.consul',
          datacenter: 'dc1',
          node: 'alice',
          exact: ['alice.server.dc1.consul'],
          suffixes: [],
          targets: ['10.0.1.11:8300'],
        },
        {
          kind: 'local-server',
          key: 'bob.server.dc1.consul',
          datacenter: 'dc1',
          node: 'bob',
          exact: ['bob.server.dc1.consul'],
          suffixes: [],
          targets: ['10.0.1.10:8300'],
        },
        {
          kind: 'local-any',
          key: 'server.dc1.consul',
          datacenter: 'dc1',
          exact: ['server.dc1.consul'],
          suffixes: [],
          targets: ['10.0.1.10:8300', '10.0.1.11:8300'],
        },
        {
          kind: 'remote-dc',
          key: 'server.dc2.consul',
          datacenter: 'dc2',
          exact: ['server.dc2.consul'],
          suffixes: ['.server.dc2.consul'],
          targets: ['10.0.2.1:8443', '10.0.2.2:8443'],
        },
        {
          kind: 'remote-dc',
          key: 'server.dc3.consul',
          datacenter: 'dc3',
          exact: ['server.dc3.consul'],
          suffixes: ['.server.dc3.consul'],
          targets: ['10.0.3.1:8443'],
        },
      ],
    })
    // Plain data: it survives JSON unchanged.
    expect(JSON.parse(JSON.stringify(table))).toEqual(table)
  })

  it('resolves SNIs through the same matcher the gateway uses', () => {
    expect(resolveRoute(table, 'Bob.Server.dc1.consul')?.targets).toEqual(['10.0.1.10:8300'])
    expect(resolveRoute(table, 'server.dc1.consul')?.kind).toBe('local-any')
    expect(resolveRoute(table, 'anyone.server.dc2.consul')?.key).toBe('server.dc2.consul')
    expect(resolveRoute(table, 'nobody.server.dc1.consul')).toBeUndefined()
    expect(resolveRoute(table, 'x.server.dc4.consul')).toBeUndefined()
    expect(resolveRoute(table, undefined)).toBeUndefined()
    // Every exact name and every name under a suffix resolves to its own route.
    for (const route of table.routes) {
      for (const name of route.exact) expect(resolveRoute(table, name)).toBe(route)
      for (const suffix of route.suffixes) expect(resolveRoute(table, `n${suffix}`)).toBe(route)
    }
  })

  it('takes maps, registries with nodes(), and a custom domain', () => {
    const t = routeTable({
      datacenter: 'dc2',
      domain: 'example.',
      servers: new Map([['betty', '127.0.0.1:1']]),
      remoteGateways: new Map([['dc1', ['127.0.0.1:2']]]),
    })
    expect(t.routes.map((r) => r.key)).toEqual([
      'betty.server.dc2.example',
      'server.dc2.example',
      'server.dc1.example',
    ])
    const live = routeTable({
      datacenter: 'dc1',
      servers: { lookup: () => '127.0.0.1:3', all: () => ['127.0.0.1:3'], nodes: () => ['z'] },
    })
    expect(live.routes.map((r) => [r.key, r.targets])).toEqual([
      ['z.server.dc1.consul', ['127.0.0.1:3']],
      ['server.dc1.consul', ['127.0.0.1:3']],
    ])
    // A bare lookup function cannot be listed: only the (empty) any-server route remains.
    const fn = routeTable({ datacenter: 'dc1', servers: () => '127.0.0.1:4' })
    expect(fn.routes).toEqual([expect.objectContaining({ kind: 'local-any', targets: [] })])
  })

  it('rejects malformed input with InvalidArgumentError naming it', () => {
    const cases: Array<[() => unknown, RegExp]> = [
      [() => routeTable({ datacenter: 'a.b', servers: {} }), /datacenter/],
      [() => routeTable({ datacenter: 'dc1', servers: { bob: 'x' } }), /servers\.bob/],
      [
        () => routeTable({ datacenter: 'dc1', servers: {}, remoteGateways: { 'd.c': [] } }),
        /remoteGateways/,
      ],
      [
        () => routeTable({ datacenter: 'dc1', servers: {}, remoteGateways: { dc2: ['nope'] } }),
        /remoteGateways\.dc2/,
      ],
      [() => toServerRegistry(42 as never), /servers/],
    ]
    for (const [fn, message] of cases) {
      expect(fn).toThrow(message)
      try {
        fn()
      } catch (err) {
        expect(err).toMatchObject({ code: 'WANFED_ERR_INVALID_ARG' })
      }
    }
  })
})
