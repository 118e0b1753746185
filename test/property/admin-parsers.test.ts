/**
 * The admin endpoint's parsers and writers under generated input: Go's duration syntax for
 * `?wait=`, Consul's `?index=`, and the Prometheus exposition (label values and HELP text of any
 * content come back unchanged through a strict reader and a real parser).
 */
import { fc, test } from '@fast-check/vitest'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { describe, expect, it } from 'vitest'
import { parseGoDuration } from '../../src/admin/go-duration.ts'
import { renderExposition } from '../../src/admin/prometheus.ts'
import { parseBlockingParams } from '../../src/admin/query.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { parseStrict } from '../helpers/prometheus.ts'

if (process.env['CI']) fc.configureGlobal({ interruptAfterTimeLimit: 10_000 })

const UNITS: [string, number][] = [
  ['ns', 1e-6],
  ['us', 1e-3],
  ['µs', 1e-3],
  ['μs', 1e-3],
  ['ms', 1],
  ['s', 1e3],
  ['m', 60e3],
  ['h', 3600e3],
]

describe("parseGoDuration (Go's time.ParseDuration)", () => {
  it('takes the forms Go takes', () => {
    expect(parseGoDuration('0')).toBe(0)
    expect(parseGoDuration('300ms')).toBe(300)
    expect(parseGoDuration('1.5h')).toBe(5_400_000)
    expect(parseGoDuration('2h45m')).toBe(9_900_000)
    expect(parseGoDuration('-1.5s')).toBe(-1500)
    expect(parseGoDuration('+.5s')).toBe(500)
    expect(parseGoDuration('5.s')).toBe(5000)
    expect(parseGoDuration('1h1m1s1ms1us1ns')).toBeCloseTo(3_661_001.001001, 6)
  })

  it('refuses what Go refuses', () => {
    for (const bad of [
      '',
      '5',
      '-',
      '.s',
      '1.2.3s',
      '5x',
      's',
      '1 s',
      ' 1s',
      '1s ',
      '1S',
      '1e3s',
      '--1s',
      '0x10s',
      '1h-1m',
    ])
      expect(parseGoDuration(bad), bad).toBeUndefined()
    // Past int64 nanoseconds (about 292 years).
    expect(parseGoDuration('2562048h')).toBeUndefined()
    expect(parseGoDuration('2562047h')).toBe(2_562_047 * 3600e3)
  })

  test.prop([
    fc.constantFrom('', '-', '+'),
    fc.array(
      fc.tuple(
        fc.nat({ max: 10_000 }),
        fc.option(fc.nat({ max: 999 }), { nil: undefined }),
        fc.constantFrom(...UNITS),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  ])('a sequence of number+unit parts is the sum of its parts', (sign, parts) => {
    const text =
      sign + parts.map(([w, f, [u]]) => `${w}${f === undefined ? '' : `.${f}`}${u}`).join('')
    const expected = parts.reduce((sum, [w, f, [, ms]]) => sum + Number(`${w}.${f ?? 0}`) * ms, 0)
    const got = parseGoDuration(text)
    expect(got).toBeDefined()
    expect(got as number).toBeCloseTo((sign === '-' ? -1 : 1) * expected, 3)
  })

  test.prop([fc.string({ maxLength: 20 })])(
    'never throws; a result means the text has a unit or is 0',
    (text) => {
      const got = parseGoDuration(text)
      if (got !== undefined) expect(/^[-+]?0$/.test(text) || /[a-zµμ]/.test(text)).toBe(true)
    },
  )
})

describe('parseBlockingParams (?index=, ?wait=)', () => {
  test.prop([fc.maxSafeNat()])('an index of digits reads back exactly', (n) => {
    expect(parseBlockingParams(new URLSearchParams(`index=${n}`)).minIndex).toBe(n)
  })

  test.prop([fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !/^\d+$/.test(s))])(
    'anything else is Invalid index',
    (s) => {
      const q = new URLSearchParams()
      q.set('index', s)
      expect(() => parseBlockingParams(q)).toThrow(InvalidArgumentError)
    },
  )

  it('a zero or negative wait means the default, as in Consul', () => {
    expect(parseBlockingParams(new URLSearchParams('wait=0')).waitMs).toBeUndefined()
    expect(parseBlockingParams(new URLSearchParams('wait=-5s')).waitMs).toBeUndefined()
    expect(parseBlockingParams(new URLSearchParams('wait=90s')).waitMs).toBe(90_000)
    expect(parseBlockingParams(new URLSearchParams('index=3&index=x')).minIndex).toBe(3)
  })
})

describe('renderExposition', () => {
  test.prop([
    fc.string({ maxLength: 40 }),
    // parse-prometheus-text-format refuses a HELP line whose text is only blanks (the strict
    // reader takes it); the metric table never has one, so such text is left out here.
    fc.string({ minLength: 1, maxLength: 40 }).filter((h) => h.trim() !== ''),
    fc.double({ noNaN: true }),
  ])(
    'label values and HELP text of any content survive a strict reader and a real parser',
    (label, help, value) => {
      const text = renderExposition([
        { name: 'wanfed_x', type: 'gauge', help, samples: [{ labels: { v: label }, value }] },
      ])
      const [family] = parseStrict(text)
      expect(family?.help).toBe(help)
      expect(family?.samples[0]?.labels['v']).toBe(label)
      expect(family?.samples[0]?.value).toBe(value === 0 ? 0 : value)
      const [real] = parsePrometheusTextFormat(text)
      expect(real?.metrics[0]?.labels?.['v']).toBe(label)
    },
  )

  it('writes each family once, merging samples, and leaves out empty ones', () => {
    const text = renderExposition([
      {
        name: 'wanfed_a_total',
        type: 'counter',
        help: 'A.',
        samples: [{ labels: { n: '1' }, value: 1 }],
      },
      { name: 'wanfed_empty', type: 'gauge', help: 'E.', samples: [] },
      {
        name: 'wanfed_a_total',
        type: 'counter',
        help: 'A.',
        samples: [{ labels: { n: '2' }, value: 2 }],
      },
    ])
    expect(text).toBe(
      '# HELP wanfed_a_total A.\n# TYPE wanfed_a_total counter\nwanfed_a_total{n="1"} 1\nwanfed_a_total{n="2"} 2\n',
    )
    expect(
      renderExposition([
        { name: 'g', type: 'gauge', help: 'h', samples: [{ labels: {}, value: Infinity }] },
      ]),
    ).toContain('g +Inf\n')
    expect(() =>
      renderExposition([{ name: 'bad-name', type: 'gauge', help: '', samples: [] }]),
    ).toThrow()
    expect(() =>
      renderExposition([
        { name: 'x', type: 'gauge', help: '', samples: [{ labels: { __x: '' }, value: 1 }] },
      ]),
    ).toThrow()
  })
})
