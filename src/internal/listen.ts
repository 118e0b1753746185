import type { AddressInfo, Server } from 'node:net'
import { WanfedError } from '../errors.ts'

/**
 * Binds a listener, resolving with its address; a bind failure (EADDRINUSE, EACCES) rejects as a
 * local `WANFED_ERR_SOCKET` that names `what` and keeps Node's error as `cause`. Listeners it adds
 * are removed on both paths.
 */
export function bindListener(
  server: Server,
  what: string,
  host: string,
  port: number,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening)
      reject(
        new WanfedError(
          'WANFED_ERR_SOCKET',
          `${what} cannot listen on ${host}:${port}: ${err.message}`,
          { cause: err },
        ),
      )
    }
    const onListening = () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port })
  })
}
