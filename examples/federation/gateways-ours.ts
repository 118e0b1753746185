/**
 * wanfed's own `MeshGateway`s: local servers from the topology, remote datacenters from the
 * federation states (the DC's `FederationRoutes`), so a DC that joins later is routable with no
 * config edit. The kill is `destroy()`: every socket closed at once, in-process, which keeps the
 * gateway's counters readable afterwards (what it carried before it died is part of the story).
 */
import { MeshGateway, type MeshGatewayStats } from 'wanfed/gateway'
import type { FederationRoutes, GatewayLocator } from 'wanfed/locator'
import { whenPortFree } from '../lib/ports.ts'
import type { DemoGateway } from './gateway.ts'

/**
 * The gateways of a DC listen before its control plane starts (the plane's anti-entropy needs
 * their addresses), so their route source is handed over once the plane exists.
 */
export class PlaneRoutes implements GatewayLocator {
  #routes: FederationRoutes | undefined

  use(routes: FederationRoutes): void {
    this.#routes = routes
  }

  pickGateway(dc: string): string | undefined {
    return this.#routes?.pickGateway(dc)
  }

  reportFailure(dc: string, gateway: string, err: Error): void {
    this.#routes?.reportFailure(dc, gateway, err)
  }

  reportSuccess(dc: string, gateway: string): void {
    this.#routes?.reportSuccess(dc, gateway)
  }
}

export interface OurGatewayOptions {
  name: string
  datacenter: string
  servers: Record<string, string>
  routes: GatewayLocator
  /** 0 (the default) picks one; a restart reuses the old one, where every route points. */
  port?: number
}

export class OurGateway implements DemoGateway {
  readonly kind = 'ours' as const
  readonly name: string
  readonly datacenter: string
  readonly address: string
  readonly gateway: MeshGateway

  readonly #options: OurGatewayOptions

  private constructor(options: OurGatewayOptions, gateway: MeshGateway, address: string) {
    this.name = options.name
    this.datacenter = options.datacenter
    this.gateway = gateway
    this.address = address
    this.#options = options
  }

  static async start(options: OurGatewayOptions): Promise<OurGateway> {
    const gateway = new MeshGateway({
      datacenter: options.datacenter,
      servers: options.servers,
      locator: options.routes,
      // The demo closes its transports first, so nothing is left to wait for; Ctrl-C must be quick.
      closeGraceMs: 300,
      closeQuietMs: 100,
    })
    try {
      const { port } = await gateway.listen({ host: '127.0.0.1', port: options.port ?? 0 })
      return new OurGateway(options, gateway, `127.0.0.1:${port}`)
    } catch (err) {
      await gateway.close()
      throw err
    }
  }

  /** A new process for a killed gateway: same name, same port, same routes; fresh counters. */
  restart(): Promise<OurGateway> {
    if (this.alive()) throw new Error(`${this.name} is still serving`)
    const port = Number(this.address.slice(this.address.lastIndexOf(':') + 1))
    return whenPortFree(() => OurGateway.start({ ...this.#options, port }))
  }

  alive(): boolean {
    return this.gateway.status === 'listening'
  }

  stats(): MeshGatewayStats {
    return this.gateway.stats()
  }

  async kill(): Promise<void> {
    this.gateway.destroy()
    await this.gateway.close()
  }

  close(): Promise<void> {
    return this.gateway.close()
  }
}
