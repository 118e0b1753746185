import { fc, test } from '@fast-check/vitest'
import { decode, encode } from '@msgpack/msgpack'
import { describe, expect } from 'vitest'
import { SnapshotError } from '../../src/errors.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import type { MeshGatewayInput } from '../../src/locator/federation/validate.ts'

// `__proto__` is refused as a key (msgpack cannot carry it): valid states never hold it.
const metaKey = fc.string().filter((k) => k !== '__proto__')

if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const name = fc.string({ minLength: 1, maxLength: 12 })
const gatewayArb: fc.Arbitrary<MeshGatewayInput> = fc.record({
  node: fc.record({
    node: name,
    address: name,
    taggedAddresses: fc.dictionary(fc.constantFrom('lan', 'wan'), name),
    meta: fc.dictionary(metaKey, fc.string(), { maxKeys: 3 }),
  }),
  service: fc.record({
    service: name,
    address: fc.string(),
    port: fc.integer({ min: 0, max: 65535 }),
    tags: fc.array(fc.string(), { maxLength: 3 }),
    taggedAddresses: fc.dictionary(
      fc.constantFrom('lan', 'wan'),
      fc.record({ address: name, port: fc.integer({ min: 0, max: 65535 }) }),
    ),
    meta: fc.dictionary(metaKey, fc.string(), { maxKeys: 3 }),
  }),
  checks: fc.array(
    fc.record({
      checkId: name,
      status: fc.constantFrom('passing', 'warning', 'critical', 'maintenance'),
      output: fc.string(),
    }),
    { maxLength: 3 },
  ),
})

type Op =
  | { op: 'upsert'; dc: string; gateways: MeshGatewayInput[]; primary: number; at: number }
  | { op: 'delete'; dc: string }

const dcArb = fc.constantFrom('dc1', 'DC1', 'dc2', 'Dc3', 'eu-west', 'ÄÖ', '\u{1F600}')
const opsArb = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constant('upsert' as const),
      dc: dcArb,
      gateways: fc.array(gatewayArb, { maxLength: 3 }),
      primary: fc.nat(),
      at: fc.nat(),
    }),
    fc.record({ op: fc.constant('delete' as const), dc: dcArb }),
  ),
  { maxLength: 20 },
)

function build(ops: Op[]): FederationStateStore {
  const s = new FederationStateStore()
  for (const o of ops) {
    if (o.op === 'upsert')
      s.upsert({
        datacenter: o.dc,
        meshGateways: o.gateways,
        primaryModifyIndex: o.primary,
        updatedAt: o.at,
      })
    else s.delete(o.dc)
  }
  return s
}

describe('FederationStateStore snapshot (property)', () => {
  test.prop([opsArb])('restore(snapshot()) gives the same records, index and bytes', (ops) => {
    const a = build(ops)
    const b = new FederationStateStore()
    b.restore(a.snapshot())
    expect(b.index).toBe(a.index)
    expect(b.list()).toEqual(a.list())
    expect(b.listMeshGateways()).toEqual(a.listMeshGateways())
    expect(b.snapshot()).toEqual(a.snapshot())
    for (const s of a.list().states)
      expect(b.get(s.datacenter.toUpperCase())).toEqual(a.get(s.datacenter))
  })

  test.prop([opsArb, fc.uint8Array({ maxLength: 200 })])(
    'random bytes: a SnapshotError, and the store keeps what it had',
    (ops, bytes) => {
      const s = build(ops)
      const before = s.snapshot()
      try {
        s.restore(bytes)
        throw new Error('random bytes restored')
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotError)
      }
      expect(s.snapshot()).toEqual(before)
    },
  )

  test.prop([opsArb, opsArb, fc.nat(), fc.integer({ min: 0, max: 255 })])(
    'a corrupted valid snapshot either restores cleanly or throws SnapshotError and changes nothing',
    (ops, other, at, byte) => {
      const s = build(ops)
      const before = s.snapshot()
      const good = build(other).snapshot()
      const bad = new Uint8Array(good)
      bad[at % bad.length] = byte
      try {
        s.restore(bad)
        // Still valid: what is stored must itself round-trip.
        const again = new FederationStateStore()
        again.restore(s.snapshot())
        expect(again.list()).toEqual(s.list())
      } catch (err) {
        expect(err).toBeInstanceOf(SnapshotError)
        expect(s.snapshot()).toEqual(before)
      }
    },
  )

  test.prop([
    opsArb.filter((ops) => build(ops).list().states.length > 0),
    fc.constantFrom(
      (o: Record<string, unknown>) => (o['format'] = 'something-else'),
      (o: Record<string, unknown>) => (o['version'] = 2),
      (o: Record<string, unknown>) => (o['index'] = -1),
      (o: Record<string, unknown>) => (o['index'] = 0),
      (o: Record<string, unknown>) => (o['states'] = {}),
      (o: Record<string, unknown>) => {
        const states = o['states'] as Record<string, unknown>[]
        states.push({ ...(states[0] as object) })
      },
      (o: Record<string, unknown>) => {
        const first = (o['states'] as Record<string, unknown>[])[0] as Record<string, unknown>
        first['datacenter'] = ''
      },
      (o: Record<string, unknown>) => {
        const first = (o['states'] as Record<string, unknown>[])[0] as Record<string, unknown>
        first['createIndex'] = 0
      },
    ),
  ])('a well-formed map with a bad field is refused', (ops, spoil) => {
    const s = build(ops)
    const before = s.snapshot()
    const o = decode(before) as Record<string, unknown>
    spoil(o)
    expect(() => s.restore(encode(o))).toThrow(SnapshotError)
    expect(s.snapshot()).toEqual(before)
  })
})
