import { crc32 } from 'node:zlib'
import { GossipDecodeError } from '../../errors.ts'
import { MessageType } from './message-type.ts'

/** Prepends memberlist's CRC header: type 12, CRC-32 (IEEE) of `msg` big-endian, then `msg`. */
export function addCrc(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 5)
  out[0] = MessageType.hasCrc
  out.writeUInt32BE(crc32(msg), 1)
  out.set(msg, 5)
  return out
}

/**
 * Strips a CRC header when `buf` starts with one (and is at least 5 bytes, as `ingestPacket`
 * checks), verifying it; otherwise returns `buf` as it is.
 *
 * @throws {GossipDecodeError} reason `crc` when the checksum does not match
 */
export function removeCrc(buf: Buffer): Buffer {
  if (buf.length < 5 || buf[0] !== MessageType.hasCrc) return buf
  const rest = buf.subarray(5)
  const expected = buf.readUInt32BE(1)
  const actual = crc32(rest)
  if (actual !== expected) {
    throw new GossipDecodeError(
      `invalid checksum: ${actual.toString(16)}, expected ${expected.toString(16)}`,
      { reason: 'crc' },
    )
  }
  return rest
}
