import { connect as netConnect, type Socket } from 'node:net'
import { ConnectTimeoutError, SocketError } from '../errors.ts'
import { parseHostPort } from '../internal/address.ts'
import type { Clock } from '../internal/clock.ts'
import { debug } from '../internal/debug.ts'
import { waitForSocketEvent } from '../internal/socket-event.ts'
import type { GatewayLocator } from '../locator/types.ts'
import { type GatewayConn, helloBytes, type Routed } from './connection.ts'
import type { ServerRegistry } from './routes.ts'

export interface UpstreamSettings {
  readonly servers: ServerRegistry
  readonly locator: GatewayLocator | undefined
  readonly clock: Clock
  readonly connectTimeoutMs: number
  readonly answerTimeoutMs: number
  readonly maxConnectAttempts: number
}

export interface UpstreamHooks {
  /** One attempt failed (counted and published by the gateway); the next is tried. */
  attemptFailed(conn: GatewayConn, route: Routed, address: string, err: Error): void
  /** A locator or registry threw: a background error. */
  error(err: Error): void
}

/** How choosing an upstream ended. */
export type UpstreamResult =
  | {
      readonly ok: true
      readonly socket: Socket
      readonly address: string
      /**
       * The upstream's first bytes, read while the connection was on probation (remote gateways):
       * the ClientHello is then already upstream and these go to the client first.
       */
      readonly answer: Buffer | undefined
    }
  | {
      readonly ok: false
      readonly reason: 'unknown-route' | 'upstream-failed'
      readonly error?: Error
    }

/**
 * Chooses the upstream of a routed connection and connects to it, failing over: a local server
 * by name, any local server round-robin, or a gateway of another datacenter picked by the
 * locator. A remote gateway must answer (send its first byte back, the ServerHello it relays)
 * within `answerTimeoutMs` before it is reported healthy; one that closes or stays silent is
 * reported failed and the next pick gets the same ClientHello.
 */
export class UpstreamConnector {
  readonly #s: UpstreamSettings
  readonly #hooks: UpstreamHooks
  #roundRobin = 0

  constructor(settings: UpstreamSettings, hooks: UpstreamHooks) {
    this.#s = settings
    this.#hooks = hooks
  }

  /** Resolves undefined when the connection left the `connecting` phase meanwhile. */
  async connect(conn: GatewayConn, route: Routed): Promise<UpstreamResult | undefined> {
    const candidates = this.#candidates(route)
    if (!isIterable(candidates)) return candidates
    let lastError: Error | undefined
    let attempts = 0
    try {
      for (const address of candidates) {
        if (conn.phase !== 'connecting') return undefined
        attempts++
        try {
          const socket = await this.#dial(conn, address)
          const answer =
            route.kind === 'remote-dc' ? await this.#answer(conn, socket, address) : undefined
          if (conn.phase !== 'connecting') {
            socket.destroy()
            return undefined
          }
          if (route.kind === 'remote-dc') this.#report('reportSuccess', route.datacenter, address)
          return { ok: true, socket, address, answer }
        } catch (err) {
          // A failure caused by the client leaving or by close() says nothing about the upstream.
          if (conn.phase !== 'connecting') return undefined
          lastError = err as Error
          this.#hooks.attemptFailed(conn, route, address, lastError)
          if (route.kind === 'remote-dc') {
            this.#report('reportFailure', route.datacenter, address, lastError)
          }
        }
      }
    } catch (err) {
      return this.#threw(err)
    }
    if (conn.phase !== 'connecting') return undefined
    if (attempts === 0) return { ok: false, reason: 'unknown-route' }
    return lastError === undefined
      ? { ok: false, reason: 'upstream-failed' }
      : { ok: false, reason: 'upstream-failed', error: lastError }
  }

  /**
   * The upstream addresses to try, lazily (each remote pick happens after the previous failure
   * was reported, so the locator can steer away from it). A result when the lookup threw.
   */
  #candidates(route: Routed): Iterable<string> | UpstreamResult {
    const max = this.#s.maxConnectAttempts
    try {
      if (route.kind === 'local-server') {
        const address = this.#s.servers.lookup(route.node)
        return address === undefined ? [] : [address]
      }
      if (route.kind === 'local-any') {
        const all = [...new Set(this.#s.servers.all())]
        const start = this.#roundRobin++ % Math.max(1, all.length)
        if (this.#roundRobin >= Number.MAX_SAFE_INTEGER) this.#roundRobin = 0
        const order = [...all.slice(start), ...all.slice(0, start)]
        return order.slice(0, max)
      }
    } catch (err) {
      return this.#threw(err)
    }
    return this.#remoteCandidates(route.datacenter, max)
  }

  *#remoteCandidates(datacenter: string, max: number): Generator<string> {
    const locator = this.#s.locator
    if (locator === undefined) return
    const tried = new Set<string>()
    // A locator may hand back a gateway already tried; a few extra picks look for another.
    for (let picks = 0; picks < max * 3 && tried.size < max; picks++) {
      // A throw here ends the connect loop, which reports it.
      const gateway = locator.pickGateway(datacenter)
      if (gateway === undefined) return
      if (tried.has(gateway)) continue
      tried.add(gateway)
      yield gateway
    }
  }

  #threw(err: unknown): UpstreamResult {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#hooks.error(error)
    return { ok: false, reason: 'upstream-failed', error }
  }

  /** One TCP connect upstream; the attempt is `conn.upstream` so a reject can cancel it. */
  async #dial(conn: GatewayConn, address: string): Promise<Socket> {
    const { host, port } = parseHostPort(address, 'upstream address')
    const ms = this.#s.connectTimeoutMs
    // allowHalfOpen: the server's FIN must reach the client as a FIN, not close both ways.
    const socket = netConnect({ host, port, noDelay: true, keepAlive: true, allowHalfOpen: true })
    conn.upstream = socket
    socket.on('error', (err) =>
      debug('gateway upstream %s error: %s', address, (err as Error).message),
    )
    return await this.#settle(
      conn,
      socket,
      waitForSocketEvent<Socket>(
        socket,
        {
          connect: () => socket,
          error: (err: Error) =>
            new SocketError(`connect to ${address} failed: ${err.message}`, { cause: err }),
          close: () => new SocketError(`connect to ${address} was cancelled`),
        },
        this.#s.clock,
        ms,
        () => new ConnectTimeoutError(`connect to ${address} timed out after ${ms} ms`),
      ),
    )
  }

  /**
   * Sends the ClientHello and waits for the upstream's first bytes: a gateway that accepts TCP
   * and then says nothing (a wedged process, a balancer in front of a dead proxy) is a failed
   * gateway, not a healthy one. The socket is left paused with the first chunk returned.
   */
  async #answer(conn: GatewayConn, socket: Socket, address: string): Promise<Buffer> {
    const ms = this.#s.answerTimeoutMs
    const answered = waitForSocketEvent<Buffer>(
      socket,
      {
        data: (chunk: Buffer) => {
          socket.pause()
          return chunk
        },
        end: () => new SocketError(`${address} closed without answering`),
        error: (err: Error) =>
          new SocketError(`${address} failed before answering: ${err.message}`, { cause: err }),
        close: () => new SocketError(`${address} closed without answering`),
      },
      this.#s.clock,
      ms,
      () => new ConnectTimeoutError(`${address} did not answer within ${ms} ms`),
    )
    socket.write(helloBytes(conn))
    return await this.#settle(conn, socket, answered)
  }

  /** A failed wait upstream ends the attempt: the socket is destroyed and no longer the conn's. */
  async #settle<T>(conn: GatewayConn, socket: Socket, waiting: Promise<T>): Promise<T> {
    try {
      return await waiting
    } catch (err) {
      if (conn.upstream === socket) conn.upstream = undefined
      socket.destroy()
      throw err
    }
  }

  /** A spliced remote gateway failed later (its writes stalled): the locator hears of it too. */
  reportFailure(datacenter: string, gateway: string, err: Error): void {
    this.#report('reportFailure', datacenter, gateway, err)
  }

  #report(
    method: 'reportFailure' | 'reportSuccess',
    datacenter: string,
    gateway: string,
    err?: Error,
  ): void {
    try {
      if (method === 'reportFailure') {
        this.#s.locator?.reportFailure?.(datacenter, gateway, err as Error)
      } else {
        this.#s.locator?.reportSuccess?.(datacenter, gateway)
      }
    } catch (e) {
      this.#hooks.error(e instanceof Error ? e : new Error(String(e)))
    }
  }
}

function isIterable(value: Iterable<string> | UpstreamResult): value is Iterable<string> {
  return !('ok' in value)
}
