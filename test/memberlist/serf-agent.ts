import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { hasCommand, spawnCollected } from '../helpers/commands.ts'
import { freePort } from '../helpers/proxies.ts'

const run = promisify(execFile)

/** Debian's `serf` (Go memberlist inside) is on this machine; CI installs it. */
export const hasSerf = hasCommand('serf', ['version'])

export interface SerfMember {
  name: string
  addr: string
  port: number
  tags: Record<string, string>
  status: string
}

export interface SerfAgent {
  name: string
  port: number
  /** `127.0.0.1:<port>`, its gossip address. */
  address: string
  members(): Promise<SerfMember[]>
  status(name: string): Promise<string | undefined>
  join(addr: string): Promise<void>
  /** `serf leave`: a graceful leave, after which the agent exits. */
  leave(): Promise<void>
  /** SIGKILL: the agent fails without a word. */
  kill(): Promise<void>
  output(): string
}

/**
 * A real `serf agent` on loopback with the `local` timing profile. Every call to it goes through
 * its RPC port with the async `serf` CLI, so the test's own event loop (and the Node member in
 * it) keeps answering probes meanwhile.
 */
export async function startSerf(options: {
  name: string
  encrypt?: string
  tags?: Record<string, string>
}): Promise<SerfAgent> {
  const port = await freePort()
  const rpc = await freePort()
  const rpcAddr = `127.0.0.1:${rpc}`
  const args = [
    'agent',
    '-bind',
    `127.0.0.1:${port}`,
    '-rpc-addr',
    rpcAddr,
    '-node',
    options.name,
    '-profile',
    'local',
    '-log-level',
    'debug',
  ]
  if (options.encrypt !== undefined) args.push('-encrypt', options.encrypt)
  for (const [k, v] of Object.entries(options.tags ?? {})) args.push('-tag', `${k}=${v}`)
  const { child, output, exited } = spawnCollected('serf', args)
  const members = async (): Promise<SerfMember[]> => {
    const { stdout } = await run('serf', ['members', '-rpc-addr', rpcAddr, '-format', 'json'])
    return (JSON.parse(stdout) as { members: SerfMember[] }).members
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serf exited: ${output()}`)
    try {
      await members()
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`serf RPC did not come up: ${output()}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    name: options.name,
    port,
    address: `127.0.0.1:${port}`,
    members,
    async status(name) {
      return (await members()).find((m) => m.name === name)?.status
    },
    async join(addr) {
      await run('serf', ['join', '-rpc-addr', rpcAddr, addr])
    },
    async leave() {
      await run('serf', ['leave', '-rpc-addr', rpcAddr])
      await exited
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
    output,
  }
}

/** Polls an async `check` every 100 ms until it holds; throws naming `what` after `ms`. */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
