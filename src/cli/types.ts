/** Where a command writes and which directory it works in; `main()` fills in the process's own. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown }
  readonly stderr: { write(chunk: string): unknown }
  /** Relative paths in arguments resolve against this directory. */
  readonly cwd: string
  /** Stops a long-running command (`wanfed gateway`); without it, SIGINT / SIGTERM do. */
  readonly signal?: AbortSignal
}

/** One runnable subcommand, e.g. `wanfed cert create`. */
export interface Command {
  /** One line for the command list. */
  readonly summary: string
  /** Full help text, shown by `--help`; also tells `main()` the command has usage to point at. */
  readonly usage?: string
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(argv: string[], io: CliIo): Promise<number>
}

/** A group of subcommands, e.g. `wanfed cert`; groups nest. */
export interface CommandGroup {
  readonly summary: string
  readonly commands: Readonly<Record<string, Command | CommandGroup>>
}

export function isGroup(entry: Command | CommandGroup): entry is CommandGroup {
  return 'commands' in entry
}
