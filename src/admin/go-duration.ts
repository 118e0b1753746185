/**
 * Go's `time.ParseDuration`, which Consul's HTTP API applies to `?wait=`: a sign, then one or more
 * decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), such as `300ms`,
 * `1.5h` or `2h45m`. A bare number needs a unit, except `0`.
 */

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
}

/** Go's limit: durations are int64 nanoseconds. */
const MAX_NS = 2 ** 63 - 1

const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]+)/

/** The duration in milliseconds (fractions kept), or undefined when Go would refuse the text. */
export function parseGoDuration(text: string): number | undefined {
  let s = text
  let sign = 1
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1
    s = s.slice(1)
  }
  if (s === '0') return 0
  if (s === '') return undefined
  let ns = 0
  while (s !== '') {
    const m = COMPONENT.exec(s)
    if (m === null) return undefined
    const whole = m[1] as string
    const frac = m[2] ?? ''
    const unit = m[3] as string
    // Go needs a digit on one side of the dot.
    if (whole === '' && frac === '') return undefined
    const size = UNIT_NS[unit]
    if (size === undefined) return undefined
    ns += Number(`${whole === '' ? '0' : whole}.${frac === '' ? '0' : frac}`) * size
    if (!(ns <= MAX_NS)) return undefined
    s = s.slice(m[0].length)
  }
  return (sign * ns) / 1e6
}
