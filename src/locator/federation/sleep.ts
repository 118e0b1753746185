import { abortReason } from '../../internal/abort.ts'
import type { Clock, TimerHandle } from '../../internal/clock.ts'

/** Waits `ms` on `clock`; rejects with our AbortError when `signal` fires. Timer and listener released either way. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal, 'wait'))
  return new Promise<void>((resolve, reject) => {
    let timer: TimerHandle | undefined
    const onAbort = () => {
      if (timer !== undefined) clock.clearTimeout(timer)
      reject(abortReason(signal as AbortSignal, 'wait'))
    }
    timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
