import type { MetricFamily, MetricType } from './prometheus.ts'

/**
 * How one `stats()` field becomes a metric. `path` is the field's dotted path; a `*` segment stands
 * for every key of a map, and that key becomes the label named in `labels` (in order).
 */
export interface MetricSpec {
  readonly path: string
  readonly name: string
  readonly type: MetricType
  readonly help: string
  readonly labels?: readonly string[]
  /** Turns a non-numeric leaf into a number (a state into 0 or 1). */
  readonly value?: (leaf: unknown) => number | undefined
}

/** The kinds of component the admin endpoint reads, each with the label naming the instance. */
export type ComponentKind = 'transport' | 'server' | 'gateway' | 'locator' | 'store'

export const KIND_LABEL: Readonly<Record<ComponentKind, string>> = {
  transport: 'transport',
  server: 'server',
  gateway: 'gateway',
  locator: 'locator',
  store: 'store',
}

const listening = (leaf: unknown) => (leaf === 'listening' ? 1 : 0)
const flag = (leaf: unknown) => (typeof leaf === 'boolean' ? (leaf ? 1 : 0) : undefined)
const count = (leaf: unknown) => (Array.isArray(leaf) ? leaf.length : undefined)

const c = (path: string, name: string, help: string, labels?: readonly string[]): MetricSpec => ({
  path,
  name,
  type: 'counter',
  help,
  ...(labels === undefined ? {} : { labels }),
})
const g = (path: string, name: string, help: string, labels?: readonly string[]): MetricSpec => ({
  path,
  name,
  type: 'gauge',
  help,
  ...(labels === undefined ? {} : { labels }),
})

const traffic = (prefix: string, name: string, labels: readonly string[], of: string) => [
  c(`${prefix}.connections`, `${name}_connections_total`, `Connections spliced, by ${of}.`, labels),
  g(
    `${prefix}.active`,
    `${name}_active_connections`,
    `Spliced connections open now, by ${of}.`,
    labels,
  ),
  c(
    `${prefix}.bytesIn`,
    `${name}_bytes_in_total`,
    `Bytes from clients to upstreams, by ${of}.`,
    labels,
  ),
  c(
    `${prefix}.bytesOut`,
    `${name}_bytes_out_total`,
    `Bytes from upstreams to clients, by ${of}.`,
    labels,
  ),
  c(
    `${prefix}.connectFailures`,
    `${name}_connect_failures_total`,
    `Upstream connect attempts that failed, by ${of}.`,
    labels,
  ),
]

/**
 * Every metric of every kind. A test checks that each numeric field a live `stats()` reports is
 * covered here, and that each counter and gauge agrees with docs/observability.md.
 */
export const METRIC_SPECS: Readonly<Record<ComponentKind, readonly MetricSpec[]>> = {
  transport: [
    {
      ...g('status', 'wanfed_transport_listening', '1 while the transport listens, else 0.'),
      value: listening,
    },
    c('packets.sent', 'wanfed_transport_packets_sent_total', 'Packets handed to the network.'),
    c(
      'packets.received',
      'wanfed_transport_packets_received_total',
      'Packets that arrived, consumed or not.',
    ),
    c(
      'packets.dropped',
      'wanfed_transport_packets_dropped_total',
      'Inbound packets no consumer took.',
    ),
    c(
      'packets.sendDropped',
      'wanfed_transport_packets_send_dropped_total',
      'Outbound packets accepted and then dropped (congestion).',
    ),
    c(
      'packets.sendErrors',
      'wanfed_transport_packets_send_errors_total',
      'Outbound packets whose send failed.',
    ),
    c('streams.dialed', 'wanfed_transport_streams_dialed_total', 'Streams opened by dialing.'),
    c(
      'streams.dialErrors',
      'wanfed_transport_stream_dial_errors_total',
      'Stream dials that failed.',
    ),
    c(
      'streams.accepted',
      'wanfed_transport_streams_accepted_total',
      'Inbound streams, consumed or not.',
    ),
    c(
      'streams.dropped',
      'wanfed_transport_streams_dropped_total',
      'Inbound streams no consumer took.',
    ),
    g('pool.open', 'wanfed_pool_open_connections', 'Open cross-DC packet connections.'),
    g('pool.idle', 'wanfed_pool_idle_connections', 'Open packet connections with nothing queued.'),
    g('pool.nodes', 'wanfed_pool_nodes', 'Destinations with a connection or a dial in flight.'),
    c('pool.dials', 'wanfed_pool_dials_total', 'Packet connections dialled.'),
    c(
      'pool.dialFailures',
      'wanfed_pool_dial_failures_total',
      'Packet connection dials that failed.',
    ),
    c(
      'pool.writeFailures',
      'wanfed_pool_write_failures_total',
      'Writes that failed on an open packet connection.',
    ),
    g('pool.pending', 'wanfed_pool_pending_packets', 'Packets waiting for a dial.'),
    g('pool.pendingBytes', 'wanfed_pool_pending_bytes', 'Bytes of frames waiting for a dial.'),
    c('pool.dropped', 'wanfed_pool_dropped_total', 'Packets the pool dropped, all reasons.'),
    c(
      'pool.droppedCongested',
      'wanfed_pool_dropped_congested_total',
      'Packets dropped because every connection to the node was congested.',
    ),
    c(
      'pool.droppedPendingFull',
      'wanfed_pool_dropped_pending_full_total',
      'Packets dropped because a wait queue (count or bytes) was full.',
    ),
    c(
      'pool.droppedDialWait',
      'wanfed_pool_dropped_dial_wait_total',
      'Packets dropped after waiting maxDialWaitMs for a dial.',
    ),
    c(
      'pool.droppedBackoff',
      'wanfed_pool_dropped_backoff_total',
      'Packets dropped while dials to the node backed off.',
    ),
    c('pool.reaped', 'wanfed_pool_reaped_total', 'Connections closed by the idle reaper.'),
    c(
      'pool.stalled',
      'wanfed_pool_stalled_total',
      'Connections closed because they stayed congested.',
    ),
    c(
      'pool.closedEarly',
      'wanfed_pool_closed_early_total',
      'Connections the peer closed right after the handshake.',
    ),
    c(
      'protocolErrors.*',
      'wanfed_transport_protocol_errors_total',
      'Inbound cross-DC protocol errors, by WANFED_ERR_* code.',
      ['code'],
    ),
    g(
      'inbound.packetConns',
      'wanfed_transport_inbound_packet_connections',
      'Inbound cross-DC packet connections open.',
    ),
    g(
      'inbound.streams',
      'wanfed_transport_inbound_streams',
      'Cross-DC streams open, inbound and dialled.',
    ),
  ],
  server: [
    {
      ...g('status', 'wanfed_server_listening', '1 while the server listens, else 0.'),
      value: listening,
    },
    c('accepted', 'wanfed_server_accepted_total', 'TCP connections accepted, before any limit.'),
    g(
      'open',
      'wanfed_server_open_connections',
      'Connections open: waiting for dispatch plus dispatched.',
    ),
    g(
      'pending',
      'wanfed_server_pending_connections',
      'Connections waiting for their first byte or handshake.',
    ),
    c(
      'byAlpn.*',
      'wanfed_server_tls_connections_total',
      'TLS connections dispatched, by ALPN protocol.',
      ['alpn'],
    ),
    c(
      'byTypeByte.*',
      'wanfed_server_legacy_connections_total',
      'Legacy connections dispatched, by first (type) byte.',
      ['type_byte'],
    ),
    c(
      'rejected.*',
      'wanfed_server_rejected_total',
      'Connections refused before a handler, by reason.',
      ['reason'],
    ),
  ],
  gateway: [
    {
      ...g('status', 'wanfed_gateway_listening', '1 while the gateway listens, else 0.'),
      value: listening,
    },
    c('accepted', 'wanfed_gateway_accepted_total', 'Client connections accepted.'),
    g('open', 'wanfed_gateway_open_connections', 'Client connections open, spliced or not.'),
    g(
      'pending',
      'wanfed_gateway_pending_connections',
      'Connections reading their ClientHello or connecting upstream.',
    ),
    ...traffic('routes.*', 'wanfed_gateway_route', ['kind'], 'route kind'),
    ...traffic('targets.*', 'wanfed_gateway_target', ['target'], 'target'),
    c(
      'rejected.*',
      'wanfed_gateway_rejected_total',
      'Connections closed before they were spliced, by reason.',
      ['reason'],
    ),
    c(
      'idleTimeouts',
      'wanfed_gateway_idle_timeouts_total',
      'Spliced connections closed by the idle timeout.',
    ),
    c(
      'writeStalls',
      'wanfed_gateway_write_stalls_total',
      'Spliced connections closed because their writes towards one side stopped.',
    ),
  ],
  locator: [
    c('reads', 'wanfed_locator_reads_total', 'Successful reads of the federation-state store.'),
    c(
      'readErrors',
      'wanfed_locator_read_errors_total',
      'Failed reads of the federation-state store.',
    ),
    g('lastIndex', 'wanfed_locator_last_index', 'Store index of the last read.'),
    {
      ...g(
        'populated',
        'wanfed_locator_populated',
        '1 once the store was read successfully, else 0.',
      ),
      value: flag,
    },
    {
      ...g(
        'dialPrimaryThroughLocalGateway',
        'wanfed_locator_dial_primary_through_local_gateway',
        '1 while the primary is dialled through local gateways, else 0.',
      ),
      value: flag,
    },
    g(
      'consecutiveReplicationFailures',
      'wanfed_locator_consecutive_replication_failures',
      'Federation-state replication rounds failed in a row.',
    ),
    g(
      'consecutiveReplicationSuccesses',
      'wanfed_locator_consecutive_replication_successes',
      'Federation-state replication rounds succeeded in a row.',
    ),
    {
      ...g(
        'useReplicationSignal',
        'wanfed_locator_use_replication_signal',
        "1 while the route to the primary follows replication's health, else 0.",
      ),
      value: flag,
    },
    {
      ...g(
        'primaryGateways',
        'wanfed_locator_primary_gateways',
        'Usable gateways of the primary DC.',
      ),
      value: count,
    },
    {
      ...g('localGateways', 'wanfed_locator_local_gateways', 'Usable gateways of this DC.'),
      value: count,
    },
    {
      ...g(
        'fallbackAddresses',
        'wanfed_locator_fallback_addresses',
        'Fallback addresses of the primary gateways.',
      ),
      value: count,
    },
  ],
  store: [
    g('index', 'wanfed_federation_state_index', 'Table index of the federation-state store.'),
    g('states', 'wanfed_federation_states', 'Federation states held.'),
    g('waiting', 'wanfed_federation_state_blocking_queries', 'Blocking reads waiting now.'),
    c(
      'writes',
      'wanfed_federation_state_file_writes_total',
      'Successful writes of the store file.',
    ),
    c(
      'writeErrors',
      'wanfed_federation_state_file_write_errors_total',
      'Failed writes of the store file.',
    ),
  ],
}

/** Every leaf at `path` (with `*` over map keys), with the keys the stars matched. */
export function select(root: unknown, path: string): { keys: string[]; leaf: unknown }[] {
  let at: { keys: string[]; value: unknown }[] = [{ keys: [], value: root }]
  for (const seg of path.split('.')) {
    const next: { keys: string[]; value: unknown }[] = []
    for (const { keys, value } of at) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue
      if (seg === '*') {
        for (const [k, v] of Object.entries(value)) next.push({ keys: [...keys, k], value: v })
      } else if (Object.hasOwn(value, seg)) {
        next.push({ keys, value: (value as Record<string, unknown>)[seg] })
      }
    }
    at = next
  }
  return at.map(({ keys, value }) => ({ keys, leaf: value }))
}

/** The families of one component's stats, each sample labelled with the component's name. */
export function familiesOf(kind: ComponentKind, name: string, stats: unknown): MetricFamily[] {
  const families: MetricFamily[] = []
  for (const spec of METRIC_SPECS[kind]) {
    const samples: MetricFamily['samples'] = []
    for (const { keys, leaf } of select(stats, spec.path)) {
      const value = spec.value === undefined ? leaf : spec.value(leaf)
      if (typeof value !== 'number') continue
      const labels: Record<string, string> = { [KIND_LABEL[kind]]: name }
      spec.labels?.forEach((label, i) => {
        labels[label] = keys[i] as string
      })
      samples.push({ labels, value })
    }
    families.push({ name: spec.name, type: spec.type, help: spec.help, samples })
  }
  return families
}
