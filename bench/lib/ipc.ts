/**
 * A tiny request/response protocol over the `fork()` IPC channel, so a benchmark can keep parts of
 * a topology (a far datacenter, a gateway, a measured client) in their own processes.
 *
 * Parent: `const child = await BenchChild.start(script, ['--expose-gc'])`, then
 * `await child.request('cmd', args)` and finally `await child.close()`.
 * Child: `serve({ cmd: async (args) => result, close: async () => {...} })`.
 */

import { type ChildProcess, fork } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

interface Request {
  id: number
  cmd: string
  args: unknown
}

type Response = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

export type Handler = (args: never) => unknown

/** Child side: answers requests with the handlers; `close` is called last, then IPC is released. */
export function serve(handlers: Record<string, Handler>): void {
  const send = (msg: Response | { ready: true }) => {
    if (process.connected) process.send?.(msg)
  }
  let closing = false
  const shutdown = async () => {
    if (closing) return
    closing = true
    try {
      await (handlers['close'] as (() => Promise<void>) | undefined)?.()
    } finally {
      // Whatever still holds the loop open after close() must not keep an orphan alive.
      setTimeout(() => process.exit(0), 3_000).unref()
    }
  }
  process.on('message', (raw) => {
    const msg = raw as Request
    const handler = handlers[msg.cmd]
    if (handler === undefined) {
      send({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` })
      return
    }
    Promise.resolve()
      .then(() =>
        msg.cmd === 'close' ? shutdown() : (handler as (a: unknown) => unknown)(msg.args),
      )
      .then(
        (result) => {
          send({ id: msg.id, ok: true, result: result ?? null })
          if (msg.cmd === 'close') process.disconnect()
        },
        (err: unknown) =>
          send({
            id: msg.id,
            ok: false,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
          }),
      )
  })
  // The parent went away (or released us): close and leave.
  process.on('disconnect', () => void shutdown())
  send({ ready: true })
}

/** Parent side of one child process running a `serve()` script under tsx. */
export class BenchChild {
  readonly #cp: ChildProcess
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >()
  readonly #exited: Promise<void>
  #nextId = 1

  private constructor(cp: ChildProcess) {
    this.#cp = cp
    this.#exited = new Promise((resolve) => cp.once('exit', () => resolve()))
    cp.on('message', (raw) => {
      const msg = raw as Response
      const p = this.#pending.get(msg.id)
      if (p === undefined) return
      this.#pending.delete(msg.id)
      if (msg.ok) p.resolve(msg.result)
      else p.reject(new Error(`child: ${msg.error}`))
    })
    cp.once('exit', (code, signal) => {
      for (const p of this.#pending.values())
        p.reject(new Error(`child exited (${code ?? signal}) with a request pending`))
      this.#pending.clear()
    })
  }

  /** Forks `script` (a .ts file) with tsx and extra node flags; resolves once it is ready. */
  static async start(script: string, nodeFlags: string[] = []): Promise<BenchChild> {
    const cp = fork(script, [], {
      cwd: rootDir,
      execArgv: ['--import', 'tsx', ...nodeFlags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 20_000)
      cp.once('message', () => {
        clearTimeout(timer)
        resolve()
      })
      cp.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${script} exited with ${code} before it was ready`))
      })
    })
    return new BenchChild(cp)
  }

  get pid(): number | undefined {
    return this.#cp.pid
  }

  request<T>(cmd: string, args: unknown = null, timeoutMs = 60_000): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`child request ${cmd} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.#cp.send({ id, cmd, args } satisfies Request)
    })
  }

  /** Asks the child to close everything and exit; kills it if it has not exited within 10 s. */
  async close(): Promise<void> {
    if (this.#cp.exitCode !== null || this.#cp.signalCode !== null) return
    try {
      if (this.#cp.connected) await this.request('close', null, 10_000)
    } catch {
      // fall through to the kill below
    }
    const timer = setTimeout(() => this.#cp.kill('SIGKILL'), 10_000)
    await this.#exited
    clearTimeout(timer)
  }
}

/** Wall-clock ms with sub-ms precision, comparable between processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now()
}
