/** Every runnable example: name, what it shows, and how to load it. */
export interface Example {
  description: string
  load(): Promise<{ main(log?: (line: string) => void): Promise<void> }>
}

export const examples: Record<string, Example> = {
  'cross-dc': {
    description:
      'Two DCs on loopback, a mesh gateway each: cross-DC packets over pooled mutual TLS and a push/pull stream, two hops',
    load: () => import('./cross-dc.ts'),
  },
}

/** What `npm start` runs. */
export const MAIN_EXAMPLE = 'cross-dc'
