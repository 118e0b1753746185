import { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { SocketError, TlsError, WanfedError } from '../errors.ts'

/**
 * Why this exists: Node's TLSSocket emits the same `'end'` for a TLS close_notify and for a bare
 * TCP FIN (its TLSWrap turns both into one EOF; checked on Node 20 and in `tls_wrap.cc`), so a
 * stream whose gateway died (the kernel closes the dead process's socket with a FIN) reads as a
 * peer that closed on purpose. Go's `tls.Conn.Close` and `CloseWrite` and Node's `end()` all send
 * close_notify first, so a peer closing normally is still told apart, once we see the TCP EOF
 * ourselves: the TLS socket is layered over a plain `net.Socket` handed to `tls.connect` before it
 * connects, which makes Node feed the TLS engine from JavaScript (its JSStreamSocket) instead of
 * reading the TCP handle in C++. A TLS EOF that arrives after the TCP EOF was seen had no
 * close_notify before it.
 *
 * That path costs a JavaScript hop per chunk each way, so only stream dials (short-lived, and the
 * ones an application reads to the end) use it; pooled packet connections are written, not read.
 */
export interface CleanEndWatch {
  /** The plain TCP socket under the TLS socket: connect it, and read its `bytesRead`. */
  readonly raw: Socket
  /**
   * From now on (the dial has succeeded), an end without close_notify destroys the TLS socket
   * with {@link SocketError} (`remote: true`), and socket errors surface as wanfed errors.
   */
  arm(socket: TLSSocket, what: string): void
}

/** A TCP socket to give `tls.connect({ socket })`, watched for an end without close_notify. */
export function watchCleanEnd(): CleanEndWatch {
  // allowHalfOpen: the TLS layer decides when to end our side, as with tls.connect's own socket.
  const raw = new Socket({ allowHalfOpen: true })
  let tcpEnded = false
  // Registered before tls.connect wraps the socket, so it runs before the wrapper passes the EOF on.
  raw.once('end', () => {
    tcpEnded = true
  })
  return {
    raw,
    arm(socket, what) {
      const push = socket.push
      let checked = false
      socket.push = function (chunk: unknown, encoding?: BufferEncoding): boolean {
        if (chunk !== null || checked) return push.call(this, chunk, encoding)
        checked = true
        if (!tcpEnded) return push.call(this, chunk, encoding)
        // Not from inside the read callback that carries the EOF.
        process.nextTick(() =>
          socket.destroy(
            new SocketError(
              `${what}: the connection ended without a TLS close_notify (the gateway or the far ` +
                'server went away mid-stream)',
            ),
          ),
        )
        return false
      }
      wrapErrors(socket, what)
    },
  }
}

/**
 * Errors a stream emits from the network (a reset, a broken pipe, a TLS record that fails) become
 * {@link SocketError} / {@link TlsError}, remote, with Node's error as `cause`. An application's
 * own `destroy(err)` with an error of its own (no errno or OpenSSL code) is left as it is.
 */
function wrapErrors(socket: TLSSocket, what: string): void {
  // At emit, not in _destroy: an error of the TCP socket under the TLS one is re-emitted by the
  // TLS layer directly, without going through destroy.
  const emit = socket.emit as (
    this: TLSSocket,
    event: string | symbol,
    ...args: unknown[]
  ) => boolean
  socket.emit = function (this: TLSSocket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && args[0] instanceof Error) args[0] = asWanfedError(args[0], what)
    return emit.call(this, event, ...args)
  } as typeof socket.emit
}

function asWanfedError(err: Error, what: string): Error {
  if (err instanceof WanfedError) return err
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (code.startsWith('ERR_SSL_')) {
    return new TlsError(`${what}: TLS failed mid-stream: ${err.message}`, { cause: err })
  }
  if ((err as NodeJS.ErrnoException).syscall !== undefined || /^E[A-Z]+$/.test(code)) {
    return new SocketError(`${what}: ${err.message}`, { cause: err })
  }
  return err
}
