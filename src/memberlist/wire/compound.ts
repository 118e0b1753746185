import { GossipDecodeError } from '../../errors.ts'
import { MessageType } from './message-type.ts'

/** Most parts one compound carries: its count is one byte. */
export const MAX_COMPOUND_PARTS = 255

/**
 * A compound message (`makeCompoundMessage`): type byte, part count, one big-endian uint16 length
 * per part, then the parts.
 *
 * @throws {RangeError} more than 255 parts or a part over 65,535 bytes: callers split first
 */
export function encodeCompound(parts: readonly Uint8Array[]): Buffer {
  if (parts.length > MAX_COMPOUND_PARTS) throw new RangeError('compound: more than 255 parts')
  let size = 2 + parts.length * 2
  for (const p of parts) {
    if (p.length > 0xffff) throw new RangeError('compound: part over 65535 bytes')
    size += p.length
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = MessageType.compound
  out[1] = parts.length
  let at = 2
  for (const p of parts) {
    out.writeUInt16BE(p.length, at)
    at += 2
  }
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Splits into compounds of at most 255 parts (`makeCompoundMessages`). */
export function encodeCompounds(parts: readonly Uint8Array[]): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < parts.length; i += MAX_COMPOUND_PARTS) {
    out.push(encodeCompound(parts.slice(i, i + MAX_COMPOUND_PARTS)))
  }
  return out
}

export interface DecodedCompound {
  parts: Buffer[]
  /** Parts the header announced that the body does not hold (`trunc` in Go); logged there, counted here. */
  truncated: number
}

/**
 * Decodes a compound body (after its type byte), as `decodeCompoundMessage`: a body shorter than
 * its length table is an error; parts that run past the end are dropped and counted.
 *
 * @throws {GossipDecodeError} reason `truncated`
 */
export function decodeCompound(body: Buffer): DecodedCompound {
  if (body.length < 1)
    throw new GossipDecodeError('compound: missing length byte', { reason: 'truncated' })
  const n = body[0] as number
  if (body.length < 1 + n * 2)
    throw new GossipDecodeError('compound: truncated length table', { reason: 'truncated' })
  const parts: Buffer[] = []
  let at = 1 + n * 2
  for (let i = 0; i < n; i++) {
    const len = body.readUInt16BE(1 + i * 2)
    if (at + len > body.length) return { parts, truncated: n - i }
    parts.push(body.subarray(at, at + len))
    at += len
  }
  return { parts, truncated: 0 }
}
