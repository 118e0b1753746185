import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { GossipDecryptError } from '../../errors.ts'

/**
 * memberlist's gossip encryption (`security.go`): AES-GCM with the key's size choosing AES-128,
 * -192 or -256, a 12-byte random nonce and a 16-byte tag, framed as
 * `[version][nonce][ciphertext][tag]`. Version 0 pads the plaintext PKCS#7 to 16 bytes first
 * (protocol version 1 peers); version 1 does not.
 */
export type EncryptionVersion = 0 | 1

const VERSION_SIZE = 1
const NONCE_SIZE = 12
const TAG_SIZE = 16
const BLOCK_SIZE = 16

/** `encryptOverhead`: bytes encryption adds to a packet at most. */
export function encryptOverhead(vsn: EncryptionVersion): number {
  return vsn === 0 ? 45 : 29
}

/** `encryptedLength`: the exact size of `inp` bytes once encrypted. */
export function encryptedLength(vsn: EncryptionVersion, inp: number): number {
  if (vsn >= 1) return VERSION_SIZE + NONCE_SIZE + inp + TAG_SIZE
  return VERSION_SIZE + NONCE_SIZE + inp + (BLOCK_SIZE - (inp % BLOCK_SIZE)) + TAG_SIZE
}

function algorithm(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  switch (key.length) {
    case 16:
      return 'aes-128-gcm'
    case 24:
      return 'aes-192-gcm'
    case 32:
      return 'aes-256-gcm'
    default:
      throw new RangeError('key size must be 16, 24 or 32 bytes')
  }
}

/**
 * `encryptPayload`: `msg` sealed with `key`, `data` authenticated alongside. `nonce` is for test
 * vectors only; leave it out.
 */
export function encryptPayload(
  vsn: EncryptionVersion,
  key: Uint8Array,
  msg: Uint8Array,
  data: Uint8Array | undefined,
  nonce: Uint8Array = randomBytes(NONCE_SIZE),
): Buffer {
  const cipher = createCipheriv(algorithm(key), key, nonce, { authTagLength: TAG_SIZE })
  if (data !== undefined && data.length > 0) cipher.setAAD(data)
  let plain: Uint8Array = msg
  if (vsn === 0) {
    const pad = BLOCK_SIZE - (msg.length % BLOCK_SIZE)
    const padded = Buffer.alloc(msg.length + pad, pad)
    padded.set(msg, 0)
    plain = padded
  }
  const body = cipher.update(plain)
  cipher.final()
  return Buffer.concat([Buffer.of(vsn), nonce, body, cipher.getAuthTag()])
}

function open(key: Uint8Array, msg: Buffer, data: Uint8Array | undefined): Buffer | undefined {
  const nonce = msg.subarray(VERSION_SIZE, VERSION_SIZE + NONCE_SIZE)
  const body = msg.subarray(VERSION_SIZE + NONCE_SIZE, msg.length - TAG_SIZE)
  const tag = msg.subarray(msg.length - TAG_SIZE)
  try {
    const decipher = createDecipheriv(algorithm(key), key, nonce, { authTagLength: TAG_SIZE })
    decipher.setAuthTag(tag)
    if (data !== undefined && data.length > 0) decipher.setAAD(data)
    const plain = decipher.update(body)
    decipher.final()
    return plain
  } catch {
    return undefined
  }
}

/**
 * `decryptPayload`: tries each key in turn (the primary first).
 *
 * @throws {GossipDecryptError} empty, unknown version, too short, no key opens it, or bad padding
 */
export function decryptPayload(
  keys: readonly Uint8Array[],
  msg: Buffer,
  data: Uint8Array | undefined,
): Buffer {
  if (msg.length === 0) throw new GossipDecryptError('cannot decrypt empty payload')
  const vsn = msg[0] as number
  if (vsn > 1) throw new GossipDecryptError(`unsupported encryption version ${vsn}`)
  if (msg.length < encryptedLength(vsn as EncryptionVersion, 0)) {
    throw new GossipDecryptError(`payload is too small to decrypt: ${msg.length}`)
  }
  for (const key of keys) {
    const plain = open(key, msg, data)
    if (plain === undefined) continue
    if (vsn === 1) return plain
    // Go trusts the pad byte after authentication; a sealed but bad pad is refused here instead
    // of slicing out of range.
    const pad = plain[plain.length - 1] as number
    if (pad < 1 || pad > BLOCK_SIZE || pad > plain.length)
      throw new GossipDecryptError('invalid padding')
    return plain.subarray(0, plain.length - pad)
  }
  throw new GossipDecryptError('no installed keys could decrypt the message')
}
