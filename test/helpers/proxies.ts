import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { closedPort } from './net.ts'

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** HAProxy is on this machine (CI installs it with apt-get). */
export const hasHaproxy = has('haproxy', ['-v'])
/** nginx with the stream module is on this machine (CI installs nginx-light and libnginx-mod-stream). */
export const hasNginx = has('nginx', ['-v'])

export interface RunningProxy {
  port: number
  address: string
  /** What the proxy wrote, for failure messages. */
  output(): string
  stop(): Promise<void>
}

/** A port on 127.0.0.1 that was free a moment ago (proxies cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  return closedPort()
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 5_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode}: ${output()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`proxy did not listen on ${port}: ${output()}`)
    await sleep(25)
  }
}

async function run(
  cmd: string,
  args: (dir: string) => string[],
  config: (dir: string) => string,
  port: number,
): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), `wanfed-${cmd}-`))
  writeFileSync(join(dir, 'gateway.conf'), config(dir))
  const child = spawn(cmd, args(dir), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const grace = new AbortController()
    await Promise.race([exited, sleep(3_000, undefined, { signal: grace.signal }).catch(() => {})])
    grace.abort()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForPort(port, child, () => out)
  } catch (err) {
    await stop()
    throw err
  }
  return { port, address: `127.0.0.1:${port}`, output: () => out, stop }
}

/** Starts HAProxy in the foreground with a config made for `port`. */
export function startHaproxy(
  config: (port: number, dir: string) => string,
  port: number,
): Promise<RunningProxy> {
  return run(
    'haproxy',
    (dir) => ['-db', '-f', join(dir, 'gateway.conf')],
    (dir) => config(port, dir),
    port,
  )
}

/** Starts nginx in the foreground with a config made for `port`. */
export function startNginx(
  config: (port: number, dir: string) => string,
  port: number,
): Promise<RunningProxy> {
  return run(
    'nginx',
    (dir) => ['-p', dir, '-e', 'stderr', '-c', join(dir, 'gateway.conf')],
    (dir) => config(port, dir),
    port,
  )
}
