import { createServerCertificate, loadCertificateAuthority } from '../../src/certs/index.ts'
import { caPem, tlsFixture } from './fixtures.ts'
import { buildTopology, type DcSpec, type GatewayLegs, type Topology } from './netns.ts'
import { type NetnsChild, startChild } from './netns-child.ts'
import type { NodeConfig } from './netns-runner.ts'

export const GATEWAY_PORT = 8443

export interface FedNode {
  /** `<node>.<dc>` */
  name: string
  dc: string
  ip: string
  /** The node's NetTransport address (same-DC packets and streams). */
  addr: string
  child: NetnsChild
  /** The address other nodes write to: `{ name, addr }`. */
  to: { name: string; addr: string }
  /** What the runner was started with, so the node can be started again the same. */
  config: NodeConfig
}

export interface FedGateway {
  id: string
  dc: string
  legs: GatewayLegs
  child: NetnsChild
}

export interface Federation {
  topo: Topology
  nodes: Record<string, FedNode>
  gateways: Record<string, FedGateway>
  /** The WAN namespace's runner (holds the delay relays), when relays were asked for. */
  wan: NetnsChild | undefined
  /** Relay listen address by `<fromDc>-><gatewayId>`. */
  relays: Record<string, string>
  /**
   * Starts a node again, in a new process on the same address with the same certificate (after a
   * kill, say). Resolves once it listens.
   */
  restartNode(name: string): Promise<FedNode>
  /** Stops every process, then removes every namespace. Idempotent; never throws. */
  stop(): Promise<void>
}

export interface FederationOptions {
  /** Put a delay relay (in the WAN namespace) between every pair of gateways. */
  relay?: { delayMs: number; jitterMs: number }
  /** Nodes and gateways pick the first healthy gateway, so a test knows which one carries traffic. */
  firstHealthy?: boolean
  /** Nodes' pooled packet connections idle this long are closed. Default 1,000 ms. */
  poolIdleTimeoutMs?: number
}

/**
 * Builds the namespaces and starts, each in its own process in its own namespace: every node (a
 * WanfedTransport over a NetTransport on its LAN address, with an AlpnServer) and every gateway
 * (a MeshGateway on both legs). Nodes know only their own DC's gateways (LAN addresses); gateways
 * know the other DCs' gateways by their WAN addresses, or through the relays.
 */
export async function startFederation(
  tag: string,
  dcs: readonly DcSpec[],
  options: FederationOptions = {},
): Promise<Federation> {
  const topo = buildTopology(tag, dcs)
  const children: NetnsChild[] = []
  const fed: Federation = {
    topo,
    nodes: {},
    gateways: {},
    wan: undefined,
    relays: {},
    async restartNode(name) {
      const old = fed.nodes[name]
      if (old === undefined) throw new Error(`no node ${name}`)
      const child = await spawnIn(topo.dcs[old.dc]?.ns as string)
      await child.request('node', { config: old.config })
      const again = { ...old, child }
      fed.nodes[name] = again
      return again
    },
    stop: once(async () => {
      const nodes = children.filter((c) => Object.values(topo.dcs).some((d) => d.ns === c.ns))
      const rest = children.filter((c) => !nodes.includes(c))
      // Nodes first, so their pooled connections end before the gateways close.
      await Promise.all(nodes.map((c) => c.stop().catch(() => {})))
      await Promise.all(rest.map((c) => c.stop().catch(() => {})))
      topo.destroy()
    }),
  }
  const spawnIn = async (ns: string) => {
    const c = await startChild(ns)
    children.push(c)
    return c
  }
  try {
    const ca = await loadCertificateAuthority({ cert: caPem(), key: tlsFixture('ca').key })
    const all = Object.values(topo.dcs)

    if (options.relay !== undefined) {
      fed.wan = await spawnIn(topo.wan.ns)
      let port = 9000
      for (const from of all) {
        for (const to of all) {
          if (from === to) continue
          for (const g of to.gateways) {
            const listen = { host: topo.wan.ip, port: port++ }
            await fed.wan.request('relay', {
              key: `${from.name}->${g.id}`,
              ...listen,
              target: `${g.wanIp}:${GATEWAY_PORT}`,
              ...options.relay,
            })
            fed.relays[`${from.name}->${g.id}`] = `${listen.host}:${listen.port}`
          }
        }
      }
    }

    const starts: Promise<void>[] = []
    for (const dc of all) {
      const servers: Record<string, string> = {}
      for (const [short, ip] of Object.entries(dc.nodes)) servers[short] = `${ip}:8300`
      const remote: Record<string, string[]> = {}
      const local: Record<string, string[]> = {}
      for (const other of all) {
        if (other === dc) continue
        remote[other.name] = other.gateways.map((g) =>
          options.relay !== undefined
            ? (fed.relays[`${dc.name}->${g.id}`] as string)
            : `${g.wanIp}:${GATEWAY_PORT}`,
        )
        local[other.name] = dc.gateways.map((g) => `${g.lanIp}:${GATEWAY_PORT}`)
      }
      for (const legs of dc.gateways) {
        starts.push(
          (async () => {
            const child = await spawnIn(legs.ns)
            await child.request('gateway', {
              config: {
                datacenter: dc.name,
                servers,
                gateways: remote,
                firstHealthy: options.firstHealthy ?? false,
              },
            })
            fed.gateways[legs.id] = { id: legs.id, dc: dc.name, legs, child }
          })(),
        )
      }
      for (const [short, ip] of Object.entries(dc.nodes)) {
        starts.push(
          (async () => {
            const name = `${short}.${dc.name}`
            const leaf = await createServerCertificate(ca, { datacenter: dc.name, node: short })
            const config: NodeConfig = {
              name,
              ip,
              tls: { ca: ca.cert, ...leaf },
              gateways: local,
              firstHealthy: options.firstHealthy ?? false,
              ...(options.poolIdleTimeoutMs === undefined
                ? {}
                : { poolIdleTimeoutMs: options.poolIdleTimeoutMs }),
            }
            const child = await spawnIn(dc.ns)
            const { addr } = await child.request<{ addr: string }>('node', { config })
            fed.nodes[name] = { name, dc: dc.name, ip, addr, child, to: { name, addr }, config }
          })(),
        )
      }
    }
    const results = await Promise.allSettled(starts)
    const failed = results.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    return fed
  } catch (err) {
    await fed.stop()
    throw err
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined
  return () => {
    p ??= fn()
    return p
  }
}

export type HandleBaseline = Record<string, [string, number][]>

function processes(fed: Federation): [string, NetnsChild][] {
  return [
    ...Object.values(fed.nodes).map((n) => [n.name, n.child] as [string, NetnsChild]),
    ...Object.values(fed.gateways).map((g) => [g.id, g.child] as [string, NetnsChild]),
  ]
}

/** Every node's and gateway's watched handle counts (sockets, servers, timers), by name or id. */
export async function handleBaseline(fed: Federation): Promise<HandleBaseline> {
  const out: HandleBaseline = {}
  for (const [key, child] of processes(fed)) {
    out[key] = await child.request<[string, number][]>('handles')
  }
  return out
}

/**
 * Waits until each of `keys` (node names, gateway ids) is back to its baseline's handle counts,
 * and throws naming the process and the surplus if one is not within `timeoutMs`.
 */
export async function expectHandlesBack(
  fed: Federation,
  baseline: HandleBaseline,
  keys: readonly string[],
  timeoutMs = 5_000,
): Promise<void> {
  const byKey = new Map(processes(fed))
  await Promise.all(
    keys.map(async (key) => {
      const child = byKey.get(key)
      if (child === undefined || baseline[key] === undefined) throw new Error(`no process ${key}`)
      await child
        .request('leakCheck', { baseline: baseline[key], timeoutMs }, timeoutMs + 5_000)
        .catch((err: Error) => {
          throw new Error(`${key}: ${err.message}`)
        })
    }),
  )
}
