import { GossipDecodeError, InvalidArgumentError } from '../../errors.ts'
import { MessageType } from './message-type.ts'

/** Longest label (`LabelMaxSize`): its length travels in one byte. */
export const LABEL_MAX_SIZE = 255

/** @throws {InvalidArgumentError} the label is longer than 255 bytes */
export function checkLabel(label: string): Buffer {
  const b = Buffer.from(label, 'utf8')
  if (b.length > LABEL_MAX_SIZE)
    throw new InvalidArgumentError(`label ${JSON.stringify(label)} is too long`)
  return b
}

/** The label header (`makeLabelHeader`): type 244, length, label. Empty for no label. */
export function labelHeader(label: string): Buffer {
  if (label === '') return Buffer.alloc(0)
  const b = checkLabel(label)
  const out = Buffer.allocUnsafe(2 + b.length)
  out[0] = MessageType.hasLabel
  out[1] = b.length
  out.set(b, 2)
  return out
}

/** `labelOverhead`: bytes the header takes in a packet. */
export function labelOverhead(label: string): number {
  return label === '' ? 0 : 2 + Buffer.byteLength(label, 'utf8')
}

/** `AddLabelHeaderToPacket`. */
export function addLabelToPacket(buf: Uint8Array, label: string): Buffer {
  if (label === '') return Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  return Buffer.concat([labelHeader(label), buf])
}

export type LabelSplit =
  | { status: 'ok'; label: string; rest: Buffer }
  /** The bytes so far are a label header that is not complete yet (streams wait for more). */
  | { status: 'partial' }

/**
 * Splits a label header off the front (`RemoveLabelHeaderFromPacket` / `...FromStream`). Bytes
 * that do not start with 244 carry no label.
 *
 * @throws {GossipDecodeError} reason `label`: an empty label header
 */
export function splitLabel(buf: Buffer): LabelSplit {
  if (buf.length === 0 || buf[0] !== MessageType.hasLabel)
    return { status: 'ok', label: '', rest: buf }
  if (buf.length < 2) return { status: 'partial' }
  const size = buf[1] as number
  if (size < 1)
    throw new GossipDecodeError('label header cannot be empty when present', { reason: 'label' })
  if (buf.length < 2 + size) return { status: 'partial' }
  return {
    status: 'ok',
    label: buf.subarray(2, 2 + size).toString('utf8'),
    rest: buf.subarray(2 + size),
  }
}

/**
 * A packet's label, checked against ours, as `ingestPacket` does: a missing or other label is
 * refused; with `skipInboundLabelCheck` a packet must carry none and is taken as ours.
 *
 * @throws {GossipDecodeError} reason `label` or `truncated`
 */
export function removePacketLabel(
  buf: Buffer,
  label: string,
  skipInboundLabelCheck: boolean,
): Buffer {
  const split = splitLabel(buf)
  if (split.status === 'partial') {
    throw new GossipDecodeError('cannot decode label; packet has been truncated', {
      reason: 'truncated',
    })
  }
  acceptLabel(split.label, label, skipInboundLabelCheck)
  return split.rest
}

/** @throws {GossipDecodeError} reason `label` */
export function acceptLabel(got: string, label: string, skipInboundLabelCheck: boolean): void {
  if (skipInboundLabelCheck) {
    if (got !== '')
      throw new GossipDecodeError('unexpected double label header', { reason: 'label' })
    return
  }
  if (got !== label) {
    throw new GossipDecodeError(`unacceptable label ${JSON.stringify(got)}`, { reason: 'label' })
  }
}
