import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { serverSni } from '../../src/alpn/sni.ts'
import { normalizeDomain as certsNormalizeDomain } from '../../src/certs/certificates.ts'
import { checkDnsLabel, checkDnsName } from '../../src/certs/names.ts'
import { parseGatewayConfig } from '../../src/cli/gateway-config.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { MeshGateway } from '../../src/gateway/index.ts'
import {
  checkDatacenter,
  normalizeDomain as routesNormalizeDomain,
} from '../../src/gateway/routes.ts'
import {
  isDnsLabel,
  isDnsName,
  isSniLabel,
  type LabelRule,
  normalizeDomain,
} from '../../src/names.ts'

if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

// The rule written out a second way (character by character, no regex), so a change to either
// the pattern or its bounds shows up as a disagreement.
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

function labelOk(s: string, rule: LabelRule): boolean {
  if (s.length < 1 || s.length > 63) return false
  const edge = (c: string) => ALNUM.includes(c) || (rule === 'sni' && c === '_')
  if (!edge(s[0] as string) || !edge(s[s.length - 1] as string)) return false
  return [...s].every((c) => edge(c) || c === '-')
}

function nameOk(s: string, rule: LabelRule): boolean {
  return s.length >= 1 && s.length <= 253 && s.split('.').every((l) => labelOk(l, rule))
}

function accepts(f: () => unknown): boolean {
  try {
    f()
    return true
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err
    return false
  }
}

/** Characters the rule cares about, weighted towards the valid ones, and lengths around 63. */
const labelish = fc.string({
  unit: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...'aZ9') },
    { weight: 2, arbitrary: fc.constantFrom('-', '_') },
    { weight: 1, arbitrary: fc.constantFrom('.', ' ', 'é', '*', '/') },
  ),
  maxLength: 70,
})
const longLabel = fc
  .integer({ min: 60, max: 66 })
  .chain((n) => fc.tuple(fc.constant(n), fc.constantFrom('a', '-', '_')))
  .map(([n, c]) => `a${c.repeat(n - 2)}a`)
const labelInput = fc.oneof(labelish, longLabel)

/** A valid name under the sni rule, in mixed case, possibly near 253 characters. */
const label = fc.stringMatching(/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,20}[A-Za-z0-9_])?$/)
const dnsName = fc.array(label, { minLength: 1, maxLength: 14 }).map((ls) => ls.join('.'))
const nameInput = fc.oneof(
  dnsName,
  fc.array(labelInput, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('.')),
  fc.array(fc.constant('a'.repeat(63)), { minLength: 4, maxLength: 4 }).map((ls) => ls.join('.')),
  fc.integer({ min: 250, max: 256 }).map((n) => `${'a.'.repeat(Math.floor(n / 2))}a`.slice(-n)),
)

describe('the one DNS-label rule', () => {
  it('holds 63 characters and not 64, under both rules', () => {
    for (const rule of ['hostname', 'sni'] as const) {
      expect(isDnsLabel('a'.repeat(63), rule)).toBe(true)
      expect(isDnsLabel('a'.repeat(64), rule)).toBe(false)
      expect(isDnsLabel('', rule)).toBe(false)
      expect(isDnsLabel('-a', rule)).toBe(false)
      expect(isDnsLabel('a-', rule)).toBe(false)
    }
    expect(isDnsLabel('a_b', 'hostname')).toBe(false)
    expect(isDnsLabel('_a_', 'sni')).toBe(true)
  })

  test.prop([labelInput], { numRuns: 2_000 })('isDnsLabel matches the written-out rule', (s) => {
    expect(isDnsLabel(s, 'hostname')).toBe(labelOk(s, 'hostname'))
    expect(isDnsLabel(s, 'sni')).toBe(labelOk(s, 'sni'))
    expect(isSniLabel(s)).toBe(labelOk(s, 'sni'))
  })

  test.prop([labelInput], { numRuns: 1_000 })(
    'every place that checks a label follows it: certificates the hostname rule, SNI names, routes and the gateway config the sni rule',
    (s) => {
      expect(accepts(() => checkDnsLabel(s, 'datacenter'))).toBe(labelOk(s, 'hostname'))
      expect(accepts(() => checkDatacenter(s, 'datacenter'))).toBe(labelOk(s, 'sni'))
      expect(accepts(() => serverSni(s, 'bob'))).toBe(labelOk(s, 'sni'))
      expect(accepts(() => serverSni('dc1', s))).toBe(labelOk(s, 'sni') || s === '' || s === '*')
      let configOk = true
      try {
        parseGatewayConfig({ datacenter: s })
      } catch {
        configOk = false
      }
      expect(configOk).toBe(labelOk(s, 'sni'))
    },
  )
})

describe('the one DNS-name rule', () => {
  test.prop([nameInput], { numRuns: 1_000 })(
    'isDnsName is labels joined by dots, at most 253 characters',
    (s) => {
      expect(isDnsName(s, 'hostname')).toBe(nameOk(s, 'hostname'))
      expect(isDnsName(s, 'sni')).toBe(nameOk(s, 'sni'))
      // Certificates take one trailing dot and drop it.
      const bare = s.endsWith('.') ? s.slice(0, -1) : s
      expect(accepts(() => checkDnsName(s, 'name'))).toBe(nameOk(bare, 'hostname'))
    },
  )

  it('takes 253 characters and not 254', () => {
    const name253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`
    expect(name253).toHaveLength(253)
    expect(isDnsName(name253)).toBe(true)
    expect(isDnsName(`${name253}d`)).toBe(false)
    expect(isDnsName('*.example.com')).toBe(false)
    expect(isDnsName('*.example.com', 'hostname', true)).toBe(true)
  })
})

describe('the one normalizeDomain', () => {
  it('is the same function in the gateway and the certificates', () => {
    expect(routesNormalizeDomain).toBe(normalizeDomain)
    expect(certsNormalizeDomain).toBe(normalizeDomain)
    expect(normalizeDomain()).toBe('consul')
    expect(normalizeDomain(undefined, { rule: 'hostname' })).toBe('consul')
  })

  test.prop([nameInput, fc.constantFrom('', '.', '..')], { numRuns: 1_000 })(
    'strips one trailing dot, lowercases, and refuses what is not a DNS name',
    (s, dots) => {
      const input = s + dots
      const bare = (input.endsWith('.') ? input.slice(0, -1) : input).toLowerCase()
      for (const rule of ['hostname', 'sni'] as const) {
        const ok = nameOk(bare, rule)
        expect(accepts(() => normalizeDomain(input, { rule }))).toBe(ok)
        if (!ok) continue
        const out = normalizeDomain(input, { rule })
        expect(out).toBe(bare)
        // Canonical: normalizing again changes nothing.
        expect(normalizeDomain(out, { rule })).toBe(out)
      }
    },
  )

  test.prop([nameInput, fc.boolean()], { numRuns: 500 })(
    'the gateway config takes a domain exactly when normalizeDomain does, and stores its result',
    (s, dot) => {
      const input = dot ? `${s}.` : s
      let stored: string | undefined
      try {
        stored = parseGatewayConfig({ domain: input }).domain
      } catch {
        stored = undefined
      }
      expect(stored).toBe(
        accepts(() => normalizeDomain(input)) ? normalizeDomain(input) : undefined,
      )
    },
  )

  test.prop([nameInput, fc.boolean()], { numRuns: 300 })(
    'a MeshGateway takes a domain exactly when normalizeDomain does, and routes by its result',
    (s, dot) => {
      const input = dot ? `${s}.` : s
      let domain: string | undefined
      try {
        // Construction does no I/O: nothing to close.
        domain = new MeshGateway({ datacenter: 'dc1', servers: {}, domain: input }).domain
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgumentError)
      }
      expect(domain).toBe(
        accepts(() => normalizeDomain(input)) ? normalizeDomain(input) : undefined,
      )
    },
  )

  it('names the field and refuses non-strings', () => {
    expect(() => normalizeDomain('a..b', { field: '--domain' })).toThrow(
      /^--domain must be a DNS name/,
    )
    expect(() => normalizeDomain(42)).toThrow(InvalidArgumentError)
    expect(() => normalizeDomain('x_y.com', { rule: 'hostname' })).toThrow(/^domain /)
    expect(normalizeDomain('X_y.COM.')).toBe('x_y.com')
  })
})
