import type { Socket } from 'node:net'
import type { Clock } from './clock.ts'

/**
 * What each awaited event means: the value to resolve with, or an Error to reject with. A handler
 * runs inside the event (synchronously), so it can act on the socket before anything else reads it.
 */
export type SocketEventOutcomes<T> = Readonly<Record<string, (...args: never[]) => T | Error>>

/**
 * Waits for the first of `outcomes`' events on `socket`, or `ms` on `clock` (then `onTimeout()`'s
 * error). On every path, every listener it added and its timer are removed before it settles;
 * the socket itself is the caller's.
 */
export function waitForSocketEvent<T>(
  socket: Socket,
  outcomes: SocketEventOutcomes<T>,
  clock: Clock,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listeners = new Map<string, (...args: unknown[]) => void>()
    const done = (result: T | Error) => {
      clock.clearTimeout(timer)
      for (const [event, listener] of listeners) socket.off(event, listener)
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const timer = clock.setTimeout(() => done(onTimeout()), ms)
    for (const [event, outcome] of Object.entries(outcomes)) {
      const listener = (...args: unknown[]) =>
        done((outcome as (...a: unknown[]) => T | Error)(...args))
      listeners.set(event, listener)
      socket.once(event, listener)
    }
  })
}
