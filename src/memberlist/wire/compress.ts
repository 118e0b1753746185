import { GossipDecodeError } from '../../errors.ts'
import { lzwCompress, lzwDecompress } from './lzw.ts'
import { encodeMessage } from './message.ts'
import { MessageType } from './message-type.ts'
import { type Compress, decodeStruct } from './structs.ts'

/** The one algorithm memberlist defines (`lzwAlgo`). */
export const LZW_ALGO = 0

/** `compressPayload`: a `compress` message (type 9) whose `Buf` is `msg` LZW-compressed. */
export function compressPayload(msg: Uint8Array): Buffer {
  return encodeMessage(MessageType.compress, 'compress', { algo: LZW_ALGO, buf: lzwCompress(msg) })
}

/** `decompressBuffer`: the bytes inside a decoded `compress` struct. */
export function decompressStruct(c: Compress, maxOutput: number): Buffer {
  if (c.algo !== LZW_ALGO) {
    throw new GossipDecodeError(`cannot decompress unknown algorithm ${c.algo}`, {
      reason: 'compression',
    })
  }
  return lzwDecompress(c.buf ?? Buffer.alloc(0), maxOutput)
}

/**
 * `decompressPayload`: decodes a `compress` body (after its type byte) and expands it.
 *
 * @throws {GossipDecodeError}
 */
export function decompressPayload(body: Buffer, maxOutput: number): Buffer {
  return decompressStruct(decodeStruct('compress', body).value, maxOutput)
}
