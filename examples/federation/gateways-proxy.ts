/**
 * HAProxy or nginx as a datacenter's gateways, each a child process running a config rendered
 * from the topology (`renderHaproxyConfig` / `renderNginxConfig`): static routes, as an operator
 * would deploy them, so they need every DC's gateway address before any starts. The kill is
 * SIGKILL, the way a crashed proxy dies. They expose no counters to the demo.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { renderHaproxyConfig, renderNginxConfig, routeTable } from 'wanfed/gateway'
import type { DemoGateway } from './gateway.ts'

export class ProxyGateway implements DemoGateway {
  readonly kind: 'haproxy' | 'nginx'
  readonly name: string
  readonly datacenter: string
  readonly address: string
  readonly #child: ChildProcess
  readonly #dir: string
  readonly #exited: Promise<void>
  #output = ''

  private constructor(
    kind: 'haproxy' | 'nginx',
    name: string,
    datacenter: string,
    port: number,
    child: ChildProcess,
    dir: string,
  ) {
    this.kind = kind
    this.name = name
    this.datacenter = datacenter
    this.address = `127.0.0.1:${port}`
    this.#child = child
    this.#dir = dir
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const collect = (d: Buffer) => {
      // Kept short: only for the message when it fails to start.
      this.#output = (this.#output + d.toString()).slice(-4_000)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
  }

  /**
   * Starts `kind` on `port` routing to `servers` (this DC's nodes) and `remoteGateways` (every
   * other DC's gateways); resolves once it accepts connections.
   */
  static async start(options: {
    kind: 'haproxy' | 'nginx'
    name: string
    datacenter: string
    port: number
    servers: Record<string, string>
    remoteGateways: Record<string, string[]>
  }): Promise<ProxyGateway> {
    const { kind, port } = options
    const dir = await mkdtemp(join(tmpdir(), `wanfed-demo-${kind}-`))
    const table = routeTable({
      datacenter: options.datacenter,
      servers: options.servers,
      remoteGateways: options.remoteGateways,
    })
    const bind = `127.0.0.1:${port}`
    const file = join(dir, 'gateway.conf')
    await writeFile(
      file,
      kind === 'haproxy'
        ? renderHaproxyConfig(table, { bind })
        : renderNginxConfig(table, { bind, pidFile: join(dir, 'nginx.pid') }),
    )
    // nginx without a master process is one process, so SIGKILL kills the gateway, not just its master.
    const args =
      kind === 'haproxy'
        ? ['-db', '-f', file]
        : ['-p', dir, '-e', 'stderr', '-c', file, '-g', 'master_process off;']
    const child = spawn(kind, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const gw = new ProxyGateway(kind, options.name, options.datacenter, port, child, dir)
    try {
      await gw.#waitListening()
    } catch (err) {
      await gw.close()
      throw err
    }
    return gw
  }

  alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null
  }

  stats(): undefined {
    return undefined
  }

  async kill(): Promise<void> {
    if (this.alive()) this.#child.kill('SIGKILL')
    await this.#exited
  }

  async close(): Promise<void> {
    if (this.alive()) this.#child.kill('SIGTERM')
    const grace = new AbortController()
    await Promise.race([
      this.#exited,
      sleep(1_000, undefined, { signal: grace.signal }).catch(() => {}),
    ])
    grace.abort()
    await this.kill()
    await rm(this.#dir, { recursive: true, force: true })
  }

  async #waitListening(): Promise<void> {
    const [host, port] = ['127.0.0.1', Number(this.address.split(':')[1])]
    const deadline = Date.now() + 10_000
    for (;;) {
      if (!this.alive()) throw new Error(`${this.kind} ${this.name} exited: ${this.#output}`)
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect({ host, port }, () => {
          s.destroy()
          resolve(true)
        })
        s.on('error', () => resolve(false))
      })
      if (ok) return
      if (Date.now() > deadline)
        throw new Error(`${this.kind} ${this.name} did not listen on ${port}: ${this.#output}`)
      await sleep(25)
    }
  }
}
