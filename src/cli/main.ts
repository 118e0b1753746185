/**
 * The `wanfed` command line. `main(argv, io)` runs one command in-process and resolves to its exit
 * code (0 on success, 1 on any error), so tests call it directly; `bin/wanfed.js` calls it with
 * `process.argv.slice(2)`. Subcommands live in the table in `commands.ts`.
 *
 * @packageDocumentation
 */

import { isWanfedError } from '../errors.ts'
import { CommandError, UsageError } from './args.ts'
import { commands } from './commands.ts'
import { type CliIo, type CommandGroup, isGroup } from './types.ts'
import { packageVersion } from './version.ts'

export { commands } from './commands.ts'
export type { CliIo, Command, CommandGroup } from './types.ts'

function groupHelp(path: string[], group: CommandGroup): string {
  const entries = Object.entries(group.commands)
  const width = Math.max(...entries.map(([name]) => name.length))
  const list = entries
    .map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`)
    .join('\n')
  const name = ['wanfed', ...path].join(' ')
  const version = path.length === 0 ? '\nOptions:\n  --version  Print the version and exit\n' : ''
  return `Usage: ${name} <command> [options]\n\n  ${group.summary}\n\nCommands:\n${list}\n${version}\nRun '${name} <command> --help' for a command's options.\n`
}

/**
 * Runs `wanfed <argv...>`. `io` defaults to the process's stdout, stderr and working directory.
 * Never throws and never calls `process.exit`: every failure is written to `io.stderr` and turned
 * into exit code 1.
 */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const cli: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    cwd: io.cwd ?? process.cwd(),
    ...(io.signal === undefined ? {} : { signal: io.signal }),
  }
  const first = argv[0]
  if (first === '--version' || first === '-v' || first === 'version') {
    cli.stdout.write(`wanfed ${packageVersion()}\n`)
    return 0
  }
  let group = commands
  const path: string[] = []
  let i = 0
  for (;;) {
    const word = argv[i]
    if (word === undefined || word === '--help' || word === '-h' || word === 'help') {
      const text = groupHelp(path, group)
      if (word === undefined) {
        cli.stderr.write(text)
        return 1
      }
      cli.stdout.write(text)
      return 0
    }
    const entry = Object.hasOwn(group.commands, word) ? group.commands[word] : undefined
    if (entry === undefined) {
      const name = ['wanfed', ...path].join(' ')
      cli.stderr.write(
        `Error: unknown command: ${word}\nRun '${name} --help' for the list of commands.\n`,
      )
      return 1
    }
    path.push(word)
    i++
    if (isGroup(entry)) {
      group = entry
      continue
    }
    try {
      return await entry.run(argv.slice(i), cli)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      cli.stderr.write(`Error: ${message}\n`)
      if (err instanceof UsageError && entry.usage !== undefined) {
        cli.stderr.write(`Run '${['wanfed', ...path].join(' ')} --help' for usage.\n`)
      } else if (
        !(err instanceof CommandError) &&
        !isWanfedError(err) &&
        typeof (err as { code?: unknown }).code !== 'string'
      ) {
        // Not an expected failure (nor an fs error with a code): keep the stack for bug reports.
        if (err instanceof Error && err.stack !== undefined) cli.stderr.write(`${err.stack}\n`)
      }
      return 1
    }
  }
}
