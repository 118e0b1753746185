/**
 * The transport conformance suite, for anyone who writes a `Transport`: the contract wanfed's own
 * transports are held to, as a vitest suite (vitest is an optional peer dependency; only this
 * entry point needs it), plus the handle-leak check it uses.
 *
 * @example
 * ```ts
 * // my-transport.test.ts
 * import { transportConformance } from 'wanfed/testing'
 * transportConformance({ name: 'MyTransport', setup: async () => makePair() })
 * ```
 *
 * @packageDocumentation
 */

export { transportConformance } from './conformance.ts'
export { expectNoLeakedHandles, handleCounts } from './handles.ts'
export type { TransportHarness, TransportPair, Unresponsive } from './harness.ts'
