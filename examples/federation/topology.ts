/** Who is where: datacenters, their nodes and their gateways, by name. Pure data, no I/O. */

export interface DatacenterPlan {
  name: string
  primary: boolean
  /** Node names within the DC (`n1`, `n2`, ...); memberlist knows them as `<node>.<dc>`. */
  nodes: string[]
  /** Gateway names (`dc1-gw-a`, ...): two in the primary, one elsewhere. */
  gateways: string[]
}

export interface Topology {
  primary: string
  datacenters: DatacenterPlan[]
  /** Members of the one gossip pool: every node of every DC. */
  members: number
}

export function planTopology(dcs: number, nodesPerDc: number): Topology {
  const datacenters: DatacenterPlan[] = []
  for (let d = 1; d <= dcs; d++) {
    const name = `dc${d}`
    const primary = d === 1
    datacenters.push({
      name,
      primary,
      nodes: Array.from({ length: nodesPerDc }, (_, i) => `n${i + 1}`),
      // The primary gets two so that one can be killed and traffic seen to fail over.
      gateways: (primary ? ['a', 'b'] : ['a']).map((s) => `${name}-gw-${s}`),
    })
  }
  return { primary: 'dc1', datacenters, members: dcs * nodesPerDc }
}
