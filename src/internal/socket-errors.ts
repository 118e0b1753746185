import { SocketError } from '../errors.ts'

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA'])
const BIND_CODES = new Set(['EADDRNOTAVAIL', 'EADDRINUSE', 'EINVAL', 'EACCES', 'EAFNOSUPPORT'])

/**
 * A failure before TCP was up, as a {@link SocketError} with the right `remote` flag: the far
 * side's (refused, reset, unreachable) unless it happened on our side: our resolver could not name
 * `peer` (nothing was said to it), or the local address could not be bound. `cause` keeps Node's
 * error and its `code`.
 */
export function connectError(err: Error, what: string, peer: string): SocketError {
  const e = err as NodeJS.ErrnoException
  const code = e.code ?? ''
  if (e.syscall === 'getaddrinfo' || DNS_CODES.has(code)) {
    return new SocketError(`${what}: cannot resolve ${peer}: ${err.message}`, {
      cause: err,
      remote: false,
    })
  }
  if (e.syscall === 'bind' || BIND_CODES.has(code)) {
    return new SocketError(`${what}: cannot bind the local address: ${err.message}`, {
      cause: err,
      remote: false,
    })
  }
  return new SocketError(`${what}: connect failed: ${err.message}`, { cause: err })
}
