import { credentialsId, type TlsCredentials } from './tls-options.ts'

/**
 * A bounded cache of TLS sessions, so repeated stream dials to the same node resume instead of
 * running a full handshake. Least recently used entries go first.
 *
 * Sessions are keyed by server name AND by the credentials that verified them (CA, certificate,
 * key, versions, ciphers): a resumed session skips certificate verification, so a session made by
 * a dialer trusting one CA must never be resumed by a dialer trusting another, or presented with
 * another client certificate. One cache may be shared by transports with different credentials;
 * each only ever sees its own sessions.
 */
export class TlsSessionCache {
  readonly #max: number
  readonly #sessions = new Map<string, Buffer>()

  /** @param maxEntries how many sessions to remember (default 256). */
  constructor(maxEntries = 256) {
    this.#max = Math.max(0, Math.floor(maxEntries))
  }

  get(servername: string, credentials: TlsCredentials): Buffer | undefined {
    const key = keyOf(servername, credentials)
    const session = this.#sessions.get(key)
    if (session !== undefined) {
      // Re-insert to mark as most recently used; Map keeps insertion order.
      this.#sessions.delete(key)
      this.#sessions.set(key, session)
    }
    return session
  }

  set(servername: string, credentials: TlsCredentials, session: Buffer): void {
    if (this.#max === 0) return
    const key = keyOf(servername, credentials)
    this.#sessions.delete(key)
    this.#sessions.set(key, session)
    while (this.#sessions.size > this.#max) {
      const oldest = this.#sessions.keys().next().value
      if (oldest === undefined) break
      this.#sessions.delete(oldest)
    }
  }

  delete(servername: string, credentials: TlsCredentials): void {
    this.#sessions.delete(keyOf(servername, credentials))
  }

  /** Forgets every session (after a certificate rotation, say). */
  clear(): void {
    this.#sessions.clear()
  }

  get size(): number {
    return this.#sessions.size
  }
}

function keyOf(servername: string, credentials: TlsCredentials): string {
  // The digest has no NUL, so the pair cannot collide with another.
  return `${credentialsId(credentials)}\0${servername}`
}
