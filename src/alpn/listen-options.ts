/** Where a server stands: `listen()` once from `idle`; `close()` moves it through `closing`. */
export type ListenerStatus = 'idle' | 'listening' | 'closing' | 'closed'

/** Where `AlpnServer.listen()` and `MeshGateway.listen()` bind. */
export interface ListenOptions {
  /** Address to bind. Default `'127.0.0.1'`: loopback, so nothing is exposed by accident. */
  host?: string
  /** Port to bind; 0 picks a free one (read it from the returned address). Default 0. */
  port?: number
  /** Aborting it later closes the owner, as a `net.Server` given one closes. */
  signal?: AbortSignal
}
