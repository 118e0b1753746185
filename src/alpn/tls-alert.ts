import { createCipheriv, createHmac } from 'node:crypto'

/**
 * A fatal TLS alert written by hand, for a server that refuses a client certificate after
 * OpenSSL has completed the handshake: Node verifies client certificates only then, and has no
 * API to send an alert, so it would close silently. A TLS 1.3 client has already finished and is
 * reading under the server's application traffic keys, so the alert is sealed with them (RFC 8446
 * §5.2, §7.3), as the first record under those keys: the server has written nothing yet (its
 * session tickets come after this point). A TLS 1.2 client is still waiting for the server's
 * ChangeCipherSpec, so a plaintext alert is what it reads.
 */

/** Alert descriptions (RFC 8446 §6): the ones Go's crypto/tls sends for a refused client certificate. */
export const ALERT = {
  badCertificate: 42,
  certificateExpired: 45,
  unknownCa: 48,
  certificateRequired: 116,
} as const

const FATAL = 2
const CONTENT_ALERT = 21
const CONTENT_APPLICATION_DATA = 23

/** The plaintext alert record a TLS 1.2 peer reads before the server's ChangeCipherSpec. */
export function plaintextAlert(description: number): Buffer {
  return Buffer.from([CONTENT_ALERT, 3, 3, 0, 2, FATAL, description])
}

const SUITES: Record<string, { hash: string; cipher: string; keyLength: number }> = {
  TLS_AES_128_GCM_SHA256: { hash: 'sha256', cipher: 'aes-128-gcm', keyLength: 16 },
  TLS_AES_256_GCM_SHA384: { hash: 'sha384', cipher: 'aes-256-gcm', keyLength: 32 },
  TLS_CHACHA20_POLY1305_SHA256: { hash: 'sha256', cipher: 'chacha20-poly1305', keyLength: 32 },
}

/** HKDF-Expand-Label (RFC 8446 §7.1) for outputs no longer than one hash block. */
function expandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1')
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 0xff, full.length]),
    full,
    Buffer.from([0, 1]),
  ])
  return createHmac(hash, secret).update(info).digest().subarray(0, length)
}

/**
 * The alert as the first record sealed with `serverTrafficSecret` (the keylog's
 * `SERVER_TRAFFIC_SECRET_0`); undefined for a cipher suite not listed above.
 */
export function sealedAlert(
  suite: string,
  serverTrafficSecret: Buffer,
  description: number,
): Buffer | undefined {
  const s = SUITES[suite]
  if (s === undefined) return undefined
  const key = expandLabel(s.hash, serverTrafficSecret, 'key', s.keyLength)
  // Sequence number 0: the nonce is the IV itself.
  const nonce = expandLabel(s.hash, serverTrafficSecret, 'iv', 12)
  // TLSInnerPlaintext: the alert, then its real content type; 16 bytes of tag follow.
  const inner = Buffer.from([FATAL, description, CONTENT_ALERT])
  const header = Buffer.from([CONTENT_APPLICATION_DATA, 3, 3, 0, inner.length + 16])
  const cipher = createCipheriv(s.cipher as 'aes-128-gcm', key, nonce, { authTagLength: 16 })
  cipher.setAAD(header)
  return Buffer.concat([header, cipher.update(inner), cipher.final(), cipher.getAuthTag()])
}
