import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { InvalidFederationStateError, isWanfedError } from '../../src/errors.ts'
import { equalFold, isSameFederationState } from '../../src/locator/federation/state.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { parseFederationState } from '../../src/locator/federation/validate.ts'
import { gateway, state } from '../helpers/federation.ts'

// `__proto__` is refused as a key (msgpack cannot carry it): valid states never hold it.
const metaKey = fc.string().filter((k) => k !== '__proto__')

const parse = (v: unknown) => parseFederationState(v)

describe('federation state model', () => {
  it('normalizes a minimal input and freezes it deeply', () => {
    const s = parse(state('dc1', gateway({ wan: '198.51.100.1' })))
    expect(s).toMatchObject({ datacenter: 'dc1', updatedAt: 0, primaryModifyIndex: 0 })
    const gw = s.meshGateways[0]
    expect(gw?.service.kind).toBe('mesh-gateway')
    expect(gw?.node.taggedAddresses).toEqual({})
    expect(gw?.checks[0]?.serviceTags).toEqual([])
    expect(Object.isFrozen(s)).toBe(true)
    expect(Object.isFrozen(gw?.service.taggedAddresses['wan'])).toBe(true)
    expect(Object.isFrozen(gw?.checks)).toBe(true)
  })

  it('does not modify its input and drops unknown fields', () => {
    const input = { ...state('dc1', gateway()), extra: 1 }
    const before = structuredClone(input)
    const s = parse(input)
    expect(input).toEqual(before)
    expect('extra' in s).toBe(false)
  })

  it('rejects a missing datacenter with Consul message and a typed error', () => {
    for (const bad of [{}, { datacenter: '' }, { datacenter: 7 }]) {
      const err = (() => {
        try {
          parse(bad)
        } catch (e) {
          return e
        }
        return undefined
      })()
      expect(err).toBeInstanceOf(InvalidFederationStateError)
      expect(isWanfedError(err, 'WANFED_ERR_INVALID_FEDERATION_STATE')).toBe(true)
      expect((err as Error).message).toContain('missing federation state datacenter')
    }
  })

  it('rejects each malformed field, naming it', () => {
    const DELETE = Symbol('delete')
    const g = ['meshGateways', 0]
    const cases: [string, (string | number)[], unknown][] = [
      ['must be an object', [...g], 7],
      ['.node.node', [...g, 'node', 'node'], DELETE],
      ['.node.address', [...g, 'node', 'address'], ''],
      ['.service.service', [...g, 'service', 'service'], DELETE],
      ['.service.port', [...g, 'service', 'port'], 70000],
      ['.service.port', [...g, 'service', 'port'], 1.5],
      ['taggedAddresses.lan.port', [...g, 'service', 'taggedAddresses', 'lan', 'port'], -1],
      ['.status', [...g, 'checks', 0, 'status'], 'ok'],
      ['.checkId', [...g, 'checks', 0, 'checkId'], DELETE],
      ['.tags', [...g, 'service', 'tags'], [1]],
      ['.meta.consul-wan-federation', [...g, 'service', 'meta', 'consul-wan-federation'], 1],
      ['.primaryModifyIndex', ['primaryModifyIndex'], -1],
      ['.modifyIndex', ['modifyIndex'], 2 ** 60],
      ['.meshGateways', ['meshGateways'], 'x'],
    ]
    for (const [field, path, value] of cases) {
      const s = structuredClone(state('dc1', gateway())) as unknown as Record<
        string | number,
        unknown
      >
      let at = s
      for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>
      const last = path[path.length - 1] as string | number
      if (value === DELETE) delete at[last]
      else at[last] = value
      expect(() => parse(s), field).toThrow(InvalidFederationStateError)
      expect(() => parse(s), field).toThrow(field)
    }
  })

  it('refuses a __proto__ meta key, which no snapshot or message could carry back', () => {
    const input = JSON.parse(
      '{"datacenter":"dc1","meshGateways":[{"node":{"node":"n","address":"a","meta":{"__proto__":"x"}},"service":{"service":"s","port":1}}]}',
    )
    expect(() => parse(input)).toThrow(InvalidFederationStateError)
    expect(({} as Record<string, unknown>)['x']).toBeUndefined()
  })

  it('a stored state always comes back from its snapshot', () => {
    const store = new FederationStateStore()
    const gw = JSON.parse(
      '{"node":{"node":"gw","address":"10.0.0.1"},"service":{"service":"mesh-gateway","port":8443,"meta":{"__proto__":"x"}}}',
    )
    expect(() => store.upsert({ datacenter: 'dc2', meshGateways: [gw] })).toThrow(
      InvalidFederationStateError,
    )
    store.upsert({ datacenter: 'dc3', meshGateways: [] })
    const copy = new FederationStateStore()
    copy.restore(store.snapshot())
    expect(copy.list().states.map((x) => x.datacenter)).toEqual(['dc3'])
  })
})

describe('isSameFederationState (Consul FederationState.IsSame)', () => {
  const a = () => state('dc1', gateway({ name: 'gw1' }), gateway({ name: 'gw2', lan: '10.0.0.2' }))

  it('ignores updatedAt and every index', () => {
    const x = parse(a())
    const y = parse({ ...a(), updatedAt: 5, primaryModifyIndex: 9, createIndex: 3, modifyIndex: 4 })
    expect(isSameFederationState(x, y)).toBe(true)
  })

  it('is order-sensitive over gateways', () => {
    const r = a()
    const reversed = { ...r, meshGateways: [...(r.meshGateways ?? [])].reverse() }
    expect(isSameFederationState(parse(r), parse(reversed))).toBe(false)
  })

  it('includes check output and status', () => {
    expect(
      isSameFederationState(
        parse(state('dc1', gateway({ output: 'ok' }))),
        parse(state('dc1', gateway({ output: 'ok!' }))),
      ),
    ).toBe(false)
    expect(
      isSameFederationState(
        parse(state('dc1', gateway({ status: 'passing' }))),
        parse(state('dc1', gateway({ status: 'warning' }))),
      ),
    ).toBe(false)
  })

  it('compares the datacenter exactly, node names case-folded', () => {
    expect(isSameFederationState(parse(state('dc1')), parse(state('DC1')))).toBe(false)
    expect(
      isSameFederationState(
        parse(state('dc1', gateway({ name: 'GW1' }))),
        parse(state('dc1', gateway({ name: 'gw1' }))),
      ),
    ).toBe(true)
  })

  it('sees service address, port, tagged addresses, meta, tags and check count', () => {
    const mutations: ((g: ReturnType<typeof gateway>) => void)[] = [
      (g) => (g.service.port = 1),
      (g) => (g.service.address = '10.9.9.9'),
      (g) => (g.service.taggedAddresses = { wan: { address: '1.2.3.4', port: 1 } }),
      (g) => (g.service.meta = {}),
      (g) => (g.service.tags = ['x']),
      (g) => (g.node.taggedAddresses = { wan: '1.2.3.4' }),
      (g) => (g.node.meta = { a: 'b' }),
      (g) => (g.checks = []),
    ]
    for (const m of mutations) {
      const g = gateway()
      m(g)
      expect(isSameFederationState(parse(state('dc1', gateway())), parse(state('dc1', g)))).toBe(
        false,
      )
    }
  })

  it('equalFold folds as Go does', () => {
    expect(equalFold('Gw-Ä', 'gw-ä')).toBe(true)
    expect(equalFold('k', '\u212a')).toBe(true)
    expect(equalFold('ß', 'ss')).toBe(false)
    expect(equalFold('a', 'ab')).toBe(false)
  })
})

describe('parseFederationState on any input (property)', () => {
  test.prop([fc.anything()])('returns a state or throws InvalidFederationStateError', (value) => {
    try {
      const s = parse(value)
      expect(parse(s)).toEqual(s)
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidFederationStateError)
    }
  })

  const check = fc.record({
    checkId: fc.string({ minLength: 1 }),
    status: fc.constantFrom('passing', 'warning', 'critical', 'maintenance'),
    output: fc.string(),
  })
  const gw = fc.record({
    node: fc.record({
      node: fc.string({ minLength: 1 }),
      address: fc.string({ minLength: 1 }),
      meta: fc.dictionary(metaKey, fc.string()),
    }),
    service: fc.record({
      service: fc.string({ minLength: 1 }),
      port: fc.integer({ min: 0, max: 65535 }),
      tags: fc.array(fc.string()),
    }),
    checks: fc.array(check, { maxLength: 3 }),
  })
  test.prop([fc.string({ minLength: 1 }), fc.array(gw, { maxLength: 4 })])(
    'a valid state parses, is the same as itself and as its reparse',
    (datacenter, meshGateways) => {
      const s = parse({ datacenter, meshGateways })
      expect(isSameFederationState(s, parse(structuredClone(s)))).toBe(true)
      expect(s.meshGateways).toHaveLength(meshGateways.length)
    },
  )
})
