import { GossipDecodeError, GossipDecryptError } from '../../errors.ts'
import { compressPayload, decompressStruct } from './compress.ts'
import {
  decryptPayload,
  type EncryptionVersion,
  encryptedLength,
  encryptPayload,
} from './encryption.ts'
import {
  MAX_DECOMPRESSED_BYTES,
  MAX_PUSH_STATE_BYTES,
  MAX_PUSH_STATE_NODES,
  MAX_USER_MSG_BYTES,
  MessageType,
} from './message-type.ts'
import { MsgpackTruncated, truncatedNeed } from './msgpack-reader.ts'
import { MsgpackWriter } from './msgpack-writer.ts'
import {
  type AckResp,
  decodeStruct,
  type ErrResp,
  type Ping,
  type PushNodeState,
  type StructName,
  type StructTypes,
  writeStruct,
} from './structs.ts'

/** One message read off a stream (after its label). */
export type StreamMessage =
  | { type: 'pushPull'; join: boolean; nodes: PushNodeState[]; userState: Buffer | undefined }
  | { type: 'user'; payload: Buffer }
  | { type: 'ping'; body: Ping }
  | { type: 'ack'; body: AckResp }
  | { type: 'err'; body: ErrResp }

export type StreamParse =
  | { status: 'ok'; message: StreamMessage; end: number }
  /** More bytes are needed; at least `need` in all. */
  | { status: 'partial'; need: number }

export interface StreamDecodeOptions {
  /** The connection's label, authenticated with encrypted messages. */
  label: string
  keys: readonly Uint8Array[]
  verifyIncoming: boolean
}

/** Most bytes a stream message may hold before it is refused (encrypted or not). */
export const MAX_STREAM_MESSAGE_BYTES = MAX_DECOMPRESSED_BYTES + 16

/**
 * memberlist's `readStream` plus `readRemoteState` / `readUserMsg`, over the bytes received so far:
 * either a whole message and where it ended, or how many bytes are needed, or a typed error.
 * Pure, so a reader can call it again as bytes arrive; the `need` hints keep that to a few calls
 * even for large states.
 *
 * @throws {GossipDecodeError} {@link GossipDecryptError}
 */
export function parseStreamMessage(buf: Buffer, options: StreamDecodeOptions): StreamParse {
  if (buf.length < 1) return { status: 'partial', need: 1 }
  let inner: Buffer
  let framed = false
  let end = 0
  if (buf[0] === MessageType.encrypt) {
    if (options.keys.length === 0) {
      throw new GossipDecryptError('remote state is encrypted and encryption is not configured')
    }
    if (buf.length < 5) return { status: 'partial', need: 5 }
    const len = buf.readUInt32BE(1)
    if (len > MAX_PUSH_STATE_BYTES) {
      throw new GossipDecodeError(`remote node state is larger than limit (${len})`, {
        reason: 'oversized',
      })
    }
    if (buf.length < 5 + len) return { status: 'partial', need: 5 + len }
    const data = Buffer.concat([buf.subarray(0, 5), Buffer.from(options.label, 'utf8')])
    inner = decryptPayload(options.keys, buf.subarray(5, 5 + len), data)
    framed = true
    end = 5 + len
  } else {
    if (options.keys.length > 0 && options.verifyIncoming) {
      throw new GossipDecryptError('encryption is configured but remote state is not encrypted')
    }
    inner = buf
  }
  if (inner.length < 1) throw new GossipDecodeError('empty stream message', { reason: 'truncated' })

  // Truncation means "wait for more" only while parsing bytes straight off the stream; inside a
  // decrypted or decompressed buffer it is an error.
  let onWire = !framed
  try {
    let type = inner[0] as number
    let body = inner.subarray(1)
    if (type === MessageType.compress) {
      const c = decodeStruct('compress', inner, 1)
      onWire = false
      const decomp = decompressStruct(c.value, MAX_DECOMPRESSED_BYTES)
      if (decomp.length === 0) {
        throw new GossipDecodeError('decompressed message is empty', { reason: 'compression' })
      }
      if (!framed) end = c.end
      type = decomp[0] as number
      body = decomp.subarray(1)
      return { status: 'ok', message: parseBody(type, body).message, end }
    }
    const { message, used } = parseBody(type, body)
    return { status: 'ok', message, end: framed ? end : 1 + used }
  } catch (err) {
    const cut = truncatedNeed(err)
    if (cut !== undefined && onWire) {
      // `need` is relative to the body (after the type byte) unless the compress header was cut.
      const need = inner[0] === MessageType.compress ? cut : cut + 1
      return { status: 'partial', need: Math.max(need, buf.length + 1) }
    }
    throw err
  }
}

function parseBody(type: number, body: Buffer): { message: StreamMessage; used: number } {
  switch (type) {
    case MessageType.pushPull: {
      const h = decodeStruct('pushPullHeader', body)
      const header = h.value
      if (header.nodes < 0 || header.nodes > MAX_PUSH_STATE_NODES) {
        throw new GossipDecodeError(`number of nodes in header (${header.nodes}) exceeds limit`, {
          reason: 'oversized',
        })
      }
      if (header.userStateLen < 0 || header.userStateLen > MAX_PUSH_STATE_BYTES) {
        throw new GossipDecodeError(`user state length (${header.userStateLen}) exceeds limit`, {
          reason: 'oversized',
        })
      }
      // Each node state takes well over one byte: a count beyond the bytes left is truncation.
      if (header.nodes > body.length - h.end) throw new MsgpackTruncated(h.end + header.nodes)
      let at = h.end
      const nodes: PushNodeState[] = []
      for (let i = 0; i < header.nodes; i++) {
        const n = decodeStruct('pushNodeState', body, at)
        nodes.push(n.value)
        at = n.end
      }
      let userState: Buffer | undefined
      if (header.userStateLen > 0) {
        if (body.length < at + header.userStateLen)
          throw new MsgpackTruncated(at + header.userStateLen)
        userState = Buffer.from(body.subarray(at, at + header.userStateLen))
        at += header.userStateLen
      }
      return { message: { type: 'pushPull', join: header.join, nodes, userState }, used: at }
    }
    case MessageType.user: {
      const h = decodeStruct('userMsgHeader', body)
      const len = h.value.userMsgLen
      if (len < 0 || len > MAX_USER_MSG_BYTES) {
        throw new GossipDecodeError(`user message length (${len}) exceeds limit`, {
          reason: 'oversized',
        })
      }
      if (body.length < h.end + len) throw new MsgpackTruncated(h.end + len)
      return {
        message: { type: 'user', payload: Buffer.from(body.subarray(h.end, h.end + len)) },
        used: h.end + len,
      }
    }
    case MessageType.ping: {
      const p = decodeStruct('ping', body)
      return { message: { type: 'ping', body: p.value }, used: p.end }
    }
    case MessageType.ackResp: {
      const a = decodeStruct('ack', body)
      return { message: { type: 'ack', body: a.value }, used: a.end }
    }
    case MessageType.err: {
      const e = decodeStruct('err', body)
      return { message: { type: 'err', body: e.value }, used: e.end }
    }
    default:
      throw new GossipDecodeError(`received invalid msgType (${type}) on a stream`, {
        reason: 'unknown-type',
      })
  }
}

export interface StreamEncodeOptions {
  /** Compress (memberlist always does on streams when `EnableCompression`). */
  compress: boolean
  encrypt?: { vsn: EncryptionVersion; key: Uint8Array } | undefined
  /** The connection's label (authenticated, not written: the dialer writes the header once). */
  label: string
}

/** `rawSendMsgStream`: compress, then encrypt as `[10][length][sealed]` with the header and label as data. */
export function encodeStreamMessage(msg: Uint8Array, options: StreamEncodeOptions): Buffer {
  let out: Buffer = Buffer.from(msg.buffer, msg.byteOffset, msg.length)
  if (options.compress) out = compressPayload(out)
  if (options.encrypt !== undefined) {
    const head = Buffer.allocUnsafe(5)
    head[0] = MessageType.encrypt
    head.writeUInt32BE(encryptedLength(options.encrypt.vsn, out.length), 1)
    const data = Buffer.concat([head, Buffer.from(options.label, 'utf8')])
    out = Buffer.concat([head, encryptPayload(options.encrypt.vsn, options.encrypt.key, out, data)])
  }
  return out
}

/** A push/pull body as `sendLocalState` builds it: type 6, header, node states, user state. */
export function encodePushPull(
  join: boolean,
  nodes: readonly PushNodeState[],
  userState: Uint8Array | undefined,
): Buffer {
  const w = new MsgpackWriter(64 + nodes.length * 64)
  w.byte(MessageType.pushPull)
  writeStruct(w, 'pushPullHeader', {
    nodes: nodes.length,
    userStateLen: userState?.length ?? 0,
    join,
  })
  for (const n of nodes) writeStruct(w, 'pushNodeState', n)
  if (userState !== undefined) w.bytes(userState)
  return Buffer.from(w.finish())
}

/** A reliable user message body (`sendUserMsg`): type 8, `{ UserMsgLen }`, the bytes. */
export function encodeStreamUserMessage(payload: Uint8Array): Buffer {
  const w = new MsgpackWriter(payload.length + 24)
  w.byte(MessageType.user)
  writeStruct(w, 'userMsgHeader', { userMsgLen: payload.length })
  w.bytes(payload)
  return Buffer.from(w.finish())
}

/** A single struct message for a stream (ping, ack, err). */
export function encodeStreamStruct<N extends StructName>(
  type: number,
  name: N,
  body: StructTypes[N],
): Buffer {
  const w = new MsgpackWriter()
  w.byte(type)
  writeStruct(w, name, body)
  return Buffer.from(w.finish())
}
