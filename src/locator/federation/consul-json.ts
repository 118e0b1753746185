import type { FederationState, MeshGatewayEntry } from './state.ts'

/** Go's zero `time.Time` as encoding/json writes it: what Consul shows for a state never stamped. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/**
 * A federation state in the JSON shape Consul's debug API returns
 * (`/v1/internal/federation-state/<dc>`): PascalCase fields, `MeshGateways` omitted when empty,
 * `UpdatedAt` as RFC 3339 in UTC. For an admin endpoint that mimics Consul's.
 */
export function toConsulFederationStateJson(s: FederationState): Record<string, unknown> {
  return {
    Datacenter: s.datacenter,
    ...(s.meshGateways.length === 0
      ? {}
      : { MeshGateways: s.meshGateways.map(toConsulCheckServiceNodeJson) }),
    UpdatedAt: s.updatedAt === 0 ? GO_ZERO_TIME : new Date(s.updatedAt).toISOString(),
    PrimaryModifyIndex: s.primaryModifyIndex,
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  }
}

/** One gateway as Consul's `CheckServiceNode` JSON (`/v1/internal/federation-states/mesh-gateways`). */
export function toConsulCheckServiceNodeJson(g: MeshGatewayEntry): Record<string, unknown> {
  return {
    Node: {
      ID: g.node.id,
      Node: g.node.node,
      Address: g.node.address,
      Datacenter: g.node.datacenter,
      TaggedAddresses: { ...g.node.taggedAddresses },
      Meta: { ...g.node.meta },
    },
    Service: {
      Kind: g.service.kind,
      ID: g.service.id,
      Service: g.service.service,
      Tags: [...g.service.tags],
      Address: g.service.address,
      TaggedAddresses: Object.fromEntries(
        Object.entries(g.service.taggedAddresses).map(([k, a]) => [
          k,
          { Address: a.address, Port: a.port },
        ]),
      ),
      Meta: { ...g.service.meta },
      Port: g.service.port,
    },
    Checks: g.checks.map((c) => ({
      Node: c.node,
      CheckID: c.checkId,
      Name: c.name,
      Status: c.status,
      Notes: c.notes,
      Output: c.output,
      ServiceID: c.serviceId,
      ServiceName: c.serviceName,
      ServiceTags: [...c.serviceTags],
    })),
  }
}
