import type { Duplex } from 'node:stream'
import { GossipDecodeError, SocketError } from '../errors.ts'
import { acceptLabel, splitLabel } from './wire/label.ts'
import {
  MAX_STREAM_MESSAGE_BYTES,
  parseStreamMessage,
  type StreamDecodeOptions,
  type StreamMessage,
} from './wire/stream.ts'

/** The stream ended before its first byte (memberlist's `io.EOF`: nothing to answer). */
export const EMPTY_STREAM = Symbol('empty stream')

/**
 * Reads memberlist messages off a stream as bytes arrive, holding at most one message's worth
 * (bounded by {@link MAX_STREAM_MESSAGE_BYTES}): anything larger is refused as it arrives.
 */
export class StreamReader {
  #buf: Buffer = Buffer.alloc(0)
  #chunks: Buffer[] = []
  #chunkBytes = 0
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined
  readonly #stream: Duplex
  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk)
    this.#chunkBytes += chunk.length
    if (this.#buf.length + this.#chunkBytes > MAX_STREAM_MESSAGE_BYTES + 512) {
      this.#error = new GossipDecodeError('stream message exceeds the limit', {
        reason: 'oversized',
      })
      this.#stream.destroy()
    }
    this.#notify()
  }
  readonly #onEnd = (): void => {
    this.#ended = true
    this.#notify()
  }
  readonly #onError = (err: Error): void => {
    this.#error ??= new SocketError(`stream failed: ${err.message}`, { cause: err })
    this.#ended = true
    this.#notify()
  }

  constructor(stream: Duplex) {
    this.#stream = stream
    stream.on('data', this.#onData)
    stream.on('end', this.#onEnd)
    stream.on('close', this.#onEnd)
    stream.on('error', this.#onError)
  }

  #notify(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  #gather(): Buffer {
    if (this.#chunks.length > 0) {
      this.#buf = Buffer.concat([this.#buf, ...this.#chunks])
      this.#chunks = []
      this.#chunkBytes = 0
    }
    return this.#buf
  }

  /** Waits until at least `n` bytes are held, or the stream ended. */
  async #fill(n: number): Promise<void> {
    while (this.#buf.length + this.#chunkBytes < n && !this.#ended && this.#error === undefined) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve
      })
    }
    if (this.#error !== undefined) throw this.#error
  }

  /** The connection label, when the peer sent one (inbound streams only), checked against ours. */
  async readLabel(
    label: string,
    skipInboundLabelCheck: boolean,
  ): Promise<string | typeof EMPTY_STREAM> {
    for (;;) {
      const buf = this.#gather()
      if (buf.length === 0 && this.#ended) return EMPTY_STREAM
      if (buf.length > 0) {
        const split = splitLabel(buf)
        if (split.status === 'ok') {
          acceptLabel(split.label, label, skipInboundLabelCheck)
          this.#buf = split.rest
          return skipInboundLabelCheck ? label : split.label
        }
      }
      if (this.#ended)
        throw new GossipDecodeError('cannot decode label; stream has been truncated', {
          reason: 'truncated',
        })
      await this.#fill(buf.length + 1)
    }
  }

  /** The next message, or {@link EMPTY_STREAM} when the stream ended cleanly before it. */
  async readMessage(options: StreamDecodeOptions): Promise<StreamMessage | typeof EMPTY_STREAM> {
    for (;;) {
      const buf = this.#gather()
      if (buf.length === 0 && this.#ended) {
        if (this.#error !== undefined) throw this.#error
        return EMPTY_STREAM
      }
      const parsed = parseStreamMessage(buf, options)
      if (parsed.status === 'ok') {
        this.#buf = buf.subarray(parsed.end)
        return parsed.message
      }
      if (this.#ended) {
        if (this.#error !== undefined) throw this.#error
        throw new GossipDecodeError('stream ended inside a message', { reason: 'truncated' })
      }
      await this.#fill(parsed.need)
    }
  }

  /** Stops listening; the stream is the caller's to close. */
  detach(): void {
    this.#stream.off('data', this.#onData)
    this.#stream.off('end', this.#onEnd)
    this.#stream.off('close', this.#onEnd)
    this.#stream.off('error', this.#onError)
    this.#notify()
  }
}

/** Writes and resolves once the bytes were handed to the stream. */
export function writeStream(stream: Duplex, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(buf, (err) => {
      if (err) reject(new SocketError(`stream write failed: ${err.message}`, { cause: err }))
      else resolve()
    })
  })
}
