/** A CA for the federation and one server certificate per node, made in memory at start. */
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createServerCertificate,
} from 'wanfed/certs'
import type { Topology } from './topology.ts'

/** What a node presents and trusts: PEM, as `tls` options take it. */
export interface NodeTls {
  ca: string
  cert: string
  key: string
}

export interface FederationCerts {
  ca: CertificateAuthority
  /** By `<node>.<dc>`; each carries the SAN `<node>.server.<dc>.consul`, as `consul tls cert create -node`. */
  nodes: Map<string, NodeTls>
}

export async function makeCertificates(topology: Topology): Promise<FederationCerts> {
  const ca = await createCertificateAuthority({ commonName: 'wanfed demo CA' })
  const nodes = new Map<string, NodeTls>()
  for (const dc of topology.datacenters) {
    for (const node of dc.nodes) {
      const pair = await createServerCertificate(ca, { datacenter: dc.name, node })
      nodes.set(`${node}.${dc.name}`, { ca: ca.cert, ...pair })
    }
  }
  return { ca, nodes }
}
