/**
 * The child processes of the examples: each one's output read line by line (and shown,
 * prefixed with its name), waits for a line that says something happened, and a stop that ends
 * every one of them and waits until each has exited. Nothing here is wanfed: it is what a
 * supervisor (systemd, a container runtime) does for you in a deployment.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export class Child {
  readonly lines: string[] = []
  readonly exited: Promise<Exit>
  readonly #process: ChildProcess
  readonly #waiters = new Set<() => void>()
  #exit: Exit | undefined

  /** `log` shows each line of its output, prefixed with `label`; without it, lines are only kept. */
  constructor(
    readonly label: string,
    command: string,
    args: readonly string[],
    cwd: string,
    log: ((line: string) => void) | undefined,
  ) {
    this.#process = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    const read = (stream: NodeJS.ReadableStream, prefix: string) => {
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line)
        log?.(`${prefix} ${line}`)
        for (const wake of this.#waiters) wake()
      })
    }
    read(this.#process.stdout as NodeJS.ReadableStream, `[${label}]`)
    read(this.#process.stderr as NodeJS.ReadableStream, `[${label} stderr]`)
    this.exited = new Promise<Exit>((resolve) => {
      // 'close', not 'exit': by then both pipes are drained, so every line has been read.
      this.#process.once('close', (code, signal) => {
        this.#exit = { code, signal }
        for (const wake of this.#waiters) wake()
        resolve(this.#exit)
      })
    })
    this.#process.once('error', (err) => this.lines.push(`failed to start: ${err.message}`))
  }

  get pid(): number | undefined {
    return this.#process.pid
  }

  get running(): boolean {
    return this.#exit === undefined
  }

  /**
   * Resolves with the first line (from the start of its output) matching `pattern`; rejects if
   * the process exits first or `timeoutMs` passes, quoting its output.
   */
  waitFor(pattern: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
    return this.waitForAll(pattern, 1, what, timeoutMs).then(([m]) => m as RegExpExecArray)
  }

  /** As {@link waitFor}, for `count` matching lines. */
  waitForAll(
    pattern: RegExp,
    count: number,
    what: string,
    timeoutMs = 60_000,
  ): Promise<RegExpExecArray[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.map((l) => pattern.exec(l)).filter((m) => m !== null)
        const exit = this.#exit
        if (found.length >= count) done(() => resolve(found.slice(0, count)))
        else if (exit !== undefined)
          done(() => reject(this.#failure(`exited (${describe(exit)}) before ${what}`)))
      }
      const timer = setTimeout(
        () => done(() => reject(this.#failure(`${what}: not seen in ${timeoutMs} ms`))),
        timeoutMs,
      )
      const done = (settle: () => void) => {
        clearTimeout(timer)
        this.#waiters.delete(check)
        settle()
      }
      this.#waiters.add(check)
      check()
    })
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.#process.kill(signal)
  }

  /** Asks it to stop and waits; a process still there after `graceMs` is killed. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<Exit> {
    this.signal(signal)
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  #failure(message: string): Error {
    return new Error(`${this.label} ${message}; its output:\n${this.lines.join('\n')}`)
  }
}

/** Whether `command args` runs and exits 0 here: how an example learns that serf or haproxy is installed. */
export function hasCommand(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Waits for `child` to end; rejects unless it exited 0. Resolves with its output lines. */
export async function runToEnd(child: Child): Promise<string[]> {
  const exit = await child.exited
  if (exit.code !== 0) {
    throw new Error(`${child.label} ended with ${describe(exit)}: ${child.lines.join('\n')}`)
  }
  return child.lines
}

export function describe(exit: Exit): string {
  return exit.signal === null ? `exit code ${exit.code}` : `signal ${exit.signal}`
}

/** Every child started, so that one call ends them all on any path. */
export class Children {
  readonly all: Child[] = []

  constructor(
    readonly cwd: string,
    readonly log: (line: string) => void,
  ) {}

  /** `quiet`: keep its output without showing it (for output the caller parses and shows itself). */
  start(
    label: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; quiet?: boolean } = {},
  ): Child {
    const child = new Child(
      label,
      command,
      args,
      options.cwd ?? this.cwd,
      options.quiet === true ? undefined : this.log,
    )
    this.all.push(child)
    return child
  }

  /** Kills whatever is still running and waits until every child has exited. */
  async killAll(): Promise<void> {
    await Promise.all(this.all.map((c) => c.stop('SIGKILL')))
  }
}
