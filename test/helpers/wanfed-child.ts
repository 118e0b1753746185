import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { Cleanup } from './leaks.ts'

/** The launcher operators run. */
export const WANFED_BIN = fileURLToPath(new URL('../../bin/wanfed.js', import.meta.url))

export interface WanfedChild {
  child: ChildProcess
  /** Everything it has written so far. */
  out: { stdout: string; stderr: string }
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>
}

/**
 * `bin/wanfed.js <argv>` in a child process with its output captured; a cleanup SIGKILLs it if it
 * is still running then, and waits for it to go.
 */
export function spawnWanfedChild(argv: string[], cleanups: Cleanup[], cwd?: string): WanfedChild {
  const child = spawn(process.execPath, [WANFED_BIN, ...argv], {
    ...(cwd === undefined ? {} : { cwd }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
  const out = { stdout: '', stderr: '' }
  child.stdout?.on('data', (d: Buffer) => {
    out.stdout += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    out.stderr += d.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  return { child, out, exited }
}
