/** Consul's `localFederationStateReplicatorFailuresBeforeDialingDirectly`. */
export const FAILURES_BEFORE_DIALING_DIRECTLY = 3

export interface ReplicationSignalState {
  /** False on a node that does not replicate (Consul's follower): it always uses local gateways. */
  useReplicationSignal: boolean
  consecutiveSuccesses: number
  consecutiveFailures: number
  /** Order of the last success and failure (0: none); comparable with each other only. */
  lastSuccess: number
  lastFailure: number
}

/**
 * Whether a secondary dials the primary through its own (local) gateways, from how replication
 * from the primary has been going (Consul's `DialPrimaryThroughLocalGateway`, current). Go compares
 * nanosecond timestamps; a sequence number keeps "success strictly after failure" well defined at
 * any clock resolution.
 */
export class ReplicationSignal {
  #seq = 0
  #lastSuccess = 0
  #lastFailure = 0
  #successes = 0
  #failures = 0
  #use = false

  /**
   * Consul's `SetLastFederationStateReplicationError`: a success (no error) resets the failure
   * count and, when it comes from replication, switches the signal on; a failure resets the
   * success count.
   */
  record(err: Error | undefined, fromReplication: boolean): void {
    const at = ++this.#seq
    if (err === undefined) {
      this.#lastSuccess = at
      this.#successes++
      this.#failures = 0
      if (fromReplication) this.#use = true
    } else {
      this.#lastFailure = at
      this.#failures++
      this.#successes = 0
    }
  }

  setUseReplicationSignal(use: boolean): void {
    this.#use = use
  }

  /** The decision for a secondary (a primary never dials itself through anything). */
  dialPrimaryThroughLocalGateway(): boolean {
    if (!this.#use) return true
    if (this.#lastSuccess === 0 && this.#lastFailure === 0) return false
    if (this.#lastSuccess > this.#lastFailure) return true
    return this.#failures < FAILURES_BEFORE_DIALING_DIRECTLY
  }

  state(): ReplicationSignalState {
    return {
      useReplicationSignal: this.#use,
      consecutiveSuccesses: this.#successes,
      consecutiveFailures: this.#failures,
      lastSuccess: this.#lastSuccess,
      lastFailure: this.#lastFailure,
    }
  }
}
