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

/**
 * Gateways tried per dial: the one picked and, when it was the gateway's fault, one other. More
 * would stretch a dial whose every gateway is black-holed past what a caller waits for.
 */
export const MAX_GATEWAY_ATTEMPTS = 2

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
   * A dial that fails because of the gateway itself (`isGatewayUnreachable`: refused, reset, timed
   * out, silent) is reported to the locator and tried once more on the gateway the locator picks
   * next, if that is another one, within the same `signal`: a dead gateway's re-probe (its backoff
   * window ran out) then costs the caller nothing, as `MeshGateway` retries the next upstream.
   *
   * @throws {InvalidNodeNameError} the name has no node part or no datacenter
   * @throws {NoGatewayError} the locator has no gateway for the datacenter
   * and whatever `dialViaGateway` throws (the last attempt's error)
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
    let failed: { gateway: string; err: Error } | undefined
    for (let attempt = 1; ; attempt++) {
      let gateway: string
      try {
        gateway = this.#pick(datacenter, name)
      } catch (err) {
        // No other gateway to retry on: the caller hears why the first one failed.
        throw failed?.err ?? err
      }
      if (failed !== undefined && gateway === failed.gateway) throw failed.err
      try {
        const socket = await dialViaGateway({
          gateway,
          datacenter,
          servername,
          alpn,
          tls: o.tls,
          signal,
          clock: o.clock,
          ...(o.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: o.connectTimeoutMs }),
          ...(o.handshakeTimeoutMs === undefined
            ? {}
            : { handshakeTimeoutMs: o.handshakeTimeoutMs }),
          ...(alpn === ALPN_WAN_GOSSIP_STREAM && o.sessionCache !== undefined
            ? { sessionCache: o.sessionCache }
            : {}),
          // A stream's reader must tell a gateway that died from a peer that closed.
          strictEnd: alpn === ALPN_WAN_GOSSIP_STREAM,
        })
        this.#tell('reportSuccess', datacenter, gateway)
        return { socket, gateway }
      } catch (err) {
        if (!isGatewayUnreachable(err)) throw err
        this.#tell('reportFailure', datacenter, gateway, err as Error)
        if (attempt >= MAX_GATEWAY_ATTEMPTS || signal.aborted) throw err
        failed = { gateway, err: err as Error }
      }
    }
  }

  #pick(datacenter: string, name: string): string {
    let gateway: string | undefined
    try {
      gateway = this.#o.locator.pickGateway(datacenter)
    } catch (err) {
      throw new NoGatewayError(`locator failed to pick a gateway for ${datacenter}`, { cause: err })
    }
    if (gateway === undefined || gateway === '') {
      throw new NoGatewayError(`no gateway reachable for ${datacenter} (sending to ${name})`)
    }
    return gateway
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
