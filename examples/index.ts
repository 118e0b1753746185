/** Every runnable example: name, what it shows, and how to load it. */
export interface Example {
  description: string
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
}

/** What `npm start` runs. */
export const MAIN_EXAMPLE = 'federation'
