import type { Clock } from '../../src/internal/clock.ts'
import {
  DefaultLocalConfig,
  Memberlist,
  type MemberlistOptions,
} from '../../src/memberlist/index.ts'
import type { MemoryNetwork } from '../../src/transport/memory-network.ts'

/**
 * Fast timing for in-memory clusters: memberlist's local config with every interval divided so a
 * failure is detected in about a second, still in memberlist's proportions.
 */
export function fastConfig(): Partial<MemberlistOptions> {
  return {
    ...DefaultLocalConfig(),
    probeIntervalMs: 100,
    probeTimeoutMs: 40,
    gossipIntervalMs: 20,
    pushPullIntervalMs: 400,
    tcpTimeoutMs: 500,
    gossipToTheDeadTimeMs: 2_000,
  }
}

/** Nodes named `n0.dc1`, `n1.dc1`, ... on `net`, each closed by `cleanups`. */
export async function startNodes(
  net: MemoryNetwork,
  count: number,
  cleanups: (() => Promise<void> | void)[],
  options: (i: number) => Partial<MemberlistOptions> = () => ({}),
  clock?: Clock,
  prefix = 'n',
): Promise<Memberlist[]> {
  const out: Memberlist[] = []
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${i}.dc1`
    const ml = await Memberlist.create({
      ...fastConfig(),
      name,
      transport: net.createTransport(name),
      ...(clock === undefined ? {} : { clock }),
      ...options(i),
    })
    cleanups.push(() => ml.close())
    out.push(ml)
  }
  return out
}

export function addrOf(ml: Memberlist): string {
  return `${ml.localNode.name}/${ml.localNode.address}`
}

export function stateOf(ml: Memberlist, name: string): string | undefined {
  return ml.allNodes().find((n) => n.name === name)?.state
}
