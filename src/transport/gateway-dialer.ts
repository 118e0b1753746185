import type { TLSSocket } from 'node:tls'
import { dialViaGateway, isGatewayUnreachable } from '../alpn/dial.ts'
import { ALPN_WAN_GOSSIP_STREAM } from '../alpn/protocols.ts'
import type { TlsSessionCache } from '../alpn/session-cache.ts'
import { serverSni } from '../alpn/sni.ts'
import type { TlsCredentials } from '../alpn/tls-options.ts'
import { InvalidArgumentError, InvalidNodeNameError, NoGatewayError } from '../errors.ts'
import type { Clock } from '../internal/clock.ts'
import type { GatewayLocator } from '../locator/types.ts'
import { type NodeNameRule, splitNodeName } from './node-name.ts'

/** A TLS connection to a node in another datacenter and the gateway it went through. */
export interface GatewayConnection {
  socket: TLSSocket
  gateway: string
}

export interface GatewayDialerOptions {
  locator: GatewayLocator
  domain: string
  rule: NodeNameRule
  clock: Clock
  tls: TlsCredentials
  connectTimeoutMs: number | undefined
  handshakeTimeoutMs: number | undefined
  /** Resumes stream dials only: packet connections are few and long-lived. */
  sessionCache: TlsSessionCache | undefined
  /** Where a locator hook that throws is reported. */
  onError: (err: Error) => void
}

/**
 * The one way to reach a node in another datacenter: pick a gateway from the locator, dial
 * `<node>.server.<dc>.<domain>` through it, and tell the locator how it went. The packet pool and
 * stream dials both come here. The locator hears of an outcome only when it is the gateway's
 * (`isGatewayUnreachable` or success); a dead far node, a TLS or ALPN refusal, a local error or our
 * own cancellation say nothing about the gateway.
 * @internal
 */
export class GatewayDialer {
  readonly #o: GatewayDialerOptions

  constructor(options: GatewayDialerOptions) {
    this.#o = { ...options }
  }

  /** Credentials for every dial from now on; resumable sessions made with the old ones are forgotten. */
  setTls(tls: TlsCredentials): void {
    this.#o.tls = tls
    this.#o.sessionCache?.clear()
  }

  /**
   * @throws {InvalidNodeNameError} the name has no node part or no datacenter
   * @throws {NoGatewayError} the locator has no gateway for the datacenter
   * and whatever `dialViaGateway` throws
   */
  async dial(name: string, alpn: string, signal: AbortSignal): Promise<GatewayConnection> {
    const o = this.#o
    const { node, datacenter } = splitNodeName(name, o.rule)
    if (node === '') {
      // Consul refuses it too; an empty node must not silently become "any server".
      throw new InvalidNodeNameError(`cannot dial ${JSON.stringify(name)} without a target node`)
    }
    // Checked before a gateway is picked, so a name SNI cannot carry fails here, locally.
    const servername = serverSni(datacenter, node, o.domain)
    let gateway: string | undefined
    try {
      gateway = o.locator.pickGateway(datacenter)
    } catch (err) {
      throw new NoGatewayError(`locator failed to pick a gateway for ${datacenter}`, { cause: err })
    }
    if (gateway === undefined || gateway === '') {
      throw new NoGatewayError(`no gateway reachable for ${datacenter} (sending to ${name})`)
    }
    let socket: TLSSocket
    try {
      socket = await dialViaGateway({
        gateway,
        datacenter,
        servername,
        alpn,
        tls: o.tls,
        signal,
        clock: o.clock,
        ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
        ...(o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
        ...(alpn === ALPN_WAN_GOSSIP_STREAM && o.sessionCache !== undefined
          ? { sessionCache: o.sessionCache }
          : {}),
        // A stream's reader must tell a gateway that died from a peer that closed.
        strictEnd: alpn === ALPN_WAN_GOSSIP_STREAM,
      })
    } catch (err) {
      if (isGatewayUnreachable(err)) this.#tell('reportFailure', datacenter, gateway, err as Error)
      throw err
    }
    this.#tell('reportSuccess', datacenter, gateway)
    return { socket, gateway }
  }

  /** Calls the locator's optional report hooks; a hook that throws is reported, never propagated. */
  #tell(
    hook: 'reportFailure' | 'reportSuccess',
    datacenter: string,
    gateway: string,
    err?: Error,
  ): void {
    const locator = this.#o.locator
    try {
      if (hook === 'reportFailure') locator.reportFailure?.(datacenter, gateway, err as Error)
      else locator.reportSuccess?.(datacenter, gateway)
    } catch (thrown) {
      this.#o.onError(new InvalidArgumentError(`GatewayLocator.${hook} threw`, { cause: thrown }))
    }
  }
}
