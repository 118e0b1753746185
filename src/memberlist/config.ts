import { BlockList, isIPv4, isIPv6 } from 'node:net'
import { hostname } from 'node:os'
import { InvalidArgumentError } from '../errors.ts'
import type { Clock } from '../internal/clock.ts'
import type { Transport } from '../transport/types.ts'
import type {
  AliveDelegate,
  ConflictDelegate,
  Delegate,
  MergeDelegate,
  PingDelegate,
} from './delegates.ts'
import type { Keyring } from './keyring.ts'
import {
  PROTOCOL_VERSION_2_COMPATIBLE,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
} from './wire/message-type.ts'

/**
 * memberlist's `Config`, field for field (durations in milliseconds, names in camelCase with an
 * `Ms` suffix). Start from {@link DefaultLANConfig}, {@link DefaultWANConfig} or
 * {@link DefaultLocalConfig}; `Memberlist.create` fills anything left out from the LAN defaults.
 */
export interface MemberlistConfig {
  /** This node's name, unique in the cluster (`<node>.<dc>` across datacenters). Default: the host name. */
  name: string
  /** Port assumed for join addresses without one, and for peers that send none (protocol 1). Default 7946. */
  bindPort: number
  /** IP to advertise; empty lets the transport decide (`FinalAdvertiseAddr`). */
  advertiseAddr: string
  /** Port to advertise; 0 lets the transport decide. */
  advertisePort: number
  /** Protocol version spoken (1..5); memberlist defaults to 2 for compatibility. */
  protocolVersion: number
  /** Timeout of stream dials and stream reads (push/pull, reliable messages, TCP pings). */
  tcpTimeoutMs: number
  /** Peers asked to probe a node that missed a direct ack. */
  indirectChecks: number
  /** Broadcasts are sent `retransmitMult * ceil(log10(n + 1))` times. */
  retransmitMult: number
  /** Suspicion lasts at least `suspicionMult * max(1, log10(n)) * probeInterval`. */
  suspicionMult: number
  /** Suspicion lasts at most this many times the minimum, without confirmations. */
  suspicionMaxTimeoutMult: number
  /** Full state exchange with a random node; 0 disables. */
  pushPullIntervalMs: number
  probeTimeoutMs: number
  probeIntervalMs: number
  /** Never fall back to a ping over a stream. */
  disableTcpPings: boolean
  /** Per node: true to skip the stream ping fallback (Consul does across datacenters). */
  disableTcpPingsForNode?: ((name: string) => boolean) | undefined
  /** Local health stretches probe timing up to this factor. */
  awarenessMaxMultiplier: number
  gossipNodes: number
  gossipIntervalMs: number
  /** Dead nodes keep being gossiped to for this long. */
  gossipToTheDeadTimeMs: number
  /** Refuse plaintext when a keyring is set (turn off during a rollout of encryption). */
  gossipVerifyIncoming: boolean
  /** Encrypt what is sent when a keyring is set. */
  gossipVerifyOutgoing: boolean
  enableCompression: boolean
  /** Gossip encryption keys; encryption is on when it holds a key. */
  keyring?: Keyring | undefined
  /** Largest packet built, with piggybacked broadcasts. */
  udpBufferSize: number
  /** A dead node's name may be taken by another address after this long; 0 never. */
  deadNodeReclaimTimeMs: number
  /** Refuse to send to an address with no node name (cross-DC pools need names). */
  requireNodeNames: boolean
  /** Isolates pools sharing a network: packets and streams carry it and others are dropped. */
  label: string
  /** Accept only unlabelled traffic and treat it as labelled (a transport checked the label). */
  skipInboundLabelCheck: boolean
  /** The application protocol versions this node speaks (Serf: 2..5, current 4). */
  delegateProtocolVersion: number
  delegateProtocolMin: number
  delegateProtocolMax: number
  /**
   * Networks members may be in (`CIDRsAllowed`), as `10.0.0.0/8` or `fd00::/8`: alive messages
   * from, or naming an address, outside them are ignored. Empty or absent allows all.
   */
  cidrsAllowed?: readonly string[] | undefined
  delegate?: Delegate | undefined
  alive?: AliveDelegate | undefined
  merge?: MergeDelegate | undefined
  conflict?: ConflictDelegate | undefined
  ping?: PingDelegate | undefined
}

/** What `Memberlist.create` takes: a transport, and any config fields (the rest from LAN defaults). */
export interface MemberlistOptions extends Partial<MemberlistConfig> {
  transport: Transport
  /** Timers and timestamps; default the system clock. */
  clock?: Clock
  /** Randomness for shuffles and staggers, `[0, 1)`; default `Math.random`. */
  random?: () => number
}

/** memberlist's `DefaultLANConfig`: tuned for a LAN, converging in about 5 s for most clusters. */
export function DefaultLANConfig(): MemberlistConfig {
  return {
    name: hostname(),
    bindPort: 7946,
    advertiseAddr: '',
    advertisePort: 7946,
    protocolVersion: PROTOCOL_VERSION_2_COMPATIBLE,
    tcpTimeoutMs: 10_000,
    indirectChecks: 3,
    retransmitMult: 4,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    pushPullIntervalMs: 30_000,
    probeTimeoutMs: 500,
    probeIntervalMs: 1_000,
    disableTcpPings: false,
    awarenessMaxMultiplier: 8,
    gossipNodes: 3,
    gossipIntervalMs: 200,
    gossipToTheDeadTimeMs: 30_000,
    gossipVerifyIncoming: true,
    gossipVerifyOutgoing: true,
    enableCompression: true,
    udpBufferSize: 1400,
    deadNodeReclaimTimeMs: 0,
    requireNodeNames: false,
    label: '',
    skipInboundLabelCheck: false,
    delegateProtocolVersion: 0,
    delegateProtocolMin: 0,
    delegateProtocolMax: 0,
  }
}

/** memberlist's `DefaultWANConfig`: the LAN config with timing for links between datacenters. */
export function DefaultWANConfig(): MemberlistConfig {
  return {
    ...DefaultLANConfig(),
    tcpTimeoutMs: 30_000,
    suspicionMult: 6,
    pushPullIntervalMs: 60_000,
    probeTimeoutMs: 3_000,
    probeIntervalMs: 5_000,
    gossipNodes: 4,
    gossipIntervalMs: 500,
    gossipToTheDeadTimeMs: 60_000,
  }
}

/** memberlist's `DefaultLocalConfig`: the LAN config for nodes on one host (loopback). */
export function DefaultLocalConfig(): MemberlistConfig {
  return {
    ...DefaultLANConfig(),
    tcpTimeoutMs: 1_000,
    indirectChecks: 1,
    retransmitMult: 2,
    suspicionMult: 3,
    pushPullIntervalMs: 15_000,
    probeTimeoutMs: 200,
    probeIntervalMs: 1_000,
    gossipIntervalMs: 100,
    gossipToTheDeadTimeMs: 15_000,
  }
}

/** The six version bytes this node advertises (`BuildVsnArray`). */
export function buildVsn(c: MemberlistConfig): Buffer {
  return Buffer.from([
    PROTOCOL_VERSION_MIN,
    PROTOCOL_VERSION_MAX,
    c.protocolVersion,
    c.delegateProtocolMin,
    c.delegateProtocolMax,
    c.delegateProtocolVersion,
  ])
}

/** @throws {InvalidArgumentError} naming the first bad field */
export function validateConfig(c: MemberlistConfig): void {
  const int = (k: keyof MemberlistConfig, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = c[k]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${k} must be an integer in ${min}..${max}, got ${String(v)}`)
    }
  }
  if (typeof c.name !== 'string' || c.name === '')
    throw new InvalidArgumentError('name must be a non-empty string')
  int('bindPort', 0, 65_535)
  int('advertisePort', 0, 65_535)
  int('protocolVersion', PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX)
  for (const k of ['tcpTimeoutMs', 'probeTimeoutMs', 'probeIntervalMs'] as const) int(k, 1)
  for (const k of [
    'pushPullIntervalMs',
    'gossipIntervalMs',
    'gossipToTheDeadTimeMs',
    'deadNodeReclaimTimeMs',
    'indirectChecks',
    'gossipNodes',
  ] as const)
    int(k, 0)
  int('retransmitMult', 1)
  int('suspicionMult', 1)
  int('suspicionMaxTimeoutMult', 1)
  int('awarenessMaxMultiplier', 1)
  int('udpBufferSize', 64, 65_507)
  for (const k of [
    'delegateProtocolVersion',
    'delegateProtocolMin',
    'delegateProtocolMax',
  ] as const)
    int(k, 0, 255)
  if (c.delegateProtocolMin > c.delegateProtocolMax) {
    throw new InvalidArgumentError('delegateProtocolMin must not exceed delegateProtocolMax')
  }
  if (typeof c.label !== 'string' || Buffer.byteLength(c.label) > 255) {
    throw new InvalidArgumentError('label must be a string of at most 255 bytes')
  }
  if (typeof c.advertiseAddr !== 'string')
    throw new InvalidArgumentError('advertiseAddr must be a string')
  if (c.cidrsAllowed !== undefined) parseCidrs(c.cidrsAllowed)
}

/**
 * memberlist's `ParseCIDRs`, into a `BlockList` (undefined for "allow all").
 *
 * @throws {InvalidArgumentError} naming the first CIDR that does not parse
 */
export function parseCidrs(cidrs: readonly string[] | undefined): BlockList | undefined {
  if (cidrs === undefined || cidrs.length === 0) return undefined
  const list = new BlockList()
  for (const raw of cidrs) {
    const m = typeof raw === 'string' ? /^\s*([^/\s]+)\/(\d{1,3})\s*$/.exec(raw) : null
    const ip = m?.[1] ?? ''
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined
    const prefix = Number(m?.[2])
    if (family === undefined || prefix > (family === 'ipv4' ? 32 : 128)) {
      throw new InvalidArgumentError(`invalid cidr: ${String(raw)}`)
    }
    list.addSubnet(ip, prefix, family)
  }
  return list
}
