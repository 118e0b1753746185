import { AbortError, TimeoutError } from '../errors.ts'

/**
 * Turns a signal's reason into our error: `AbortSignal.timeout()` reasons (a `TimeoutError`
 * DOMException) become {@link TimeoutError}; anything else becomes {@link AbortError}.
 */
export function abortReason(signal: AbortSignal, what: string): Error {
  const reason: unknown = signal.reason
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new TimeoutError(`${what}: timed out`, { cause: reason })
  }
  return new AbortError(`${what}: aborted`, { cause: reason })
}
