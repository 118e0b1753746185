/** Valid memberlist messages of every shape, the bases the hostile-input tests mutate. */
import { encodeCompound } from '../../src/memberlist/wire/compound.ts'
import { encodeMessage, encodeUserMessage } from '../../src/memberlist/wire/message.ts'
import { MessageType } from '../../src/memberlist/wire/message-type.ts'
import { encodePacket } from '../../src/memberlist/wire/packet.ts'
import {
  encodePushPull,
  encodeStreamMessage,
  encodeStreamStruct,
  encodeStreamUserMessage,
} from '../../src/memberlist/wire/stream.ts'
import { POOL_KEY } from './memberlist-target.ts'

const ghost = { incarnation: 3, node: 'ghost', from: 'ghost' }
const ghostAlive = {
  incarnation: 3,
  node: 'ghost',
  addr: Buffer.from([127, 0, 0, 9]),
  port: 7946,
  meta: Buffer.from('m'),
  vsn: Buffer.from([1, 5, 2, 0, 0, 0]),
}

/** Valid plaintext packets of every shape memberlist sends. */
export function plainPackets(target: string): Buffer[] {
  const ping = encodeMessage(MessageType.ping, 'ping', { seqNo: 9, node: target })
  const suspect = encodeMessage(MessageType.suspect, 'suspect', ghost)
  const dead = encodeMessage(MessageType.dead, 'dead', ghost)
  const alive = encodeMessage(MessageType.alive, 'alive', ghostAlive)
  const ack = encodeMessage(MessageType.ackResp, 'ack', { seqNo: 1, payload: Buffer.from('p') })
  const user = encodeUserMessage(Buffer.from('hello from a stranger'))
  const long = encodeUserMessage(Buffer.alloc(600, 'abcabcab'))
  const plain = { compress: false, crc: false, label: '' }
  return [
    ...[ping, suspect, dead, alive, ack, user].map((m) => encodePacket(m, plain)),
    encodePacket(encodeCompound([ping, user, suspect, alive]), plain),
    encodePacket(long, { ...plain, compress: true }),
    encodePacket(encodeCompound([ping, long]), { ...plain, compress: true, crc: true }),
    encodePacket(user, { ...plain, crc: true }),
  ]
}

/** Valid stream messages (each a whole stream: what a dialler writes before half-closing). */
export function plainStreams(target: string): Buffer[] {
  const opts = { compress: false, label: '' }
  const state = [{ name: 'ghost', ...ghostAlive, state: 0 }]
  return [
    encodeStreamMessage(encodePushPull(false, state, undefined), opts),
    encodeStreamMessage(encodePushPull(true, state, Buffer.from('user state')), {
      ...opts,
      compress: true,
    }),
    encodeStreamMessage(encodeStreamUserMessage(Buffer.from('reliable hello')), opts),
    encodeStreamMessage(
      encodeStreamStruct(MessageType.ping, 'ping', { seqNo: 4, node: target }),
      opts,
    ),
  ]
}

/** Valid packets of the encrypted, labelled pool: a user message alone, and compound with a ping, compressed, with CRC. */
export function sealedPackets(target: string, label: string, payload: Buffer): Buffer[] {
  const encrypt = { vsn: 1 as const, key: POOL_KEY }
  const user = encodeUserMessage(payload)
  const ping = encodeMessage(MessageType.ping, 'ping', { seqNo: 9, node: target })
  return [
    encodePacket(user, { compress: false, crc: false, label, encrypt }),
    encodePacket(encodeCompound([ping, user]), { compress: true, crc: true, label, encrypt }),
  ]
}
