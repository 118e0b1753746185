/**
 * A bounded cache of TLS sessions keyed by server name, so repeated stream dials to the same node
 * resume instead of running a full handshake. Least recently used entries go first.
 */
export class TlsSessionCache {
  readonly #max: number
  readonly #sessions = new Map<string, Buffer>()

  /** @param maxEntries how many server names to remember (default 256). */
  constructor(maxEntries = 256) {
    this.#max = Math.max(0, Math.floor(maxEntries))
  }

  get(servername: string): Buffer | undefined {
    const session = this.#sessions.get(servername)
    if (session !== undefined) {
      // Re-insert to mark as most recently used; Map keeps insertion order.
      this.#sessions.delete(servername)
      this.#sessions.set(servername, session)
    }
    return session
  }

  set(servername: string, session: Buffer): void {
    if (this.#max === 0) return
    this.#sessions.delete(servername)
    this.#sessions.set(servername, session)
    while (this.#sessions.size > this.#max) {
      const oldest = this.#sessions.keys().next().value
      if (oldest === undefined) break
      this.#sessions.delete(oldest)
    }
  }

  delete(servername: string): void {
    this.#sessions.delete(servername)
  }

  /** Forgets every session (after a certificate rotation, say). */
  clear(): void {
    this.#sessions.clear()
  }

  get size(): number {
    return this.#sessions.size
  }
}
