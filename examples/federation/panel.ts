/**
 * The status of the federation as text lines: per DC the members each node sees and what its
 * leader's locator decided; per gateway its connections and bytes. The TTY panel redraws these;
 * the plain log prints them every few seconds.
 */
import type { DemoDatacenter } from './datacenter.ts'
import type { Federation } from './federation.ts'
import { knownDatacenters, memberCounts } from './observe.ts'

export function statusLines(fed: Federation): string[] {
  const lines: string[] = []
  const total = fed.topology.members
  for (const dc of fed.dcs) {
    const seen = dc.nodes
      .map((n) => {
        if (n.stopped) return `${n.name.split('.')[0]} stopped`
        const c = memberCounts(n)
        const extra = `${c.suspect > 0 ? ` ${c.suspect}?` : ''}${c.dead > 0 ? ` ${c.dead}✗` : ''}`
        return `${n.name.split('.')[0]} ${c.alive}/${total}${extra}`
      })
      .join('  ')
    lines.push(`${dc.name}${dc.primary ? ' (primary)' : ''}: members seen ${seen || '-'}`)
    lines.push(`  ${locatorLine(dc, fed.dcs.length)}`)
  }
  for (const g of fed.gateways()) lines.push(gatewayLine(g))
  return lines
}

function locatorLine(dc: DemoDatacenter, totalDcs: number): string {
  const states = `federation states: ${knownDatacenters(dc).length}/${totalDcs} DCs`
  const leader = dc.nodes[0]
  if (leader === undefined) return states
  const d = leader.locator.decision()
  if (!d.populated) return `${states}; locator: not populated yet`
  const route = d.isPrimary
    ? 'own gateways'
    : d.dialPrimaryThroughLocalGateway
      ? 'via local gateways'
      : 'direct to primary gateways'
  return (
    `${states}; locator: local ${short(d.localGateways)}, primary ${short(d.primaryGateways)}, ` +
    `primary reached ${route} ${short(d.primaryRoute)}`
  )
}

function gatewayLine(g: ReturnType<Federation['gateways']>[number]): string {
  const state = g.alive() ? 'up  ' : 'DEAD'
  const s = g.stats()
  if (s === undefined) return `${g.name} ${state} ${g.kind} (no counters from ${g.kind})`
  const r = s.routes
  const inbound = r['local-server'].connections + r['local-any'].connections
  const bytes =
    r['local-server'].bytesIn +
    r['local-server'].bytesOut +
    r['local-any'].bytesIn +
    r['local-any'].bytesOut +
    r['remote-dc'].bytesIn +
    r['remote-dc'].bytesOut
  const active = r['local-server'].active + r['local-any'].active + r['remote-dc'].active
  return (
    `${g.name} ${state} out ${r['remote-dc'].connections} conns, in ${inbound} conns, ` +
    `${active} open, ${kib(bytes)} spliced` +
    (r['remote-dc'].connectFailures > 0
      ? `, ${r['remote-dc'].connectFailures} failed upstream`
      : '')
  )
}

function short(list: readonly string[]): string {
  return `[${list.map((a) => a.replace('127.0.0.1:', ':')).join(' ')}]`
}

export function kib(bytes: number): string {
  return bytes < 10_240 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} KiB`
}
