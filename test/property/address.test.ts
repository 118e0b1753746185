import { isIP } from 'node:net'
import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { parseGatewayConfig } from '../../src/cli/gateway-config.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { formatHostPort, parseHostPort, splitHostPort } from '../../src/internal/address.ts'
import { isDnsName } from '../../src/names.ts'

if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const host = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.domain(),
  fc.stringMatching(/^[a-z0-9_](?:[a-z0-9_-]{0,10}[a-z0-9_])?$/),
)
const port = fc.integer({ min: 0, max: 65_535 })

/** Strings shaped like addresses, and broken ones. */
const addressish = fc.oneof(
  fc.tuple(host, fc.integer({ min: 0, max: 200_000 })).map(([h, p]) => `${h}:${p}`),
  fc.tuple(host, port).map(([h, p]) => formatHostPort(h, p)),
  fc.string({
    unit: fc.constantFrom(...'[]:.1a f0'),
    maxLength: 16,
  }),
  fc.ipV6(),
)

function accepts(f: () => unknown): boolean {
  try {
    f()
    return true
  } catch {
    return false
  }
}

describe('the one host:port parser', () => {
  test.prop([host, port], { numRuns: 1_000 })('reads back what formatHostPort writes', (h, p) => {
    expect(parseHostPort(formatHostPort(h, p))).toEqual({ host: h, port: p })
  })

  test.prop([addressish], { numRuns: 2_000 })(
    'accepts exactly the host:port shapes with a port of at most 65535, and throws nothing but InvalidArgumentError',
    (s) => {
      const split = splitHostPort(s)
      let parsed: ReturnType<typeof parseHostPort> | undefined
      try {
        parsed = parseHostPort(s, 'address')
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgumentError)
        expect((err as Error).message).toContain(JSON.stringify(s))
      }
      expect(parsed).toEqual(split !== undefined && split.port <= 65_535 ? split : undefined)
      if (split === undefined) return
      expect(split.host).not.toBe('')
      // A colon in the host means a bracketed IPv6 literal, never a bare one.
      if (split.host.includes(':')) {
        expect(isIP(split.host)).toBe(6)
        expect(s.startsWith('[')).toBe(true)
      }
      expect(s.endsWith(`:${s.slice(s.lastIndexOf(':') + 1)}`)).toBe(true)
      expect(Number(s.slice(s.lastIndexOf(':') + 1))).toBe(split.port)
    },
  )

  test.prop([addressish], { numRuns: 1_000 })(
    'the gateway config uses it: an address is taken exactly when it parses, its host is an IP or a DNS name, and its port is not 0',
    (s) => {
      const split = splitHostPort(s)
      const hostOk = split !== undefined && (isIP(split.host) !== 0 || isDnsName(split.host, 'sni'))
      const server = accepts(() => parseGatewayConfig({ servers: { bob: s } }))
      const listen = accepts(() => parseGatewayConfig({ listen: s }))
      expect(server).toBe(hostOk && accepts(() => parseHostPort(s)) && split?.port !== 0)
      expect(listen).toBe(hostOk && accepts(() => parseHostPort(s)))
    },
  )

  it('refuses a bare IPv6 literal, a missing host and a port beyond 65535', () => {
    expect(splitHostPort('::1:80')).toBeUndefined()
    expect(splitHostPort(':80')).toBeUndefined()
    expect(splitHostPort('[::1]80')).toBeUndefined()
    expect(splitHostPort('[1.2.3.4]:80')).toBeUndefined()
    expect(splitHostPort('a:123456')).toBeUndefined()
    expect(parseHostPort('a:65535')).toEqual({ host: 'a', port: 65_535 })
    expect(() => parseHostPort('a:65536')).toThrow(InvalidArgumentError)
    expect(splitHostPort('a:65536')).toEqual({ host: 'a', port: 65_536 })
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 })
  })
})
