import { Duplex } from 'node:stream'
import { SocketError } from '../errors.ts'
import { type HostPort, parseHostPort } from '../internal/address.ts'

/**
 * One end of an in-memory connection, the analogue of one side of Go's `net.Pipe` with TCP's close
 * semantics: `end()` delivers EOF to the other side, which can still write back (half-close);
 * `destroy()` tears down both sides, like a reset. Bytes are copied, so a writer may reuse its
 * buffer. Back-pressure is end to end: a write completes once the other side's buffer has room.
 *
 * `localAddress`/`remoteAddress` and the ports mirror `net.Socket`'s, for code that logs them.
 * `node:stream`'s `duplexPair()` is not used: it is missing before Node 20.20 and on 20.x neither
 * propagates destroy nor finishes `end()` until the other side has read the EOF.
 */
export class MemoryStream extends Duplex {
  readonly localAddress: string
  readonly localPort: number
  readonly remoteAddress: string
  readonly remotePort: number
  #peer: MemoryStream | undefined
  /** Our write callback, held until the other side's consumer asks for more. */
  #blocked: ((err?: Error | null) => void) | undefined

  /** @internal use {@link memoryStreamPair} */
  constructor(local: HostPort, remote: HostPort) {
    super({ allowHalfOpen: true })
    this.localAddress = local.host
    this.localPort = local.port
    this.remoteAddress = remote.host
    this.remotePort = remote.port
  }

  /** @internal */
  static pair(a: string, b: string): [MemoryStream, MemoryStream] {
    const ha = parseHostPort(a)
    const hb = parseHostPort(b)
    const left = new MemoryStream(ha, hb)
    const right = new MemoryStream(hb, ha)
    left.#peer = right
    right.#peer = left
    return [left, right]
  }

  override _read(): void {
    const peer = this.#peer
    if (peer === undefined) return
    const cb = peer.#blocked
    peer.#blocked = undefined
    cb?.()
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (err?: Error | null) => void,
  ): void {
    const peer = this.#peer
    if (peer === undefined || peer.destroyed) {
      callback(new SocketError('memory stream: the other end is closed'))
      return
    }
    if (peer.push(Buffer.from(chunk))) callback()
    else this.#blocked = callback
  }

  override _final(callback: (err?: Error | null) => void): void {
    const peer = this.#peer
    if (peer !== undefined && !peer.destroyed) peer.push(null)
    callback()
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const peer = this.#peer
    this.#peer = undefined
    this.#blocked = undefined
    // Both directions finished cleanly (autoDestroy after a full close): the other side still holds
    // what it has not read yet and ends by itself. Anything else is a reset for both.
    const clean = err === null && this.readableEnded && this.writableFinished
    if (peer !== undefined && !clean && !peer.destroyed) peer.destroy()
    callback(err)
  }
}

/** Two connected in-memory streams: `[at a, at b]`. */
export function memoryStreamPair(a: string, b: string): [MemoryStream, MemoryStream] {
  return MemoryStream.pair(a, b)
}
