import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { type SecureVersion, connect as tlsConnect } from 'node:tls'
import { parseClientHello } from '../../src/gateway/client-hello.ts'
import { until } from './net.ts'

export interface HelloOptions {
  servername?: string
  alpn?: string[]
  minVersion?: SecureVersion
  maxVersion?: SecureVersion
}

/**
 * The exact bytes a real Node TLS client sends first: `tls.connect` to a raw TCP server that
 * records what arrives until the ClientHello is complete, then hangs up.
 */
export async function captureClientHello(options: HelloOptions = {}): Promise<Buffer> {
  let accepted: Socket | undefined
  const chunks: Buffer[] = []
  const server = createServer((socket) => {
    accepted = socket
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  const client = tlsConnect({
    host: '127.0.0.1',
    port,
    rejectUnauthorized: false,
    // An IP host sends no SNI; '' keeps it that way explicitly.
    servername: options.servername ?? '',
    ...(options.alpn === undefined ? {} : { ALPNProtocols: options.alpn }),
    ...(options.minVersion === undefined ? {} : { minVersion: options.minVersion }),
    ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
  })
  client.on('error', () => {})
  try {
    // Read what has arrived on each poll until it parses as a whole ClientHello.
    const hello = () => {
      if (accepted === undefined) return false
      for (let chunk: Buffer | null = accepted.read(); chunk !== null; chunk = accepted.read()) {
        chunks.push(chunk)
      }
      return chunks.length > 0 && parseClientHello(Buffer.concat(chunks)).status === 'ok'
    }
    await until(hello, 'a ClientHello to be captured')
    return Buffer.concat(chunks)
  } finally {
    client.destroy()
    accepted?.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** The handshake payload of a run of handshake records (the ClientHello message itself). */
export function handshakePayload(records: Buffer): { payload: Buffer; version: number } {
  const parts: Buffer[] = []
  let offset = 0
  let version = 0x0301
  while (offset + 5 <= records.length) {
    if (records[offset] !== 22) break
    if (offset === 0) version = records.readUInt16BE(1)
    const length = records.readUInt16BE(offset + 3)
    parts.push(records.subarray(offset + 5, offset + 5 + length))
    offset += 5 + length
  }
  return { payload: Buffer.concat(parts), version }
}

/**
 * Re-frames a ClientHello into handshake records of the given payload sizes (cycled; each at
 * least 1), as a client with a small record size or a middlebox may.
 */
export function refragment(records: Buffer, sizes: readonly number[]): Buffer {
  const { payload, version } = handshakePayload(records)
  const out: Buffer[] = []
  let offset = 0
  let i = 0
  while (offset < payload.length) {
    const want = Math.max(
      1,
      Math.min(16_384, sizes.length === 0 ? 16_384 : (sizes[i++ % sizes.length] as number)),
    )
    const piece = payload.subarray(offset, offset + want)
    const header = Buffer.alloc(5)
    header[0] = 22
    header.writeUInt16BE(version, 1)
    header.writeUInt16BE(piece.length, 3)
    out.push(header, piece)
    offset += piece.length
  }
  return Buffer.concat(out)
}

/** Cuts `bytes` into chunks at the given points (taken modulo its length, deduplicated). */
export function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Buffer[] = []
  let prev = 0
  for (const p of [...points, bytes.length]) {
    if (p > prev) pieces.push(bytes.subarray(prev, p))
    prev = p
  }
  return pieces
}
