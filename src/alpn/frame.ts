/**
 * The packet frame codec of ALPN `consul/wan-gossip/packet`: each gossip packet travels as a
 * 4-byte unsigned big-endian length followed by exactly that many payload bytes. Nothing else is
 * ever sent on a packet connection, in either direction.
 *
 * Consul's receiver (`handleALPN_WANGossipPacketStream`) allows lengths up to and including
 * 4194304, rejects longer ones, and rejects zero only indirectly (memberlist's "packet too short").
 * It delivers a frame cut short by EOF as if it were whole; {@link FrameDecoder.end} drops it
 * instead and reports {@link FrameTruncatedError}.
 *
 * @packageDocumentation
 */

import {
  FrameEmptyError,
  FrameTooLargeError,
  FrameTruncatedError,
  InvalidArgumentError,
} from '../errors.ts'
import { optionalNumber } from '../internal/validate.ts'

/**
 * Largest payload a frame may carry, in bytes (Consul's `GossipPacketMaxByteSize`, 4 MiB).
 * Exactly this size is allowed.
 */
export const MAX_PACKET_SIZE = 4194304

/** Size of the length prefix, in bytes. */
export const FRAME_HEADER_SIZE = 4

/** First allocation for a payload that spans chunks: gossip packets fit whole. */
const INITIAL_BODY_CAPACITY = 64 * 1024

/** Called by {@link FrameDecoder.write} once per complete frame, in order. */
export type FrameHandler = (payload: Buffer) => void

/** Options for {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest payload accepted, in bytes: an integer from 1 to {@link MAX_PACKET_SIZE}. Default
   * {@link MAX_PACKET_SIZE}. It can only be lowered: a peer speaking Consul's protocol never sends
   * more, and a higher limit would let a hostile peer make us allocate more per connection.
   */
  maxFrameSize?: number
}

function checkLength(length: number, what: string): void {
  if (length === 0) {
    throw new FrameEmptyError(`${what} is empty; the packet protocol forbids zero-length frames`)
  }
  if (length > MAX_PACKET_SIZE) {
    throw new FrameTooLargeError(
      `${what} is ${length} bytes, over the limit of ${MAX_PACKET_SIZE} bytes`,
    )
  }
}

/**
 * Encodes one frame: the 4-byte big-endian length, then a copy of `payload`, in ONE buffer.
 *
 * One buffer means one socket write per frame. Consul writes the prefix and the payload in two
 * writes; on a connection shared by concurrent senders that lets frames interleave, and a
 * single write rules that out without any locking.
 *
 * @throws {FrameEmptyError} `payload` is empty.
 * @throws {FrameTooLargeError} `payload` is longer than {@link MAX_PACKET_SIZE}.
 * @throws {InvalidArgumentError} `payload` is not a `Uint8Array`.
 */
export function encodeFrame(payload: Uint8Array): Buffer {
  if (!(payload instanceof Uint8Array)) {
    throw new InvalidArgumentError('payload must be a Uint8Array')
  }
  const length = payload.byteLength
  checkLength(length, 'payload')
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + length)
  frame.writeUInt32BE(length, 0)
  frame.set(payload, FRAME_HEADER_SIZE)
  return frame
}

/**
 * Encodes only the 4-byte length prefix for a payload of `length` bytes.
 *
 * For callers that write the prefix and the payload with `writev` (or inside `cork()`/`uncork()`)
 * to avoid copying a large payload; such callers must make sure no other frame's write can come
 * between the two.
 *
 * @throws {FrameEmptyError} `length` is 0.
 * @throws {FrameTooLargeError} `length` is above {@link MAX_PACKET_SIZE}.
 * @throws {InvalidArgumentError} `length` is not a non-negative integer.
 */
export function encodeFrameHeader(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new InvalidArgumentError(`frame length must be a non-negative integer, got ${length}`)
  }
  checkLength(length, 'payload')
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE)
  header.writeUInt32BE(length, 0)
  return header
}

/**
 * Incremental, push-based decoder for one packet connection.
 *
 * Feed it the connection's chunks in order with {@link FrameDecoder.write} (a callback per
 * frame) or {@link FrameDecoder.push} (an array per chunk); call {@link FrameDecoder.end} when
 * the connection ends.
 *
 * - A payload that lies entirely within one chunk is handed out as a view of that chunk, not a
 *   copy. Gossip packets are small (about one MTU) and chunks are large (up to 64 KiB), so this
 *   is the common case and decoding costs little more than reading the headers. A view keeps the
 *   whole chunk alive as long as the consumer keeps the payload.
 * - A payload that spans chunks is assembled into one buffer of exactly its size, allocated once
 *   when the length is known and filled in place (never concatenated repeatedly).
 * - A length of 0 throws {@link FrameEmptyError}, a length above `maxFrameSize` throws
 *   {@link FrameTooLargeError}, both as soon as the 4 length bytes are in and before any of the
 *   body is buffered: memory held per connection never exceeds `maxFrameSize + 4` bytes.
 * - After an error the decoder is poisoned: every later call throws the same error. The stream
 *   has lost its framing and cannot be resynchronised, so the connection must be closed.
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder()
 * socket.on('data', (chunk) => decoder.write(chunk, (payload) => ingest(payload)))
 * socket.on('end', () => decoder.end())
 * ```
 */
export class FrameDecoder {
  readonly #maxFrameSize: number
  /** Set once, on the first error; thrown again by every later call. */
  #error: Error | undefined
  /**
   * A length prefix split across chunks (`#headerFilled` 1..3 bytes valid), or a whole, already
   * validated prefix whose payload has not started yet (`#headerFilled` = 4).
   */
  readonly #header = Buffer.alloc(FRAME_HEADER_SIZE)
  #headerFilled = 0
  /**
   * The payload being assembled across chunks. It grows (doubling, up to the frame's length) as
   * bytes arrive rather than being allocated at the announced length: a peer that announces 4 MiB
   * and sends 5 bytes must not cost 4 MiB.
   */
  #body: Buffer | undefined
  #bodyLength = 0
  #bodyFilled = 0

  constructor(options: FrameDecoderOptions = {}) {
    const max = optionalNumber(options.maxFrameSize, MAX_PACKET_SIZE, 'maxFrameSize', {
      integer: true,
      min: 1,
      max: MAX_PACKET_SIZE,
    })
    this.#maxFrameSize = max
  }

  /** The configured largest payload, in bytes. */
  get maxFrameSize(): number {
    return this.#maxFrameSize
  }

  /** Bytes of an incomplete frame held (length prefix bytes included); 0 between frames. */
  get bufferedBytes(): number {
    return this.#body === undefined ? this.#headerFilled : FRAME_HEADER_SIZE + this.#bodyFilled
  }

  /**
   * True while part of a frame (some of its prefix or body) has arrived but not all of it. A
   * server runs a body-stall timer while this is true: Consul clears its read deadline once the
   * prefix is read, so a peer that stops mid-frame holds the connection and its buffer forever.
   */
  get inFrame(): boolean {
    return this.#headerFilled !== 0 || this.#body !== undefined
  }

  /** Payload length of the frame being assembled, once its prefix is complete; else undefined. */
  get expectedLength(): number | undefined {
    if (this.#body !== undefined) return this.#bodyLength
    return this.#headerFilled === FRAME_HEADER_SIZE ? this.#header.readUInt32BE(0) : undefined
  }

  /**
   * Decodes `chunk` and returns the frames completed by it, in order (possibly none).
   *
   * Allocates an array per call; {@link FrameDecoder.write} does not.
   *
   * @throws {FrameEmptyError} a length prefix is 0.
   * @throws {FrameTooLargeError} a length prefix exceeds `maxFrameSize`.
   * @throws {InvalidArgumentError} `chunk` is not a `Uint8Array`.
   */
  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = []
    this.write(chunk, (frame) => {
      frames.push(frame)
    })
    return frames
  }

  /**
   * Decodes `chunk`, calling `onFrame` synchronously for each frame it completes, in order.
   *
   * If a length prefix is invalid, the frames before it have already been delivered, then the
   * error is thrown. If `onFrame` throws, the rest of the chunk is not decoded and the decoder is
   * poisoned with that error: where the next frame starts is no longer known.
   *
   * @throws {FrameEmptyError} a length prefix is 0.
   * @throws {FrameTooLargeError} a length prefix exceeds `maxFrameSize`.
   * @throws {InvalidArgumentError} `chunk` is not a `Uint8Array` or `onFrame` is not a function.
   */
  write(chunk: Uint8Array, onFrame: FrameHandler): void {
    if (this.#error !== undefined) throw this.#error
    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidArgumentError('chunk must be a Uint8Array')
    }
    if (typeof onFrame !== 'function') {
      throw new InvalidArgumentError('onFrame must be a function')
    }
    try {
      this.#decode(chunk, onFrame)
    } catch (err) {
      this.#error = err as Error
      throw err
    }
  }

  /**
   * Declares the end of the input (the connection closed or half-closed).
   *
   * A partial frame is dropped, never delivered: Consul hands a truncated packet to memberlist as
   * if whole, which then fails to decode or, worse, decodes as something else.
   *
   * @throws {FrameTruncatedError} part of a frame was pending; the message says how much.
   */
  end(): void {
    if (this.#error !== undefined) throw this.#error
    let err: FrameTruncatedError | undefined
    if (this.#body !== undefined) {
      err = new FrameTruncatedError(
        `input ended inside a frame: received ${this.#bodyFilled} of ${this.#bodyLength} payload bytes`,
      )
    } else if (this.#headerFilled === FRAME_HEADER_SIZE) {
      err = new FrameTruncatedError(
        `input ended inside a frame: received 0 of ${this.#header.readUInt32BE(0)} payload bytes`,
      )
    } else if (this.#headerFilled !== 0) {
      err = new FrameTruncatedError(
        `input ended inside a frame: received ${this.#headerFilled} of ${FRAME_HEADER_SIZE} length-prefix bytes`,
      )
    }
    if (err === undefined) return
    this.#body = undefined
    this.#headerFilled = 0
    this.#error = err
    throw err
  }

  #decode(chunk: Uint8Array, onFrame: FrameHandler): void {
    // One wrap per chunk (not per frame) so the header can be read with readUInt32BE.
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const end = buf.length
    let off = 0
    if (this.#headerFilled !== 0 || this.#body !== undefined) {
      off = this.#resume(buf, onFrame)
    }
    // Hot path: frames that start in this chunk. Only a subarray per frame is allocated.
    const max = this.#maxFrameSize
    while (end - off >= FRAME_HEADER_SIZE) {
      const length = buf.readUInt32BE(off)
      if (length === 0 || length > max) this.#reject(length)
      const start = off + FRAME_HEADER_SIZE
      const stop = start + length
      if (stop > end) {
        if (start === end) {
          // Only the prefix is here. Keep it rather than allocate: the payload may yet arrive
          // whole in the next chunk and be handed out as a view of it.
          this.#headerFilled = buf.copy(this.#header, 0, off, end)
        } else {
          this.#startBody(buf, start, length)
        }
        return
      }
      off = stop
      onFrame(buf.subarray(start, stop))
    }
    if (off < end) {
      // 1 to 3 bytes of the next length prefix; the rest comes with the next chunk.
      this.#headerFilled = buf.copy(this.#header, 0, off, end)
    }
  }

  /** Continues the frame left pending by earlier chunks; returns the offset after what it used. */
  #resume(buf: Buffer, onFrame: FrameHandler): number {
    const end = buf.length
    let off = 0
    if (this.#body === undefined) {
      const filled = this.#headerFilled
      const n = buf.copy(this.#header, filled, 0, Math.min(end, FRAME_HEADER_SIZE - filled))
      if (filled + n < FRAME_HEADER_SIZE) {
        this.#headerFilled = filled + n
        return end
      }
      off = n
      // Validated as soon as the 4 bytes are in (a prefix kept whole was validated already; a
      // second check costs nothing). State is updated first so a rejected prefix holds no bytes.
      this.#headerFilled = 0
      const length = this.#header.readUInt32BE(0)
      if (length === 0 || length > this.#maxFrameSize) this.#reject(length)
      if (off === end) {
        this.#headerFilled = FRAME_HEADER_SIZE
        return end
      }
      if (end - off >= length) {
        // Only the prefix was split: the payload itself still lies in this chunk, so no copy.
        onFrame(buf.subarray(off, off + length))
        return off + length
      }
      this.#startBody(buf, off, length)
      return end
    }
    const take = Math.min(end, this.#bodyLength - this.#bodyFilled)
    const body = this.#reserve(this.#bodyFilled + take)
    const n = buf.copy(body, this.#bodyFilled, 0, take)
    this.#bodyFilled += n
    if (this.#bodyFilled === this.#bodyLength) {
      // Clear the state before the callback, so the decoder is consistent whatever it does.
      this.#body = undefined
      this.#bodyFilled = 0
      onFrame(body)
    }
    return n
  }

  /** Starts assembling a payload of `length` bytes with what arrived of it. */
  #startBody(buf: Buffer, start: number, length: number): void {
    const have = buf.length - start
    this.#bodyLength = length
    // A gossip-sized frame gets its final size at once; a large one starts at what arrived.
    const body = Buffer.allocUnsafeSlow(Math.min(length, Math.max(INITIAL_BODY_CAPACITY, have * 2)))
    this.#bodyFilled = buf.copy(body, 0, start, buf.length)
    this.#body = body
  }

  /** The body buffer, grown if it cannot hold `needed` bytes (doubling, capped at the length). */
  #reserve(needed: number): Buffer {
    const body = this.#body as Buffer
    if (needed <= body.length) return body
    // Unsafe (uninitialised) is fine: the buffer is handed out only once every byte is written.
    // Slow (unpooled) so that a consumer keeping this frame pins exactly its bytes, not a shared
    // 8 KiB pool slab; frames that span chunks are rare enough that the pool would not pay off.
    const grown = Buffer.allocUnsafeSlow(
      Math.min(this.#bodyLength, Math.max(needed, body.length * 2)),
    )
    body.copy(grown, 0, 0, this.#bodyFilled)
    this.#body = grown
    return grown
  }

  #reject(length: number): never {
    // The peer broke the protocol: remote, unlike the same errors from encodeFrame (our own payload).
    if (length === 0) {
      throw new FrameEmptyError(
        'frame length prefix is 0; the packet protocol forbids zero-length frames',
        { remote: true },
      )
    }
    throw new FrameTooLargeError(
      `frame length prefix is ${length} bytes, over the limit of ${this.#maxFrameSize} bytes`,
      { remote: true },
    )
  }
}
