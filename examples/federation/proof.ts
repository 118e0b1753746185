/**
 * The claim "same-DC traffic is direct, cross-DC traffic goes through the gateways only", checked
 * against the counters once the nodes are closed (so nothing is in flight and every number is
 * final) and the gateways' counters can still be read. Each connection is counted at every hop:
 * the sending node's transport, its DC's gateway (route `remote-dc`), the receiving DC's gateway
 * (a local route), the receiving node's ALPN server. A node that bypassed a gateway, or a same-DC
 * connection that went through one, would make two of these disagree.
 */
import type { DemoDatacenter } from './datacenter.ts'
import type { Federation } from './federation.ts'

export interface DatacenterCounts {
  name: string
  /** Same-DC traffic, from the wrapped NetTransports. */
  samePackets: number
  sameStreams: number
  /** Cross-DC, from the WanfedTransports: pooled packet connections and streams opened. */
  crossPacketConns: number
  crossStreams: number
  crossPackets: number
  /** This DC's gateways: connections spliced out to other DCs, and in to this DC's nodes. */
  gatewayOut: number
  gatewayIn: number
  /** Other DCs' gateways: connections they spliced towards this DC (and attempts that failed). */
  sentHere: number
  sentHereFailed: number
  /** Connections this DC's gateways refused (a dead node's route, say): the sender saw an answer, a TLS alert. */
  refusedHere: number
  /** This DC's ALPN servers: TLS connections handed to wanfed's protocols. */
  accepted: number
}

export function countTraffic(fed: Federation): DatacenterCounts[] {
  return fed.dcs.map((dc) => count(fed, dc))
}

function count(fed: Federation, dc: DemoDatacenter): DatacenterCounts {
  const c: DatacenterCounts = {
    name: dc.name,
    samePackets: 0,
    sameStreams: 0,
    crossPacketConns: 0,
    crossStreams: 0,
    crossPackets: 0,
    gatewayOut: 0,
    gatewayIn: 0,
    sentHere: 0,
    sentHereFailed: 0,
    refusedHere: 0,
    accepted: 0,
  }
  for (const n of dc.nodes) {
    const t = n.transport.stats()
    c.samePackets += t.inner.packets.sent
    c.sameStreams += t.inner.streams.dialed
    c.crossPacketConns += t.pool.dials - t.pool.dialFailures
    c.crossStreams += t.streams.dialed
    c.crossPackets += t.packets.sent
    for (const v of Object.values(n.server.stats().byAlpn)) c.accepted += v
  }
  for (const g of dc.gateways) {
    const s = g.stats()
    if (s === undefined) continue
    c.gatewayOut += s.routes['remote-dc'].connections
    c.gatewayIn += s.routes['local-server'].connections + s.routes['local-any'].connections
    for (const v of Object.values(s.rejected)) c.refusedHere += v
  }
  const key = `server.${dc.name}.consul`
  for (const g of fed.gateways()) {
    if (g.datacenter === dc.name) continue
    const t = g.stats()?.targets[key]
    c.sentHere += t?.connections ?? 0
    c.sentHereFailed += t?.connectFailures ?? 0
  }
  return c
}

/** The proof as lines, and whether every check held. */
export function proofLines(
  fed: Federation,
  counts: DatacenterCounts[],
): { ok: boolean; lines: string[] } {
  const lines: string[] = []
  let ok = true
  const counted = fed.gateways().every((g) => g.stats() !== undefined)
  for (const c of counts) {
    lines.push(
      `${c.name}: same-DC ${c.samePackets} packets, ${c.sameStreams} streams node to node (NetTransport); ` +
        `cross-DC ${c.crossPackets} packets over ${c.crossPacketConns} pooled connections, ${c.crossStreams} streams (WanfedTransport)`,
    )
    if (!counted) continue
    // In: every TLS connection a node accepted was delivered by its DC's gateways...
    const inOk = c.accepted <= c.gatewayIn
    // ...and every connection those gateways delivered was sent by another DC's gateway, so no
    // node of this DC ever went through its own gateway to reach a neighbour.
    const fromOthers =
      c.sentHere <= c.gatewayIn + c.refusedHere && c.gatewayIn <= c.sentHere + c.sentHereFailed
    // Out: every cross-DC connection a node opened left through its DC's gateways (which also
    // carried the secondary's federation-state RPCs to the primary).
    const outOk = c.crossPacketConns + c.crossStreams <= c.gatewayOut
    ok &&= inOk && fromOthers && outOk
    lines.push(
      `  in:  other DCs' gateways sent ${c.sentHere} connections here${c.sentHereFailed > 0 ? ` (+${c.sentHereFailed} failed attempts)` : ''}, ` +
        `${c.name}'s gateways delivered ${c.gatewayIn}${c.refusedHere > 0 ? ` (and refused ${c.refusedHere}: no route or a dead node)` : ''}, ` +
        `its nodes accepted ${c.accepted} ${mark(inOk && fromOthers)}`,
    )
    lines.push(
      `  out: nodes opened ${c.crossPacketConns + c.crossStreams} cross-DC connections, ` +
        `${c.name}'s gateways carried ${c.gatewayOut} out ${mark(outOk)}`,
    )
  }
  if (!counted)
    lines.push(
      `(${fed.options.gateway} reports no counters to the demo: the gateway-side checks need --gateway ours)`,
    )
  return { ok, lines }
}

function mark(ok: boolean): string {
  return ok ? '✓' : '✗ MISMATCH'
}
