/** Every runnable example: name, what it shows, and how to load it. */
export interface Example {
  description: string
  /**
   * The test file that runs this example, for one too slow to run twice; examples.test.ts then
   * leaves it to that file (which must check the same: 'closed cleanly', nothing leaked).
   */
  testedBy?: string
  /** Whether it takes command-line options (after its name); others refuse any. */
  takesOptions?: boolean
  load(): Promise<{
    main(
      log?: (line: string) => void,
      argv?: readonly string[],
      signal?: AbortSignal,
    ): Promise<void>
  }>
}

export const examples: Record<string, Example> = {
  federation: {
    description:
      'The npm start demo: 3 DCs of 3 memberlist nodes on loopback, federation states, convergence, a node and a gateway killed, failover, proof from counters',
    takesOptions: true,
    load: () => import('./federation/main.ts'),
  },
  'cross-dc': {
    description:
      'Two DCs on loopback, a mesh gateway each: cross-DC packets over pooled mutual TLS and a push/pull stream, two hops',
    load: () => import('./cross-dc.ts'),
  },
  'dns-locator': {
    description:
      'A custom GatewayLocator that finds gateways through DNS SRV records (a small DNS server on 127.0.0.1 UDP), following a gateway that moved',
    load: () => import('./dns-locator/run.ts'),
  },
  'proxy-gateways': {
    description:
      'HAProxy and nginx as a mesh gateway, from configs wanfed renders: a packet and a stream through our MeshGateway then theirs (each skipped, saying why, when not installed)',
    load: () => import('./proxy-gateways/run.ts'),
    testedBy: 'proxy-gateways/proxy-gateways.test.ts',
  },
  'serf-interop': {
    description:
      'A wanfed/memberlist node joins a real `serf agent`: members and tags on both sides, a Serf user event received (skipped, saying why, without serf)',
    load: () => import('./serf-interop/run.ts'),
    testedBy: 'serf-interop/serf-interop.test.ts',
  },
  'two-process': {
    description:
      'Three DCs as deployed: `wanfed gateway` and node processes configured by files, certificates from `wanfed cert create`, federation states replicated across processes, a WAN gossip pool',
    load: () => import('./two-process/run.ts'),
    testedBy: 'two-process/two-process.test.ts',
  },
}

/** What `npm start` runs. */
export const MAIN_EXAMPLE = 'federation'
