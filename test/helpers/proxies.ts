import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasCommand, spawnCollected } from './commands.ts'
import { closedPort } from './net.ts'

/** HAProxy is on this machine (CI installs it with apt-get). */
export const hasHaproxy = hasCommand('haproxy', ['-v'])
/** nginx with the stream module is on this machine (CI installs nginx-light and libnginx-mod-stream). */
export const hasNginx = hasCommand('nginx', ['-v'])

export interface RunningProxy {
  port: number
  address: string
  /** The proxy's process id (benchmarks read its CPU time from /proc). */
  pid: number | undefined
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
  const { child, output, exited } = spawnCollected(cmd, args(dir))
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
    await waitForPort(port, child, output)
    // The port was free a moment ago, but another test may have taken it since: then something
    // else answered, and the proxy is about to exit on EADDRINUSE. Make sure it is still up.
    await sleep(100)
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new PortTakenError(`${cmd} exited after start: ${output()}`)
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { port, address: `127.0.0.1:${port}`, pid: child.pid, output, stop }
}

class PortTakenError extends Error {}

/** Runs `start` on a fresh free port, again on another if the first was taken meanwhile. */
async function onFreePort(start: (port: number) => Promise<RunningProxy>): Promise<RunningProxy> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort())
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= 3) throw err
    }
  }
}

/** Starts HAProxy in the foreground on a free 127.0.0.1 port, with a config made for that port. */
export function startHaproxy(config: (port: number, dir: string) => string): Promise<RunningProxy> {
  return onFreePort((port) =>
    run(
      'haproxy',
      (dir) => ['-db', '-f', join(dir, 'gateway.conf')],
      (dir) => config(port, dir),
      port,
    ),
  )
}

/** Starts nginx in the foreground on a free 127.0.0.1 port, with a config made for that port. */
export function startNginx(config: (port: number, dir: string) => string): Promise<RunningProxy> {
  return onFreePort((port) =>
    run(
      'nginx',
      (dir) => ['-p', dir, '-e', 'stderr', '-c', join(dir, 'gateway.conf')],
      (dir) => config(port, dir),
      port,
    ),
  )
}
