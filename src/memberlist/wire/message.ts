import { MessageType, type MessageTypeValue } from './message-type.ts'
import { MsgpackWriter } from './msgpack-writer.ts'
import { type StructName, type StructTypes, writeStruct } from './structs.ts'

/** A message as memberlist's `encode` builds it: the type byte, then the msgpack body. */
export function encodeMessage<N extends StructName>(
  type: MessageTypeValue,
  name: N,
  body: StructTypes[N],
): Buffer {
  const w = new MsgpackWriter()
  w.byte(type)
  writeStruct(w, name, body)
  return Buffer.from(w.finish())
}

/** A best-effort user message: the type byte, then the bytes untouched. */
export function encodeUserMessage(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 1)
  out[0] = MessageType.user
  out.set(payload, 1)
  return out
}
