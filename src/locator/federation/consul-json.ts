import type { FederationState, HealthCheck, MeshGatewayEntry, ServiceAddress } from './state.ts'

/**
 * A federation state as Consul's HTTP API writes it (`/v1/internal/federation-state/<dc>`): Go's
 * JSON encoding of `structs.FederationState`, PascalCase field names, `MeshGateways` omitted when
 * empty, `UpdatedAt` as Go's `time.Time` JSON. The fields are those the model keeps; those Consul
 * has and the model does not (a service's `Weights`, `Proxy`, a check's `Type`, the catalog's own
 * indexes) are left out rather than made up. For an admin endpoint that mimics Consul's.
 */
export function toConsulFederationStateJson(s: FederationState): Record<string, unknown> {
  return {
    Datacenter: s.datacenter,
    // Go's `json:",omitempty"` on MeshGateways: an empty list is left out.
    ...(s.meshGateways.length === 0
      ? {}
      : { MeshGateways: s.meshGateways.map(toConsulCheckServiceNodeJson) }),
    UpdatedAt: goTime(s.updatedAt),
    PrimaryModifyIndex: s.primaryModifyIndex,
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  }
}

/** One gateway as Consul's `CheckServiceNode` JSON (`/v1/internal/federation-states/mesh-gateways`). */
export function toConsulCheckServiceNodeJson(gw: MeshGatewayEntry): Record<string, unknown> {
  const { node, service } = gw
  return {
    Node: {
      ID: node.id,
      Node: node.node,
      Address: node.address,
      Datacenter: node.datacenter,
      TaggedAddresses: { ...node.taggedAddresses },
      Meta: { ...node.meta },
    },
    Service: {
      Kind: service.kind,
      ID: service.id,
      Service: service.service,
      Tags: [...service.tags],
      Address: service.address,
      TaggedAddresses: Object.fromEntries(
        Object.entries(service.taggedAddresses).map(([k, a]) => [k, serviceAddressJson(a)]),
      ),
      Meta: { ...service.meta },
      Port: service.port,
    },
    Checks: gw.checks.map(checkJson),
  }
}

function serviceAddressJson(a: ServiceAddress): Record<string, unknown> {
  return { Address: a.address, Port: a.port }
}

function checkJson(c: HealthCheck): Record<string, unknown> {
  return {
    Node: c.node,
    CheckID: c.checkId,
    Name: c.name,
    Status: c.status,
    Notes: c.notes,
    Output: c.output,
    ServiceID: c.serviceId,
    ServiceName: c.serviceName,
    ServiceTags: [...c.serviceTags],
  }
}

/** Go's zero `time.Time` as encoding/json writes it: what Consul shows for a state never stamped. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/** Go's `time.Time` JSON (RFC 3339, fraction without trailing zeros) for ms since the epoch, UTC. */
function goTime(ms: number): string {
  if (ms === 0) return GO_ZERO_TIME
  const iso = new Date(ms).toISOString() // 2020-01-02T03:04:05.670Z
  return iso.replace(/\.(\d+)Z$/, (_, frac: string) => {
    const trimmed = frac.replace(/0+$/, '')
    return trimmed === '' ? 'Z' : `.${trimmed}Z`
  })
}
