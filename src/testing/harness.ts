import type { Address, Transport } from '../transport/types.ts'

/** Two transports that can reach each other, constructed but not yet listening. */
export interface TransportPair {
  a: Transport
  b: Transport
  /**
   * How the other transport addresses `which`. Called only after both listen, so it can use the
   * ports they bound.
   */
  addressOf(which: 'a' | 'b'): Address
}

/** A destination whose stream dials never complete (for timeout and abort tests). */
export interface Unresponsive {
  address: Address
  close(): Promise<void>
}

/**
 * What the conformance suite needs from the implementation under test. Optional hooks enable the
 * cases that need special destinations; a missing hook is reported as a skipped case, by name.
 */
export interface TransportHarness {
  /** Shown in the suite's name. */
  name: string
  /** Makes a fresh pair for each test. Must do no I/O that `listen()` should do. */
  setup(): Promise<TransportPair>
  /** Releases whatever `setup` made beyond the two transports (which the suite closes itself). */
  teardown?(pair: TransportPair): Promise<void>
  /** A destination the transport refuses locally (an unknown node, no route): `remote` must be false. */
  unknownDestination?(pair: TransportPair): Address
  /** A destination where nothing listens: a remote failure (`remote` true). */
  refusedDestination?(pair: TransportPair): Promise<Address>
  /** A destination that accepts and never completes a stream dial. */
  unresponsiveDestination?(pair: TransportPair): Promise<Unresponsive>
  /** Per-test time budget in ms for this implementation. Default 20,000. */
  timeoutMs?: number
}
