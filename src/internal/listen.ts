import type { AddressInfo, Server } from 'node:net'
import type { ListenerStatus, ListenOptions } from '../alpn/listen-options.ts'
import { ClosedError, InvalidArgumentError, SocketError } from '../errors.ts'
import { abortReason } from './abort.ts'

export type { ListenerStatus, ListenOptions } from '../alpn/listen-options.ts'

/**
 * The listening half of a server's lifecycle, shared by `AlpnServer` and `MeshGateway`: one
 * `listen()` from `idle`, a bind failure turning into a local `WANFED_ERR_SOCKET` that names the
 * address, the listen signal closing the owner later, and the status the owner reports.
 */
export class ListenerLifecycle {
  status: ListenerStatus = 'idle'
  readonly #server: Server
  readonly #what: string
  readonly #onAbort: () => void
  #signal: AbortSignal | undefined

  /**
   * @param close what aborting the listen signal does (the owner's `close()`)
   * @param onError where the listener's errors go once it listens (a bind failure rejects
   *   `listen()` instead: operation failures are never background errors)
   */
  constructor(server: Server, what: string, close: () => void, onError: (err: Error) => void) {
    this.#server = server
    this.#what = what
    this.#onAbort = close
    this.#onError = onError
  }

  readonly #onError: (err: Error) => void

  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    if (this.status !== 'idle') {
      return Promise.reject(
        this.status === 'listening'
          ? new InvalidArgumentError(`${this.#what} is already listening`)
          : new ClosedError(`${this.#what} is closed`),
      )
    }
    const { signal } = options
    if (signal?.aborted) return Promise.reject(abortReason(signal, `${this.#what} listen`))
    this.status = 'listening'
    const host = options.host ?? '127.0.0.1'
    const port = options.port ?? 0
    return new Promise((resolve, reject) => {
      const server = this.#server
      const onError = (err: Error) => {
        server.off('listening', onListening)
        this.status = 'closed'
        reject(
          new SocketError(`${this.#what} cannot listen on ${host}:${port}: ${err.message}`, {
            remote: false,
            cause: err,
          }),
        )
      }
      const onListening = () => {
        server.off('error', onError)
        server.on('error', this.#onError)
        if (signal !== undefined && this.status === 'listening') {
          this.#signal = signal
          signal.addEventListener('abort', this.#onAbort, { once: true })
        }
        resolve(server.address() as AddressInfo)
      }
      server.once('error', onError)
      server.once('listening', onListening)
      server.listen({ host, port })
    })
  }

  /** Enters `closing`; returns whether it was listening (so the listener must be closed). */
  beginClose(): boolean {
    const wasListening = this.status === 'listening'
    this.status = 'closing'
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#signal = undefined
    return wasListening
  }

  /** The bound address, once listening. */
  address(): AddressInfo | undefined {
    const a = this.#server.address()
    return a !== null && typeof a === 'object' ? a : undefined
  }
}
