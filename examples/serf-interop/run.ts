/**
 * A Node member in the same gossip pool as a real Serf agent (HashiCorp's `serf`, Go memberlist
 * inside): `wanfed/memberlist` over a `NetTransport` on loopback joins the agent, each side lists
 * the other with its tags, and a user event fired with `serf event` reaches the Node member.
 * Serf only accepts members that speak its protocol range (2..5) and carry Serf tags as meta.
 *
 * Needs `serf` on the PATH (Debian: `apt-get install serf`); without it the example says so and
 * ends.
 *
 * Run: `npm run example -- serf-interop`
 */
import { decode } from '@msgpack/msgpack'
import {
  DefaultLocalConfig,
  decodeSerfTags,
  encodeSerfTags,
  Memberlist,
  NetTransport,
} from 'wanfed'
import { freePorts } from '../lib/ports.ts'
import { Children, hasCommand, runToEnd } from '../lib/processes.ts'

/** Serf's `messageUserEventType`: the first byte of a user event inside a memberlist user message. */
const SERF_USER_EVENT = 3
const WAIT_MS = 30_000

export interface SerfUserEvent {
  name: string
  payload: string
}

/** A Serf user event (`messageUserEvent`: msgpack `{ LTime, Name, Payload, CC }`), or undefined. */
export function decodeSerfUserEvent(msg: Uint8Array): SerfUserEvent | undefined {
  if (msg[0] !== SERF_USER_EVENT) return undefined
  try {
    const v = decode(msg.subarray(1)) as { Name?: unknown; Payload?: unknown }
    if (typeof v?.Name !== 'string') return undefined
    // Serf's old msgpack codec writes []byte as a raw string; newer ones as bin.
    const payload =
      v.Payload instanceof Uint8Array ? Buffer.from(v.Payload).toString() : String(v.Payload ?? '')
    return { name: v.Name, payload }
  } catch {
    return undefined
  }
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export async function main(log: (line: string) => void = console.log): Promise<void> {
  if (!hasCommand('serf', ['version'])) {
    log(
      'serf is not installed (apt-get install serf, or a release from hashicorp/serf): nothing to join, skipped',
    )
    log('closed cleanly')
    return
  }
  const [port, rpcPort] = await freePorts(2)
  const rpc = `127.0.0.1:${rpcPort}`
  const children = new Children(process.cwd(), log)
  let ml: Memberlist | undefined
  try {
    const args = ['agent', '-node', 'serf-a', '-bind', `127.0.0.1:${port}`, '-rpc-addr', rpc]
    args.push('-profile', 'local', '-tag', 'role=web')
    log(`$ serf ${args.join(' ')}`)
    const agent = children.start('serf-a', 'serf', args, { quiet: true })
    await agent.waitFor(/Serf agent running!/, 'the agent starting', WAIT_MS)
    // The serf CLI takes its flags before the arguments.
    const serf = async (command: string, ...rest: string[]) =>
      runToEnd(
        children.start('serf', 'serf', [command, '-rpc-addr', rpc, ...rest], { quiet: true }),
      )

    const events: SerfUserEvent[] = []
    ml = await Memberlist.create({
      ...DefaultLocalConfig(),
      name: 'node-ts',
      transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
      // Serf's protocol range; Serf refuses a member outside it.
      delegateProtocolMin: 2,
      delegateProtocolMax: 5,
      delegateProtocolVersion: 4,
      delegate: {
        nodeMeta: () => encodeSerfTags({ role: 'node', lang: 'ts' }),
        notifyMsg: (msg) => {
          const event = decodeSerfUserEvent(msg)
          if (event !== undefined) events.push(event)
        },
      },
    })
    const node = ml
    await node.join([`127.0.0.1:${port}`])
    for (const m of node.members()) {
      log(
        `node-ts sees ${m.name} at ${m.address}, ${m.state}, tags ${JSON.stringify(decodeSerfTags(m.meta))}`,
      )
    }

    type SerfMember = { name: string; addr: string; status: string; tags: Record<string, string> }
    let members: SerfMember[] = []
    await until(async () => {
      members = (
        JSON.parse((await serf('members', '-format', 'json')).join('\n')) as {
          members: SerfMember[]
        }
      ).members
      return members.some((m) => m.name === 'node-ts' && m.status === 'alive')
    }, 'serf-a to list node-ts alive')
    for (const m of members) {
      log(`serf members: ${m.name} ${m.addr} ${m.status} ${JSON.stringify(m.tags)}`)
    }

    log('$ serf event deploy v42')
    await serf('event', 'deploy', 'v42')
    await until(() => events.length > 0, 'the user event to reach node-ts')
    for (const e of events)
      log(`node-ts got Serf user event ${JSON.stringify(e.name)}: ${JSON.stringify(e.payload)}`)

    await node.leave(5_000)
    await node.close()
    log('$ serf leave')
    await serf('leave')
    const exit = await agent.exited
    if (exit.code !== 0) throw new Error(`serf agent ended with code ${exit.code}`)
  } finally {
    await ml?.close()
    await children.killAll()
  }
  log('closed cleanly')
}
