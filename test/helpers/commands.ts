import { type ChildProcess, execFileSync, spawn } from 'node:child_process'

/** Whether `cmd args` runs and exits 0 here: how tests learn that haproxy, nginx or serf is installed. */
export function hasCommand(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A program a test runs alongside it, its stdout and stderr collected together for failure messages. */
export interface CollectedChild {
  child: ChildProcess
  output(): string
  /** Resolves when it has exited. */
  exited: Promise<void>
}

/** Spawns `cmd args` with stdin closed, collecting what it writes. */
export function spawnCollected(cmd: string, args: string[]): CollectedChild {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const collect = (d: Buffer) => {
    out += d.toString()
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, output: () => out, exited }
}
