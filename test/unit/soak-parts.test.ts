/** The soak's judgement and its command line, apart from the soak itself. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseSoakArgs } from '../../scripts/soak/options.ts'
import {
  BOUNDS,
  boundViolations,
  heapSlope,
  type ResourceSample,
} from '../../scripts/soak/resources.ts'
import { InvalidArgumentError } from '../../src/errors.ts'

function sample(atS: number, heapMiB: number, rssMiB = 100, handleTotal = 100): ResourceSample {
  return {
    atS,
    phase: 'steady',
    rssMiB,
    heapMiB,
    externalMiB: 0,
    handles: {},
    handleTotal,
    collected: true,
  }
}

describe('soak bounds', () => {
  const base = sample(0, 20)

  it('hold for flat samples, and break on each kind of growth', () => {
    expect(boundViolations(base, [sample(60, 21), sample(120, 20)])).toEqual([])
    expect(boundViolations(base, [sample(60, 20 + BOUNDS.heapGrowthMiB + 1)])).toHaveLength(1)
    expect(boundViolations(base, [sample(60, 20, 100 + BOUNDS.rssGrowthMiB + 1)])).toHaveLength(1)
    expect(boundViolations(base, [sample(60, 20, 100, 126)])).toHaveLength(1)
    expect(boundViolations(base, [sample(60, 20, 100, 125)])).toEqual([])
  })

  it('break on a steady heap slope, once there are enough samples to fit one', () => {
    const creeping = [1, 2, 3, 4, 5].map((m) => sample(m * 60, 20 + 2 * m))
    expect(heapSlope([base, ...creeping])).toBe(2)
    expect(boundViolations(base, creeping).join()).toMatch(/grows 2 MiB\/min/)
    expect(boundViolations(base, creeping.slice(0, 4))).toEqual([])
  })
})

describe('soak options', () => {
  it('parse the defaults and every flag', () => {
    expect(parseSoakArgs([])).toEqual({
      help: false,
      options: { minutes: 10, everyS: 60, dcs: 3, nodes: 3 },
    })
    expect(
      parseSoakArgs([
        '--minutes',
        '1.5',
        '--every',
        '15',
        '--dcs',
        '4',
        '--nodes',
        '5',
        '--json',
        'r.json',
      ]),
    ).toEqual({
      help: false,
      options: { minutes: 1.5, everyS: 15, dcs: 4, nodes: 5, json: 'r.json' },
    })
    expect(parseSoakArgs(['-h'])).toEqual({ help: true })
  })

  it.each([
    [['--minutes', '0.1'], /--minutes must be a number from 0.5 to 240, got 0.1/],
    [['--every', '-5'], /--every/],
    [['--dcs', '3.5'], /--dcs must be a whole number/],
    [['--nodes', '99'], /--nodes must be a number from 3 to 6/],
    [['--json', ''], /--json needs a file name/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /Unexpected argument 'extra'/],
  ])('refuse %j', (argv, message) => {
    expect(() => parseSoakArgs(argv)).toThrow(InvalidArgumentError)
    expect(() => parseSoakArgs(argv)).toThrow(message)
  })

  it('either parse or throw InvalidArgumentError, for any argv', () => {
    const token = fc.oneof(
      fc.constantFrom('--minutes', '--every', '--dcs', '--nodes', '--json', '-h', '--x'),
      fc.string(),
      fc.double().map(String),
    )
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), (argv) => {
        try {
          const parsed = parseSoakArgs(argv)
          if (!parsed.help) {
            const o = parsed.options
            expect(o.minutes).toBeGreaterThanOrEqual(0.5)
            expect(Number.isInteger(o.dcs) && Number.isInteger(o.nodes)).toBe(true)
          }
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidArgumentError)
        }
      }),
      { numRuns: 500 },
    )
  })
})
