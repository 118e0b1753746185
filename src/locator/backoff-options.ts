/** How long a failed gateway is avoided: exponential backoff with jitter. */
export interface BackoffOptions {
  /** First wait after a failure, ms. Default 1,000. */
  initialMs?: number
  /** Longest wait, ms. Default 60,000. */
  maxMs?: number
  /** Growth per consecutive failure. Default 2. */
  multiplier?: number
  /** Random spread, as a fraction of the wait (0..1). Default 0.2 (±20 %). */
  jitter?: number
}
