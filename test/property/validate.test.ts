import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { AlpnServer, dialViaGateway, FrameDecoder } from '../../src/alpn/index.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { checkNumber, type NumberRule, optionalNumber } from '../../src/internal/validate.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'

// The one rule for numeric options, written out independently of the implementation.
function expected(v: unknown, r: NumberRule): boolean {
  if (typeof v !== 'number' || Number.isNaN(v)) return false
  if (v === Number.POSITIVE_INFINITY) return r.infinite === true
  if (!Number.isFinite(v)) return false
  if (r.integer && !Number.isSafeInteger(v)) return false
  if (r.positive && !(v > 0)) return false
  if (r.min !== undefined && v < r.min) return false
  return !(r.max !== undefined && v > r.max)
}

const anyValue = fc.oneof(
  fc.double(),
  fc.integer({ min: -100, max: 100 }),
  fc.constantFrom(0, -0, 1, Number.MAX_SAFE_INTEGER + 2, Number.POSITIVE_INFINITY, Number.NaN),
  fc.string(),
  fc.constant(null),
  fc.boolean(),
)
const anyRule = fc.record(
  {
    min: fc.integer({ min: -5, max: 5 }),
    max: fc.integer({ min: 0, max: 50 }),
    positive: fc.boolean(),
    integer: fc.boolean(),
    infinite: fc.boolean(),
  },
  { requiredKeys: [] },
)

describe('option validators', () => {
  test.prop([anyValue, anyRule])('checkNumber accepts exactly what the rule allows', (v, r) => {
    if (expected(v, r)) {
      expect(checkNumber(v, 'x', r)).toBe(v)
    } else {
      expect(() => checkNumber(v, 'x', r)).toThrow(InvalidArgumentError)
    }
  })

  it('names the option, the expectation and the value', () => {
    expect(() => checkNumber(-1, 'idleTimeoutMs', { positive: true, unit: 'ms' })).toThrow(
      'idleTimeoutMs must be a positive number ms, got -1',
    )
    expect(() => checkNumber(1.5, 'port', { integer: true, min: 0, max: 65535 })).toThrow(
      'port must be a non-negative integer in 0..65535, got 1.5',
    )
    expect(() => checkNumber('3', 'n', { integer: true })).toThrow('n must be an integer, got "3"')
    expect(optionalNumber(undefined, 7, 'n', { positive: true })).toBe(7)
  })

  it('is the rule the classes apply', async () => {
    expect(() => new FrameDecoder({ maxFrameSize: 0 })).toThrow(/maxFrameSize must be/)
    expect(() => new FrameDecoder({ maxFrameSize: 1.5 })).toThrow(InvalidArgumentError)
    const tls = { ...tlsFixture('bob'), ca: caPem() }
    expect(() => new AlpnServer({ tls, maxTypeValue: 20 })).toThrow(/maxTypeValue must be/)
    expect(() => new AlpnServer({ tls, handshakeTimeoutMs: 0 })).toThrow(/handshakeTimeoutMs/)
    const dial = dialViaGateway({
      gateway: '127.0.0.1:1',
      datacenter: 'dc2',
      servername: 'betty.server.dc2.consul',
      alpn: 'consul/wan-gossip/packet',
      tls,
      connectTimeoutMs: -1,
    })
    await expect(dial).rejects.toThrow(/connectTimeoutMs must be a positive number/)
  })
})
