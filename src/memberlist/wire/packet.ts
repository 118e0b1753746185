import { GossipDecodeError, type WanfedError } from '../../errors.ts'
import { decodeCompound } from './compound.ts'
import { compressPayload, decompressPayload } from './compress.ts'
import { addCrc, removeCrc } from './crc.ts'
import { decryptPayload, type EncryptionVersion, encryptPayload } from './encryption.ts'
import { addLabelToPacket, removePacketLabel } from './label.ts'
import { MessageType } from './message-type.ts'
import {
  type AckResp,
  type Alive,
  type Dead,
  decodeStruct,
  type IndirectPingReq,
  type NackResp,
  type Ping,
  type Suspect,
} from './structs.ts'

/** A message a packet delivered, decoded. */
export type PacketMessage =
  | { type: 'ping'; body: Ping }
  | { type: 'indirectPing'; body: IndirectPingReq }
  | { type: 'ack'; body: AckResp }
  | { type: 'nack'; body: NackResp }
  | { type: 'suspect'; body: Suspect }
  | { type: 'alive'; body: Alive }
  | { type: 'dead'; body: Dead }
  | { type: 'user'; payload: Buffer }

export interface PacketDecodeOptions {
  /** Our label; packets must carry exactly it (memberlist's `Label`). */
  label: string
  skipInboundLabelCheck: boolean
  /** Installed keys, primary first; empty when encryption is off. */
  keys: readonly Uint8Array[]
  /** Refuse plaintext when keys are installed (`GossipVerifyIncoming`). */
  verifyIncoming: boolean
  /** Most bytes decompression may produce for one packet, all nested parts together. */
  maxDecompressed: number
}

export interface DecodedPacket {
  messages: PacketMessage[]
  /** Why parts (or the whole packet) were dropped; each one counted by the caller. */
  errors: WanfedError[]
}

/** Compound and compress wrappers nest; Go recurses without a limit, a hostile packet must not. */
const MAX_NESTING = 4
/** Parts one packet may yield in all (255 per compound, nested). */
const MAX_PARTS = 1024

/**
 * memberlist's `ingestPacket` and `handleCommand`: label, then decryption, then the CRC, then
 * compound and compress wrappers recursively, down to messages. Never throws: what cannot be
 * decoded is returned in `errors` and the rest still delivered, as memberlist handles each part
 * of a compound on its own.
 */
export function decodePacket(buf: Buffer, options: PacketDecodeOptions): DecodedPacket {
  const out: DecodedPacket = { messages: [], errors: [] }
  let plain: Buffer
  try {
    plain = removePacketLabel(buf, options.label, options.skipInboundLabelCheck)
    if (options.keys.length > 0) {
      try {
        plain = decryptPayload(options.keys, plain, Buffer.from(options.label, 'utf8'))
      } catch (err) {
        // Without verifyIncoming memberlist treats an undecryptable packet as plaintext.
        if (options.verifyIncoming) throw err
      }
    }
    plain = removeCrc(plain)
  } catch (err) {
    out.errors.push(err as WanfedError)
    return out
  }
  const budget = { left: options.maxDecompressed, parts: 0 }
  handleCommand(plain, out, budget, 0)
  return out
}

function handleCommand(
  buf: Buffer,
  out: DecodedPacket,
  budget: { left: number; parts: number },
  depth: number,
): void {
  try {
    if (buf.length < 1)
      throw new GossipDecodeError('missing message type byte', { reason: 'truncated' })
    if (++budget.parts > MAX_PARTS) {
      throw new GossipDecodeError('too many parts in one packet', { reason: 'oversized' })
    }
    const type = buf[0] as number
    const body = buf.subarray(1)
    switch (type) {
      case MessageType.compound: {
        if (depth >= MAX_NESTING)
          throw new GossipDecodeError('compound nested too deep', { reason: 'malformed' })
        const { parts, truncated } = decodeCompound(body)
        for (const part of parts) handleCommand(part, out, budget, depth + 1)
        if (truncated > 0) {
          out.errors.push(
            new GossipDecodeError(`compound had ${truncated} truncated messages`, {
              reason: 'truncated',
            }),
          )
        }
        return
      }
      case MessageType.compress: {
        if (depth >= MAX_NESTING)
          throw new GossipDecodeError('compress nested too deep', { reason: 'malformed' })
        const payload = decompressPayload(body, budget.left)
        budget.left -= payload.length
        handleCommand(payload, out, budget, depth + 1)
        return
      }
      case MessageType.ping:
        out.messages.push({ type: 'ping', body: decodeStruct('ping', body).value })
        return
      case MessageType.indirectPing:
        out.messages.push({ type: 'indirectPing', body: decodeStruct('indirectPing', body).value })
        return
      case MessageType.ackResp:
        out.messages.push({ type: 'ack', body: decodeStruct('ack', body).value })
        return
      case MessageType.nackResp:
        out.messages.push({ type: 'nack', body: decodeStruct('nack', body).value })
        return
      case MessageType.suspect:
        out.messages.push({ type: 'suspect', body: decodeStruct('suspect', body).value })
        return
      case MessageType.alive:
        out.messages.push({ type: 'alive', body: decodeStruct('alive', body).value })
        return
      case MessageType.dead:
        out.messages.push({ type: 'dead', body: decodeStruct('dead', body).value })
        return
      case MessageType.user:
        out.messages.push({ type: 'user', payload: body })
        return
      default:
        throw new GossipDecodeError(`message type ${type} not supported in a packet`, {
          reason: 'unknown-type',
        })
    }
  } catch (err) {
    out.errors.push(err as WanfedError)
  }
}

export interface PacketEncodeOptions {
  /** Compress when that makes the packet smaller (`EnableCompression`). */
  compress: boolean
  /** Add the CRC header (the peer's protocol max is at least 5). */
  crc: boolean
  /** Encrypt with this key (`GossipVerifyOutgoing` and a keyring). */
  encrypt?: { vsn: EncryptionVersion; key: Uint8Array } | undefined
  label: string
}

/** `rawSendMsgPacket` plus the label transport: compress, CRC, encrypt, label, in that order. */
export function encodePacket(msg: Uint8Array, options: PacketEncodeOptions): Buffer {
  let out: Uint8Array = msg
  if (options.compress) {
    const c = compressPayload(out)
    if (c.length < out.length) out = c
  }
  if (options.crc) out = addCrc(out)
  if (options.encrypt !== undefined) {
    out = encryptPayload(
      options.encrypt.vsn,
      options.encrypt.key,
      out,
      Buffer.from(options.label, 'utf8'),
    )
  }
  return addLabelToPacket(out, options.label)
}
