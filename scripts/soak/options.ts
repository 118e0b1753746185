/** The soak's command line, parsed strictly: a typo never runs a different soak. */
import { parseArgs } from 'node:util'
import { InvalidArgumentError } from 'wanfed'

export interface SoakOptions {
  /** How long faults keep coming, after the warm-up. */
  minutes: number
  /** Seconds from one fault's start to the next's (later if convergence took longer). */
  everyS: number
  dcs: number
  nodes: number
  /** Where to write the whole report as JSON. */
  json?: string
}

export const SOAK_USAGE = `Usage: npm run soak -- [options]

Three-DC gossip through wanfed's mesh gateways, in this one process, with a failure every
interval (node crash, gateway crash, node leave, a DC cut off), each healed and converged again.
Samples heap, RSS and handles; fails (exit 1) on unbounded growth, a lost or hung stream, or a
failure the federation did not recover from.

Options:
  --minutes N     how long faults keep coming, 0.5..240 (default 10)
  --every S       seconds between fault starts, 10..600 (default 60)
  --dcs N         datacenters, 3..5 (default 3)
  --nodes N       nodes per datacenter, 3..6 (default 3)
  --json FILE     write the report (samples, faults, traffic) there
  -h, --help      this text`

export type ParsedSoakArgs = { help: true } | { help: false; options: SoakOptions }

/** @throws {InvalidArgumentError} an unknown flag, a missing or out-of-range value */
export function parseSoakArgs(argv: readonly string[]): ParsedSoakArgs {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        minutes: { type: 'string' },
        every: { type: 'string' },
        dcs: { type: 'string' },
        nodes: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message, { cause: err })
  }
  if (values['help'] === true) return { help: true }
  const options: SoakOptions = {
    minutes: number(values['minutes'], '--minutes', 10, { min: 0.5, max: 240 }),
    everyS: number(values['every'], '--every', 60, { min: 10, max: 600 }),
    dcs: number(values['dcs'], '--dcs', 3, { min: 3, max: 5, integer: true }),
    nodes: number(values['nodes'], '--nodes', 3, { min: 3, max: 6, integer: true }),
  }
  const json = values['json']
  if (typeof json === 'string') {
    if (json === '') throw new InvalidArgumentError('--json needs a file name')
    options.json = json
  }
  return { help: false, options }
}

/** `raw` as a number within `[min, max]` (a whole one when `integer`), or `fallback` when absent. */
function number(
  raw: string | boolean | undefined,
  flag: string,
  fallback: number,
  range: { min: number; max: number; integer?: boolean },
): number {
  if (raw === undefined) return fallback
  const n = typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN
  if (!(n >= range.min && n <= range.max))
    throw new InvalidArgumentError(
      `${flag} must be a number from ${range.min} to ${range.max}, got ${String(raw)}`,
    )
  if (range.integer === true && !Number.isInteger(n))
    throw new InvalidArgumentError(`${flag} must be a whole number, got ${String(raw)}`)
  return n
}
