import { execFileSync, spawnSync } from 'node:child_process'

/**
 * Isolated datacenters built from Linux network namespaces, as production has them:
 *
 * ```
 *  <p>-dc1 (LAN 10.1.0.0/24, bridge br0)       <p>-wan (192.0.2.0/24, bridge br0, 192.0.2.1)
 *    nodes 10.1.0.10, .11, ...                      |
 *    └── veth ── <p>-gw1a: lan0 10.1.0.2 ── wan0 192.0.2.11 ──┤
 *  <p>-dc2                                          |
 *    └── veth ── <p>-gw2a: lan0 10.2.0.2 ── wan0 192.0.2.21 ──┤
 *    └── veth ── <p>-gw2b: lan0 10.2.0.3 ── wan0 192.0.2.22 ──┘
 * ```
 *
 * Each DC LAN is one namespace whose nodes hold addresses on its bridge; each gateway is its own
 * namespace with a LAN leg on its DC's bridge and a WAN leg on the WAN bridge, and forwarding off.
 * No namespace has a default route, so a DC LAN reaches only itself and its gateways' LAN legs,
 * the WAN only the gateways' WAN legs: a cross-DC dial can only go through a gateway process.
 *
 * Names are `wfr<pid>-<tag>-<role>`: unique per run, and a run that died (its pid gone) is found
 * and removed by the next one.
 */

export const NETNS_PREFIX = 'wfr'
export const WAN_HOST = '192.0.2.1'

export interface DcSpec {
  /** Datacenter name, `dc<n>` with n in 1..99 (its LAN is 10.n.0.0/24). */
  name: string
  /** Nodes' short names, given 10.n.0.10, .11, ... in order. */
  nodes: readonly string[]
  /** Gateways in this DC. Default 1. At most 9. */
  gateways?: number
  /**
   * Give the DC's LAN a leg on the WAN bridge (`wan0`, 192.0.2.24n; dc1..dc9 only), as a
   * secondary's servers that may dial the primary's gateways' WAN addresses directly (Consul's
   * `primary_gateways`) have. Still no forwarding anywhere: the LAN reaches the gateways' WAN
   * legs, and other DCs' nodes only through a gateway. Default false (isolated).
   */
  wanAccess?: boolean
}

export interface GatewayLegs {
  /** Namespace the gateway process runs in. */
  ns: string
  /** `gw<n><letter>`, e.g. `gw2b`. */
  id: string
  lanIp: string
  wanIp: string
}

export interface DcTopology {
  name: string
  ns: string
  /** Node short name to its LAN IP. */
  nodes: Record<string, string>
  gateways: GatewayLegs[]
  /** The LAN's own address on the WAN, when it was given `wanAccess`. */
  wanIp?: string
}

export interface Topology {
  prefix: string
  wan: { ns: string; ip: string }
  dcs: Record<string, DcTopology>
  /** Every namespace made, in creation order. */
  namespaces: string[]
  /** Removes every namespace (and with them every veth and bridge). Idempotent. */
  destroy(): void
}

export type NetnsSupport = { ok: true } | { ok: false; reason: string }

let support: NetnsSupport | undefined

/**
 * What a namespace test file needs to decide whether it runs: the support probe and the skip
 * reason (empty when supported), warned about once per file when namespaces cannot be made, so the
 * output says why the tests were skipped.
 */
export function netnsGate(): { support: NetnsSupport; reason: string } {
  const found = netnsSupport()
  const reason = found.ok ? '' : `network namespaces unavailable: ${found.reason}`
  if (!found.ok) console.warn(`[netns] ${reason}; these tests are skipped`)
  return { support: found, reason }
}

/** Whether this process can build namespaces: root, iproute2, and a trial namespace with a veth. */
export function netnsSupport(): NetnsSupport {
  support ??= probe()
  return support
}

function probe(): NetnsSupport {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (process.getuid?.() !== 0) {
    return {
      ok: false,
      reason: `network namespaces need root (ip netns add), not uid ${process.getuid?.()}`,
    }
  }
  const ver = spawnSync('ip', ['-V'], { encoding: 'utf8' })
  if (ver.error !== undefined || ver.status !== 0) {
    return { ok: false, reason: 'iproute2 (the ip command) is not installed' }
  }
  const name = `${NETNS_PREFIX}${process.pid}-probe`
  try {
    ip(['netns', 'add', name])
    ip(['-n', name, 'link', 'add', 'name', 'a', 'type', 'veth', 'peer', 'name', 'b'])
    ip(['-n', name, 'link', 'add', 'name', 'br0', 'type', 'bridge'])
    return { ok: true }
  } catch (err) {
    return {
      ok: false,
      reason: `cannot build a namespace with a veth pair and a bridge: ${(err as Error).message}`,
    }
  } finally {
    spawnSync('ip', ['netns', 'del', name])
  }
}

/** Runs `ip` with these arguments; throws with its stderr. */
export function ip(args: readonly string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`)
  }
}

/** Namespaces of ours (`wfr<pid>-...`) whose run is gone. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = []
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(ns)
    if (m === null) continue
    const pid = Number(m[1])
    if (pid === process.pid || alive(pid)) continue
    killNamespacePids(ns)
    spawnSync('ip', ['netns', 'del', ns])
    removed.push(ns)
  }
  return removed
}

export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '')
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** SIGKILLs whatever still runs in `ns` (a namespace cannot go while a process holds it). */
function killNamespacePids(ns: string): void {
  const out = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
  for (const line of (out.stdout ?? '').split('\n')) {
    const pid = Number(line.trim())
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }
}

/** Topologies not destroyed yet: removed when the process exits, whatever the tests did. */
const live = new Set<() => void>()
let exitHook = false

/** Builds the topology. On any failure, what was made so far is removed before the error is thrown. */
export function buildTopology(tag: string, dcs: readonly DcSpec[]): Topology {
  if (!/^[a-z0-9]{1,8}$/.test(tag))
    throw new Error(`topology tag must be [a-z0-9]{1,8}, got ${tag}`)
  removeStaleNamespaces()
  const prefix = `${NETNS_PREFIX}${process.pid}-${tag}`
  const namespaces: string[] = []
  let destroyed = false
  const destroy = () => {
    if (destroyed) return
    destroyed = true
    live.delete(destroy)
    for (const ns of [...namespaces].reverse()) {
      killNamespacePids(ns)
      spawnSync('ip', ['netns', 'del', ns])
    }
  }
  live.add(destroy)
  if (!exitHook) {
    exitHook = true
    // A hook that timed out or a worker torn down early still leaves no namespace behind.
    process.once('exit', () => {
      for (const d of [...live]) d()
    })
  }
  const addNs = (role: string): string => {
    const ns = `${prefix}-${role}`
    ip(['netns', 'add', ns])
    namespaces.push(ns)
    ip(['-n', ns, 'link', 'set', 'lo', 'up'])
    return ns
  }
  const bridge = (ns: string) => {
    ip(['-n', ns, 'link', 'add', 'name', 'br0', 'type', 'bridge', 'forward_delay', '0'])
    ip(['-n', ns, 'link', 'set', 'br0', 'up'])
  }
  try {
    const wan = addNs('wan')
    bridge(wan)
    ip(['-n', wan, 'addr', 'add', `${WAN_HOST}/24`, 'dev', 'br0'])
    const out: Record<string, DcTopology> = {}
    for (const dc of dcs) {
      const n = Number(/^dc([1-9]\d?)$/.exec(dc.name)?.[1])
      if (!Number.isInteger(n)) throw new Error(`datacenter must be dc1..dc99, got ${dc.name}`)
      const gateways = dc.gateways ?? 1
      if (!(gateways >= 1 && gateways <= 9)) throw new Error(`${dc.name}: 1..9 gateways`)
      const lan = addNs(dc.name)
      bridge(lan)
      const nodes: Record<string, string> = {}
      dc.nodes.forEach((node, i) => {
        const addr = `10.${n}.0.${10 + i}`
        ip(['-n', lan, 'addr', 'add', `${addr}/24`, 'dev', 'br0'])
        nodes[node] = addr
      })
      const legs: GatewayLegs[] = []
      for (let g = 0; g < gateways; g++) {
        const id = `gw${n}${String.fromCharCode(97 + g)}`
        const ns = addNs(id)
        // Forwarding off: the gateway host routes nothing; only its process carries bytes across.
        ip(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'])
        const lanIp = `10.${n}.0.${2 + g}`
        const wanIp = `192.0.2.${n * 10 + 1 + g}`
        for (const [leg, peerNs, addr] of [
          ['lan0', lan, lanIp],
          ['wan0', wan, wanIp],
        ] as const) {
          ip([
            '-n',
            ns,
            'link',
            'add',
            'name',
            leg,
            'type',
            'veth',
            'peer',
            'name',
            id,
            'netns',
            peerNs,
          ])
          ip(['-n', peerNs, 'link', 'set', id, 'master', 'br0'])
          ip(['-n', peerNs, 'link', 'set', id, 'up'])
          ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', leg])
          ip(['-n', ns, 'link', 'set', leg, 'up'])
        }
        legs.push({ ns, id, lanIp, wanIp })
      }
      let wanIp: string | undefined
      if (dc.wanAccess === true) {
        if (n > 9) throw new Error(`${dc.name}: wanAccess is for dc1..dc9`)
        wanIp = `192.0.2.${240 + n}`
        ip([
          '-n',
          lan,
          'link',
          'add',
          'name',
          'wan0',
          'type',
          'veth',
          'peer',
          'name',
          `lan${n}`,
          'netns',
          wan,
        ])
        ip(['-n', wan, 'link', 'set', `lan${n}`, 'master', 'br0'])
        ip(['-n', wan, 'link', 'set', `lan${n}`, 'up'])
        ip(['-n', lan, 'addr', 'add', `${wanIp}/24`, 'dev', 'wan0'])
        ip(['-n', lan, 'link', 'set', 'wan0', 'up'])
      }
      out[dc.name] = {
        name: dc.name,
        ns: lan,
        nodes,
        gateways: legs,
        ...(wanIp === undefined ? {} : { wanIp }),
      }
    }
    return { prefix, wan: { ns: wan, ip: WAN_HOST }, dcs: out, namespaces, destroy }
  } catch (err) {
    destroy()
    throw err
  }
}

/**
 * Takes a link down (or up again). Down on the WAN side of a gateway's leg black-holes it: frames
 * to the gateway are dropped at the bridge, nothing is refused or reset, TCP just retransmits.
 */
export function setLink(ns: string, dev: string, up: boolean): void {
  ip(['-n', ns, 'link', 'set', dev, up ? 'up' : 'down'])
}
