/**
 * For the demo's tests: `node --import tsx examples/run.ts <args>` in a child process, as `npm start` runs it,
 * with stdout piped (so it is not a TTY and prints plain timestamped lines).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface DemoChild {
  child: ChildProcess
  out: { stdout: string; stderr: string }
  /** Exit code, or the signal's name when one ended it. */
  exited: Promise<number | string>
  /** Resolves with the first stdout line matching `pattern`; rejects if it exits first. */
  line(pattern: RegExp): Promise<string>
  lines(): string[]
  /** Ends it and everything it started, whatever state it is in. */
  kill(): Promise<void>
}

export function spawnDemo(args: readonly string[]): DemoChild {
  // One process (tsx as a loader, not the tsx CLI, whose signal relay gives a busy child 30 ms to
  // answer before it kills it), in a process group of its own so a cleanup reaches all it started.
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/run.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const out = { stdout: '', stderr: '' }
  const waiters = new Set<() => void>()
  child.stdout?.on('data', (d: Buffer) => {
    out.stdout += d.toString()
    for (const w of waiters) w()
  })
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr += d.toString()
  })
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters) w()
      resolve(code ?? signal ?? 'unknown')
    }),
  )
  const lines = () => out.stdout.split('\n').filter((l) => l !== '')
  return {
    child,
    out,
    exited,
    lines,
    line(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines().find((l) => pattern.test(l))
          if (found !== undefined) {
            waiters.delete(check)
            resolve(found)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check)
            reject(new Error(`exited before printing ${pattern}:\n${out.stdout}\n${out.stderr}`))
          }
        }
        waiters.add(check)
        check()
      })
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      try {
        process.kill(-(child.pid as number), 'SIGKILL')
      } catch {
        // Already gone.
      }
      await once(child, 'exit').catch(() => {})
    },
  }
}
