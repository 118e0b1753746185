/**
 * Shared pieces of the network benchmarks: certificates made in memory, percentiles, a free port,
 * and HAProxy started on loopback the way test/helpers/proxies.ts starts it.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TlsCredentials } from '../../src/alpn/tls-options.ts'
import { createCertificateAuthority, createServerCertificate } from '../../src/certs/index.ts'

export const MiB = 1024 * 1024

export interface BenchCerts {
  ca: string
  /** dc2's server certificate: `*.server.dc2.consul`, so one server answers every node SNI. */
  dc2: TlsCredentials
  /** dc1's server certificate, presented as the client certificate by dialling nodes. */
  dc1: TlsCredentials
}

/** A CA and two server certificates (ECDSA P-256, as Consul makes them), in memory. */
export async function makeCerts(): Promise<BenchCerts> {
  const ca = await createCertificateAuthority()
  const dc2 = await createServerCertificate(ca, {
    datacenter: 'dc2',
    additionalDnsNames: ['*.server.dc2.consul'],
  })
  const dc1 = await createServerCertificate(ca, { datacenter: 'dc1', node: 'sender' })
  return {
    ca: ca.cert,
    dc2: { ca: ca.cert, cert: dc2.cert, key: dc2.key },
    dc1: { ca: ca.cert, cert: dc1.cert, key: dc1.key },
  }
}

/** The p-th percentile (0..100) by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A port on 127.0.0.1 that was free a moment ago (HAProxy cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** `haproxy -v` works on this machine. */
export function haproxyVersion(): string | undefined {
  if (!has('haproxy', ['-v'])) return undefined
  const out = execFileSync('haproxy', ['-v'], { encoding: 'utf8' })
  return /version (\S+)/.exec(out)?.[1] ?? 'unknown'
}

export interface RunningHaproxy {
  address: string
  stop(): Promise<void>
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 5_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`haproxy exited with ${child.exitCode}: ${output()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port}: ${output()}`)
    await sleep(25)
  }
}

/** Runs `haproxy -db -f <config>` in the foreground on 127.0.0.1:`port`. */
export async function startHaproxy(config: string, port: number): Promise<RunningHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'wanfed-bench-haproxy-'))
  const file = join(dir, 'gateway.conf')
  writeFileSync(file, config)
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
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
  return { address: `127.0.0.1:${port}`, stop }
}

/** `host:port` -> parts (IPv4 loopback only here). */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}
