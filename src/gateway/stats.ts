import type { RouteKind } from './routes.ts'

/** Why a connection was closed before it was spliced. */
export type GatewayRejectReason =
  /** The ClientHello carries no server_name. */
  | 'no-sni'
  /** The SNI names no route: another domain, an unknown local node, a DC without gateways. */
  | 'unknown-route'
  /** The ClientHello was not complete within `helloTimeoutMs`. */
  | 'hello-timeout'
  /** The ClientHello would not fit in `maxHelloBytes`. */
  | 'hello-too-large'
  /** A TLS handshake record, but not a well-formed ClientHello. */
  | 'malformed'
  /** The first byte is not a TLS handshake record (another protocol, an SSLv2 hello). */
  | 'not-tls'
  /** `maxConnections` connections were already open. */
  | 'max-connections'
  /** Every upstream tried (up to `maxConnectAttempts`) failed to connect or to answer. */
  | 'upstream-failed'
  /** The client went away before its connection was spliced. */
  | 'client-closed'
  /** The gateway was closing. */
  | 'closing'

/** Traffic of one route kind or one target. Bytes in flow client → upstream, bytes out the other way. */
export interface GatewayTrafficStats {
  /** Connections spliced. */
  connections: number
  /** Spliced connections open now. */
  active: number
  bytesIn: number
  bytesOut: number
  /** Upstream connect attempts that failed (refused, timed out, or never answered). */
  connectFailures: number
}

export interface MeshGatewayStats {
  status: 'idle' | 'listening' | 'closing' | 'closed'
  /** Connections accepted. */
  accepted: number
  /** Client connections open now, spliced or not. */
  open: number
  /** Connections still reading their ClientHello or connecting upstream. */
  pending: number
  /** By route kind. */
  routes: Record<RouteKind, GatewayTrafficStats>
  /** By target key (`<node>.server.<dc>.<domain>` or `server.<dc>.<domain>`). */
  targets: Record<string, GatewayTrafficStats & { kind: RouteKind }>
  /** Connections closed before they were spliced, by reason. */
  rejected: Record<GatewayRejectReason, number>
  /** Spliced connections closed by the idle timeout. */
  idleTimeouts: number
  /** Spliced connections closed because their writes towards one side stopped (`writeStallTimeoutMs`). */
  writeStalls: number
}

const REJECT_REASONS: readonly GatewayRejectReason[] = [
  'no-sni',
  'unknown-route',
  'hello-timeout',
  'hello-too-large',
  'malformed',
  'not-tls',
  'max-connections',
  'upstream-failed',
  'client-closed',
  'closing',
]

function emptyTraffic(): GatewayTrafficStats {
  return { connections: 0, active: 0, bytesIn: 0, bytesOut: 0, connectFailures: 0 }
}

/** A spliced connection as the counters see it: its route and the bytes its sockets carried. */
export interface CountedSplice {
  readonly kind: RouteKind
  readonly key: string
  readonly bytesIn: number
  readonly bytesOut: number
}

/**
 * The gateway's counters. Bytes of open splices are not added per chunk (the splice is the hot
 * path): they are read from the sockets when a snapshot is taken and added here when one ends.
 */
export class GatewayCounters {
  accepted = 0
  idleTimeouts = 0
  writeStalls = 0
  readonly #routes: Record<RouteKind, GatewayTrafficStats> = {
    'local-server': emptyTraffic(),
    'local-any': emptyTraffic(),
    'remote-dc': emptyTraffic(),
  }
  readonly #targets = new Map<string, GatewayTrafficStats & { kind: RouteKind }>()
  readonly #rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
    GatewayRejectReason,
    number
  >

  rejected(reason: GatewayRejectReason): void {
    this.#rejected[reason]++
  }

  connectFailed(kind: RouteKind, key: string): void {
    this.#routes[kind].connectFailures++
    this.#target(kind, key).connectFailures++
  }

  spliced(kind: RouteKind, key: string): void {
    for (const s of [this.#routes[kind], this.#target(kind, key)]) {
      s.connections++
      s.active++
    }
  }

  ended(splice: CountedSplice): void {
    for (const s of [this.#routes[splice.kind], this.#target(splice.kind, splice.key)]) {
      s.active--
      s.bytesIn += splice.bytesIn
      s.bytesOut += splice.bytesOut
    }
  }

  /** A copy of the counters, with the bytes the open splices have carried so far added in. */
  snapshot(
    head: Pick<MeshGatewayStats, 'status' | 'open' | 'pending'>,
    open: Iterable<CountedSplice>,
  ): MeshGatewayStats {
    const routes = {} as Record<RouteKind, GatewayTrafficStats>
    for (const [kind, s] of Object.entries(this.#routes)) routes[kind as RouteKind] = { ...s }
    const targets: Record<string, GatewayTrafficStats & { kind: RouteKind }> = {}
    for (const [key, s] of this.#targets) targets[key] = { ...s }
    for (const c of open) {
      for (const t of [routes[c.kind], targets[c.key]]) {
        if (t === undefined) continue
        t.bytesIn += c.bytesIn
        t.bytesOut += c.bytesOut
      }
    }
    return {
      status: head.status,
      accepted: this.accepted,
      open: head.open,
      pending: head.pending,
      routes,
      targets,
      rejected: { ...this.#rejected },
      idleTimeouts: this.idleTimeouts,
      writeStalls: this.writeStalls,
    }
  }

  #target(kind: RouteKind, key: string): GatewayTrafficStats & { kind: RouteKind } {
    let t = this.#targets.get(key)
    if (t === undefined) {
      t = { kind, ...emptyTraffic() }
      this.#targets.set(key, t)
    }
    return t
  }
}
