import type { TransportIterator } from './types.ts'

/** Default queue bound of `packets()` and `streams()`. memberlist's handoff queues hold 1024. */
export const DEFAULT_HIGH_WATER_MARK = 1024

/**
 * An async iterator over pushed items with a bounded queue. When the queue is full the newest item
 * is refused (the producer counts and disposes of it), the way a full UDP receive buffer drops.
 * @internal
 */
export class BoundedIterator<T> implements TransportIterator<T> {
  readonly #queue: T[] = []
  #head = 0
  /** Callers of next() waiting for an item, oldest first (overlapping next() calls are allowed). */
  readonly #waiters: ((result: IteratorResult<T>) => void)[] = []
  #ended = false
  #unsubscribed = false
  #dropped = 0
  readonly #highWaterMark: number
  readonly #unsubscribe: () => void
  readonly #dispose: (item: T) => void

  constructor(highWaterMark: number, unsubscribe: () => void, dispose: (item: T) => void) {
    this.#highWaterMark = highWaterMark
    this.#unsubscribe = unsubscribe
    this.#dispose = dispose
  }

  get pending(): number {
    return this.#queue.length - this.#head
  }

  get dropped(): number {
    return this.#dropped
  }

  /** Offers an item; false when it was refused (iterator ended or queue full). */
  push(item: T): boolean {
    if (this.#ended) return false
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) {
      waiter({ value: item, done: false })
      return true
    }
    if (this.pending >= this.#highWaterMark) {
      this.#dropped++
      return false
    }
    this.#queue.push(item)
    return true
  }

  /** No more items will come; queued ones are still handed out. */
  end(): void {
    this.#ended = true
    for (const waiter of this.#waiters.splice(0)) waiter({ value: undefined, done: true })
    this.#stopListening()
  }

  next(): Promise<IteratorResult<T>> {
    if (this.pending > 0) {
      const value = this.#queue[this.#head] as T
      this.#queue[this.#head] = undefined as T
      this.#head++
      // Compact now and then so a long-lived queue does not grow without bound.
      if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue.splice(0, this.#head)
        this.#head = 0
      }
      return Promise.resolve({ value, done: false })
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve) => {
      this.#waiters.push(resolve)
    })
  }

  /** The consumer stopped: queued items are disposed of (streams destroyed). */
  return(): Promise<IteratorResult<T>> {
    for (let i = this.#head; i < this.#queue.length; i++) this.#dispose(this.#queue[i] as T)
    this.#queue.length = 0
    this.#head = 0
    this.end()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  #stopListening(): void {
    if (this.#unsubscribed) return
    this.#unsubscribed = true
    this.#unsubscribe()
  }
}
