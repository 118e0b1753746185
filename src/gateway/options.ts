import { InvalidArgumentError } from '../errors.ts'
import { type Clock, systemClock } from '../internal/clock.ts'
import { optionalNumber } from '../internal/validate.ts'
import { FederationRoutes } from '../locator/federation/routes.ts'
import type { FederationStateStore } from '../locator/federation/store.ts'
import type { GatewayLocator } from '../locator/types.ts'
import {
  checkDatacenter,
  normalizeDomain,
  type ServerRegistry,
  type ServerSource,
  toServerRegistry,
} from './routes.ts'

/** Consul's `rpc_handshake_timeout`: how long a client has to send its whole ClientHello. */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000
/** Bytes buffered before the SNI is known. Real hellos are well under 2 KiB (post-quantum key shares included). */
export const DEFAULT_MAX_HELLO_BYTES = 16 * 1024
/**
 * TCP connect timeout per upstream attempt. Shorter than Consul's fixed 10 s on purpose: a remote
 * gateway that is black-holed must be given up on, and the next one tried and answered
 * ({@link DEFAULT_ANSWER_TIMEOUT_MS}), while the dialling node still waits for its handshake
 * (`WanfedTransport`'s `handshakeTimeoutMs`, 10 s): 4 s + 5 s < 10 s. With 10 s the node gave up
 * exactly when the gateway would have moved on. A loaded WAN link still connects in well under 4 s.
 */
export const DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS = 4_000
/**
 * How long a remote gateway has, once connected, to send its first byte back. Consul's
 * `rpc_handshake_timeout`, and half the dialer's own handshake timeout, so a silent gateway is
 * failed over while the client still waits.
 */
export const DEFAULT_ANSWER_TIMEOUT_MS = 5_000
/**
 * A spliced connection whose buffered writes towards either side have not moved for this long is
 * closed, and a remote gateway it was writing to is reported failed. Long enough for TCP to ride
 * out several retransmission timeouts on a lossy link; short next to the ~15 minutes the kernel
 * would retransmit into a black hole.
 */
export const DEFAULT_WRITE_STALL_TIMEOUT_MS = 15_000
/** A spliced connection with no byte either way for this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60_000
/** Distinct upstreams tried per connection before giving up. */
export const DEFAULT_MAX_CONNECT_ATTEMPTS = 3
/** Default bound on open client connections (the renderers' `maxconn` / `worker_connections`). */
export const DEFAULT_MAX_GATEWAY_CONNECTIONS = 4_096
/** How long `close()` lets spliced connections finish. */
export const DEFAULT_GATEWAY_CLOSE_GRACE_MS = 5_000
/**
 * During `close()`, a spliced connection quiet both ways this long is ended without waiting out
 * the grace period. Longer than a WAN round trip, so a request still waiting for its reply is not
 * cut; short enough that pooled packet connections and idle streams do not hold a close.
 */
export const DEFAULT_CLOSE_QUIET_MS = 500

export interface MeshGatewayOptions {
  /** The gateway's own datacenter: `*.server.<datacenter>.<domain>` names are local. */
  datacenter: string
  /** Consul domain, default `consul`. */
  domain?: string
  /**
   * Local servers by node name (`host:port`): a record, a map, a lookup function, or a
   * {@link ServerRegistry} (whose `all()` serves `server.<dc>.<domain>`; a bare function has no
   * servers for that route). Records and maps are copied; registries and functions are asked live.
   */
  servers: ServerSource
  /** Where other datacenters' gateways are. Without it, remote names have no route. */
  locator?: GatewayLocator
  /**
   * Take the remote-DC routes from federation states (the primary's store, or a copy replicated
   * from it): each datacenter's gateways marked `consul-wan-federation`, at their WAN addresses,
   * read live, so a new datacenter needs no config edit. `locator`, when given too, is asked for a
   * datacenter the federation states do not route (see {@link FederationRoutes}).
   */
  federationStates?: FederationStateStore
  /** Time in ms from accept to a complete ClientHello. Default 5,000. */
  helloTimeoutMs?: number
  /** Bytes buffered before the SNI is known; a longer hello is refused. Default 16 KiB. */
  maxHelloBytes?: number
  /**
   * TCP connect timeout in ms per upstream attempt. Default 4,000: with `answerTimeoutMs` it must
   * stay below the dialling nodes' `handshakeTimeoutMs` (10,000 by default), so a black-holed
   * remote gateway is failed over before the node gives up.
   */
  connectTimeoutMs?: number
  /**
   * Time in ms a remote gateway has, after the TCP connect, to send its first byte back (the
   * ServerHello it relays). A gateway is reported healthy to the locator only once it has
   * answered; one that closes or stays silent is reported failed and the next one is tried with
   * the same ClientHello. Default 5,000.
   */
  answerTimeoutMs?: number
  /** A spliced connection idle both ways this long (ms) is closed; 0 disables. Default 10 minutes. */
  idleTimeoutMs?: number
  /**
   * A spliced connection with bytes waiting to be written towards one side, none of which has
   * reached the kernel for this long (ms), is closed: the link is black-holed or the peer hung
   * (its window stays shut). Seen only once the kernel's send buffer is full, so at low rates it
   * adds the time that takes. When it is the upstream of a remote-DC route, that gateway is
   * reported failed to the locator. 0 disables. Default 15,000.
   */
  writeStallTimeoutMs?: number
  /**
   * Open client connections allowed; 0 means no limit. Default 4,096, as the rendered HAProxy and
   * nginx configs: an unauthenticated client must not be able to exhaust file descriptors.
   */
  maxConnections?: number
  /** Distinct servers or gateways tried per connection before it is refused. Default 3. */
  maxConnectAttempts?: number
  /** Grace period in ms that `close()` gives spliced connections. Default 5,000. */
  closeGraceMs?: number
  /**
   * During `close()`, a spliced connection with no byte either way for this long (ms) is ended
   * before the grace period is over; 0 waits for every connection up to `closeGraceMs`.
   * Default 500.
   */
  closeQuietMs?: number
  /** @internal */
  clock?: Clock
}

/** {@link MeshGatewayOptions}, validated, defaults filled in. */
export interface ResolvedGatewayOptions {
  readonly datacenter: string
  readonly domain: string
  readonly servers: ServerRegistry
  readonly locator: GatewayLocator | undefined
  readonly clock: Clock
  readonly helloTimeoutMs: number
  readonly maxHelloBytes: number
  readonly connectTimeoutMs: number
  readonly answerTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly writeStallTimeoutMs: number
  readonly maxConnections: number
  readonly maxConnectAttempts: number
  readonly closeGraceMs: number
  readonly closeQuietMs: number
}

/** Validates the options; a bad one throws {@link InvalidArgumentError} naming the field. */
export function resolveGatewayOptions(options: MeshGatewayOptions): ResolvedGatewayOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('MeshGateway needs options { datacenter, servers }')
  }
  const datacenter = checkDatacenter(options.datacenter, 'datacenter')
  const domain = normalizeDomain(options.domain)
  if (options.servers === undefined) throw new InvalidArgumentError('servers is required')
  const servers = toServerRegistry(options.servers, 'servers')
  if (
    options.locator !== undefined &&
    (options.locator === null || typeof options.locator.pickGateway !== 'function')
  ) {
    throw new InvalidArgumentError('locator must have a pickGateway(dc) method')
  }
  const store = options.federationStates
  if (store !== undefined && (store === null || typeof store.get !== 'function')) {
    throw new InvalidArgumentError('federationStates must be a FederationStateStore')
  }
  const locator =
    store === undefined
      ? options.locator
      : new FederationRoutes({
          store,
          datacenter,
          fallback: options.locator === undefined ? [] : [options.locator],
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        })
  return {
    datacenter,
    domain,
    servers,
    locator,
    clock: options.clock ?? systemClock,
    helloTimeoutMs: optionalNumber(
      options.helloTimeoutMs,
      DEFAULT_HELLO_TIMEOUT_MS,
      'helloTimeoutMs',
      {
        min: 1,
      },
    ),
    maxHelloBytes: optionalNumber(options.maxHelloBytes, DEFAULT_MAX_HELLO_BYTES, 'maxHelloBytes', {
      // Below 64 bytes not even a minimal ClientHello with an SNI fits.
      min: 64,
      max: 1024 * 1024,
      integer: true,
    }),
    connectTimeoutMs: optionalNumber(
      options.connectTimeoutMs,
      DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
      'connectTimeoutMs',
      { min: 1 },
    ),
    answerTimeoutMs: optionalNumber(
      options.answerTimeoutMs,
      DEFAULT_ANSWER_TIMEOUT_MS,
      'answerTimeoutMs',
      { min: 1 },
    ),
    idleTimeoutMs: optionalNumber(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'idleTimeoutMs', {
      min: 0,
    }),
    writeStallTimeoutMs: optionalNumber(
      options.writeStallTimeoutMs,
      DEFAULT_WRITE_STALL_TIMEOUT_MS,
      'writeStallTimeoutMs',
      { min: 0 },
    ),
    maxConnections: optionalNumber(
      options.maxConnections,
      DEFAULT_MAX_GATEWAY_CONNECTIONS,
      'maxConnections',
      { min: 0, integer: true },
    ),
    maxConnectAttempts: optionalNumber(
      options.maxConnectAttempts,
      DEFAULT_MAX_CONNECT_ATTEMPTS,
      'maxConnectAttempts',
      { min: 1, max: 100, integer: true },
    ),
    closeGraceMs: optionalNumber(
      options.closeGraceMs,
      DEFAULT_GATEWAY_CLOSE_GRACE_MS,
      'closeGraceMs',
      {
        min: 0,
      },
    ),
    closeQuietMs: optionalNumber(options.closeQuietMs, DEFAULT_CLOSE_QUIET_MS, 'closeQuietMs', {
      min: 0,
    }),
  }
}
