import type { HealthStatus } from '../../src/locator/federation/state.ts'
import type {
  FederationStateInput,
  MeshGatewayInput,
} from '../../src/locator/federation/validate.ts'

export interface GatewaySpec {
  name?: string
  lan?: string
  wan?: string
  port?: number
  wanPort?: number
  federation?: boolean
  status?: HealthStatus | HealthStatus[]
  output?: string
}

/** A mesh gateway as anti-entropy would collect it: LAN address on the node, WAN as a tagged address. */
export function gateway(spec: GatewaySpec = {}): MeshGatewayInput {
  const name = spec.name ?? 'gw1'
  const lan = spec.lan ?? '10.0.0.1'
  const port = spec.port ?? 8443
  const statuses = Array.isArray(spec.status) ? spec.status : [spec.status ?? 'passing']
  return {
    node: { node: name, address: lan },
    service: {
      id: 'mesh-gateway',
      service: 'mesh-gateway',
      address: lan,
      port,
      taggedAddresses: {
        lan: { address: lan, port },
        ...(spec.wan === undefined
          ? {}
          : { wan: { address: spec.wan, port: spec.wanPort ?? port } }),
      },
      meta: spec.federation === false ? {} : { 'consul-wan-federation': '1' },
    },
    checks: statuses.map((status, i) => ({
      checkId: `check-${i}`,
      name: 'gateway alive',
      status,
      output: spec.output ?? '',
      node: name,
    })),
  }
}

export function state(datacenter: string, ...gateways: MeshGatewayInput[]): FederationStateInput {
  return { datacenter, meshGateways: gateways }
}
