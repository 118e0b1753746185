/**
 * A small, strict flag parser for the `wanfed` command.
 *
 * Accepted forms: `--name value`, `--name=value`, and Go's single-dash `-name value` / `-name=value`
 * so Consul users' habits work. Boolean flags take no value (`--ca`), or `=true` / `=false`.
 * Repeatable flags collect every value in order. `--` ends flags. Unknown flags, missing values
 * and repeated single-value flags are errors that name the flag.
 *
 * @packageDocumentation
 */

/** An expected failure of a command: `main()` prints the message (no stack) and exits 1. */
export class CommandError extends Error {
  override name = 'CommandError'
}

/** A usage mistake: shown like a {@link CommandError}, plus a pointer to `--help`. */
export class UsageError extends CommandError {
  override name = 'UsageError'
}

export type FlagKind = 'boolean' | 'string' | 'strings'

export interface FlagSpec {
  readonly kind: FlagKind
  /** One line for `--help`. */
  readonly description: string
  /** Placeholder shown in `--help` for flags with a value, e.g. `<dc>`. */
  readonly valueName?: string
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>

type ValueOf<S extends FlagSpec> = S['kind'] extends 'boolean'
  ? boolean
  : S['kind'] extends 'string'
    ? string | undefined
    : string[]

export type ParsedFlags<S extends FlagSpecs> = { [K in keyof S]: ValueOf<S[K]> }

export interface ParseResult<S extends FlagSpecs> {
  readonly flags: ParsedFlags<S>
  readonly positionals: string[]
  /** `--help` or `-h` was given. */
  readonly help: boolean
  /** The flags that appeared on the command line, by name. */
  readonly given: ReadonlySet<keyof S & string>
}

export function parseArgs<S extends FlagSpecs>(argv: readonly string[], specs: S): ParseResult<S> {
  const flags: Record<string, boolean | string | string[] | undefined> = {}
  for (const [name, spec] of Object.entries(specs)) {
    flags[name] = spec.kind === 'boolean' ? false : spec.kind === 'strings' ? [] : undefined
  }
  const positionals: string[] = []
  const given = new Set<string>()
  let help = false

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1)
    const eq = body.indexOf('=')
    const name = eq === -1 ? body : body.slice(0, eq)
    const inline = eq === -1 ? undefined : body.slice(eq + 1)
    if (name === 'help' || name === 'h') {
      help = true
      continue
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined
    if (spec === undefined) throw new UsageError(`unknown flag: --${name}`)

    if (spec.kind === 'boolean') {
      if (inline === undefined || inline === 'true') flags[name] = true
      else if (inline === 'false') flags[name] = false
      else throw new UsageError(`--${name} takes no value (or =true / =false), got "${inline}"`)
      given.add(name)
      continue
    }

    let value = inline
    if (value === undefined) {
      const next = argv[i + 1]
      if (next === undefined) throw new UsageError(`--${name} needs a value`)
      value = next
      i++
    }
    if (spec.kind === 'string') {
      if (given.has(name)) throw new UsageError(`--${name} was given more than once`)
      flags[name] = value
    } else {
      ;(flags[name] as string[]).push(value)
    }
    given.add(name)
  }
  return { flags: flags as ParsedFlags<S>, positionals, help, given }
}

/** Renders the flag list for `--help`. */
export function formatFlags(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = spec.kind === 'boolean' ? `--${name}` : `--${name} ${spec.valueName ?? '<value>'}`
    return [left, spec.kind === 'strings' ? `${spec.description} (repeatable)` : spec.description]
  })
  const width = Math.max(...rows.map(([left]) => (left as string).length))
  return rows.map(([left, right]) => `  ${(left as string).padEnd(width)}  ${right}`).join('\n')
}
