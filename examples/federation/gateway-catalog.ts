/**
 * A datacenter's gateways as Consul's catalog holds them, with a health check each: what
 * anti-entropy writes into the federation states. A check runs every second on each gateway
 * (is the process or listener still serving?) and a change wakes anti-entropy at once, so a killed
 * gateway is marked critical and, once replicated, avoided by every DC's nodes and gateways.
 */
import {
  META_WAN_FEDERATION_KEY,
  META_WAN_FEDERATION_VALUE,
  type MeshGatewayInput,
} from 'wanfed/locator'
import type { DemoGateway } from './gateway.ts'

const CHECK_INTERVAL_MS = 1_000

export class GatewayCatalog implements AsyncIterable<readonly MeshGatewayInput[]> {
  readonly #gateways: readonly DemoGateway[]
  readonly #critical = new Set<string>()
  readonly #timer: NodeJS.Timeout
  #wake: (() => void) | undefined
  #version = 0
  #closed = false

  constructor(gateways: readonly DemoGateway[]) {
    this.#gateways = gateways
    this.#timer = setInterval(() => this.check(), CHECK_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Runs the checks now; true when a gateway's status changed. */
  check(): boolean {
    let changed = false
    for (const g of this.#gateways) {
      const critical = !g.alive()
      if (critical === this.#critical.has(g.name)) continue
      if (critical) this.#critical.add(g.name)
      else this.#critical.delete(g.name)
      changed = true
    }
    if (changed) {
      this.#version++
      this.#wake?.()
    }
    return changed
  }

  critical(): string[] {
    return [...this.#critical]
  }

  /** The catalog entries now: each gateway at its address, LAN and WAN alike on loopback. */
  list(): MeshGatewayInput[] {
    return this.#gateways.map((g) => {
      const [host, port] = splitAddress(g.address)
      const status = this.#critical.has(g.name) ? 'critical' : 'passing'
      return {
        node: { node: g.name, address: host },
        service: {
          kind: 'mesh-gateway',
          id: 'mesh-gateway',
          service: 'mesh-gateway',
          address: host,
          port,
          taggedAddresses: { lan: { address: host, port }, wan: { address: host, port } },
          meta: { [META_WAN_FEDERATION_KEY]: META_WAN_FEDERATION_VALUE },
        },
        checks: [
          {
            node: g.name,
            checkId: 'gateway-alive',
            name: 'gateway serving',
            status,
            output: status === 'passing' ? 'serving' : 'not serving',
            serviceId: 'mesh-gateway',
            serviceName: 'mesh-gateway',
          },
        ],
      }
    })
  }

  /** The list now, then again after every change, until `close()`. */
  async *[Symbol.asyncIterator](): AsyncGenerator<readonly MeshGatewayInput[]> {
    let seen = -1
    while (!this.#closed) {
      if (seen !== this.#version) {
        seen = this.#version
        yield this.list()
        continue
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
      this.#wake = undefined
    }
  }

  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
    this.#wake?.()
  }
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':')
  return [address.slice(0, i), Number(address.slice(i + 1))]
}
