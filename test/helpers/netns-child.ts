import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { WireError } from './netns-runner.ts'

const RUNNER = fileURLToPath(new URL('./netns-runner.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A runner process (netns-runner.ts) inside a namespace, driven over IPC. */
export interface NetnsChild {
  readonly ns: string
  readonly pid: number
  /** Sends one request; rejects with the child's error (its name and code kept) or if it dies. */
  request<T = unknown>(op: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>
  /** Sends a signal (SIGSTOP hangs the process: its sockets still accept, nothing answers). */
  signal(sig: NodeJS.Signals): void
  /** Asks the runner to close what it runs, then ends the channel so it exits; SIGKILL if it lingers. */
  stop(): Promise<void>
  /** The child's last stderr output, for failure messages. */
  stderr(): string
}

export class ChildError extends Error {
  readonly wire: WireError
  constructor(op: string, wire: WireError) {
    super(`${op}: ${wire.name}${wire.code ? ` (${wire.code})` : ''}: ${wire.message}`)
    this.wire = wire
  }
}

/** Starts `node --import tsx netns-runner.ts` in `ns` and waits for it to say it is ready. */
export async function startChild(ns: string, readyTimeoutMs = 20_000): Promise<NetnsChild> {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--import', 'tsx', RUNNER],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] },
  )
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4_000)
  })
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  const pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void; op: string }
  >()
  let nextId = 1
  child.on('error', () => {})
  child.on('message', (raw) => {
    const m = raw as { id?: number; ok?: boolean; result?: unknown; error?: WireError }
    if (m.id === undefined) return
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (m.ok) p.resolve(m.result)
    else p.reject(new ChildError(p.op, m.error as WireError))
  })
  void exited.then(() => {
    for (const p of pending.values())
      p.reject(new Error(`${ns}: runner exited during ${p.op}: ${err}`))
    pending.clear()
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${ns}: runner not ready after ${readyTimeoutMs} ms: ${err}`))
    }, readyTimeoutMs)
    child.once('message', () => {
      clearTimeout(timer)
      resolve()
    })
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`${ns}: runner exited before it was ready: ${err}`))
    })
  })
  const api: NetnsChild = {
    ns,
    pid: child.pid as number,
    exited,
    stderr: () => err,
    request<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<T> {
      if (!child.connected) return Promise.reject(new Error(`${ns}: runner is gone (${op})`))
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${ns}: ${op} got no answer in ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, {
          op,
          resolve: (v) => {
            clearTimeout(timer)
            resolve(v as T)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          },
        })
        child.send({ id, op, ...args })
      })
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
    signal(sig) {
      child.kill(sig)
    },
    async stop() {
      // A stopped process answers nothing and only dies by SIGKILL: let it run to close.
      child.kill('SIGCONT')
      if (child.connected) {
        await api.request('close', {}, 5_000).catch(() => {})
        if (child.connected) child.disconnect()
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
      await exited
      clearTimeout(timer)
    },
  }
  return api
}
