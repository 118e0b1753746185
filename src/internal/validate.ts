import { InvalidArgumentError } from '../errors.ts'

/**
 * The shape a numeric option must have. Bounds are inclusive; `positive` excludes zero (and
 * everything below), so "a timeout of 0" is refused loudly rather than read as "already expired".
 */
export interface NumberRule {
  /** Smallest allowed value (inclusive). */
  min?: number
  /** Largest allowed value (inclusive). Default: any finite number (`Infinity` only with `infinite`). */
  max?: number
  /** Greater than zero. */
  positive?: boolean
  /** An integer (safe integer). */
  integer?: boolean
  /** `Infinity` is accepted (meaning "none"), beyond `max`. */
  infinite?: boolean
  /** How the message names the unit, e.g. `ms`. */
  unit?: string
}

/**
 * Checks one numeric option and returns it. The message names the option, says what was expected
 * and shows what came: `idleTimeoutMs must be a positive number of ms, got -1`.
 *
 * @throws {InvalidArgumentError} when `value` is not a number meeting `rule`.
 */
export function checkNumber(value: unknown, name: string, rule: NumberRule = {}): number {
  if (typeof value === 'number' && meets(value, rule)) return value
  throw new InvalidArgumentError(`${name} must be ${describe(rule)}, got ${show(value)}`)
}

/** {@link checkNumber} for an optional option: `undefined` gives `fallback` (not checked). */
export function optionalNumber(
  value: unknown,
  fallback: number,
  name: string,
  rule: NumberRule = {},
): number {
  return value === undefined ? fallback : checkNumber(value, name, rule)
}

function meets(value: number, rule: NumberRule): boolean {
  if (Number.isNaN(value)) return false
  if (value === Number.POSITIVE_INFINITY) return rule.infinite === true
  if (!Number.isFinite(value)) return false
  if (rule.integer === true && !Number.isSafeInteger(value)) return false
  if (rule.positive === true && value <= 0) return false
  if (rule.min !== undefined && value < rule.min) return false
  if (rule.max !== undefined && value > rule.max) return false
  return true
}

function describe(rule: NumberRule): string {
  const kind = rule.integer === true ? 'integer' : 'number'
  const article = rule.integer === true && rule.positive !== true ? 'an' : 'a'
  const sign = rule.positive === true ? 'positive ' : rule.min === 0 ? 'non-negative ' : ''
  const bounded =
    rule.max !== undefined
      ? ` in ${rule.min ?? (rule.positive === true ? '>0' : '-∞')}..${rule.max}`
      : rule.min !== undefined && rule.min !== 0
        ? ` of at least ${rule.min}`
        : ''
  const unit = rule.unit !== undefined ? ` ${rule.unit}` : ''
  const inf = rule.infinite === true ? ' (or Infinity for none)' : ''
  return `${sign === '' ? article : 'a'} ${sign}${kind}${bounded}${unit}${inf}`
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'object' && value !== null)
    return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
