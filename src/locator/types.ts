/**
 * Chooses which mesh gateway carries traffic to a datacenter. `WanfedTransport` and `MeshGateway`
 * call it at dial time, never in advance, and report how each dial went so a locator can steer away
 * from a gateway that failed.
 */
export interface GatewayLocator {
  /** A gateway for `datacenter` as `host:port` (IPv6 in brackets), or undefined when none is known. */
  pickGateway(datacenter: string): string | undefined
  /** A dial through `gateway` failed. */
  reportFailure?(datacenter: string, gateway: string, err: Error): void
  /** A dial through `gateway` succeeded. */
  reportSuccess?(datacenter: string, gateway: string): void
}
