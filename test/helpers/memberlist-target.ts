import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect } from 'node:net'
import { expect } from 'vitest'
import type { Clock } from '../../src/internal/clock.ts'
import {
  DefaultLocalConfig,
  Keyring,
  Memberlist,
  type MemberlistOptions,
} from '../../src/memberlist/index.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import type { Cleanup } from './leaks.ts'
import { until } from './net.ts'

/** The pool key of the encrypted hostile-input targets (16 bytes, AES-128). */
export const POOL_KEY = Buffer.alloc(16, 7)

/** Every reason `Memberlist.stats().dropped` may count; anything else would be an untyped failure. */
export const DROP_REASONS = new Set([
  'truncated',
  'malformed',
  'oversized',
  'crc',
  'compression',
  'unknown-type',
  'label',
  'decrypt',
  'wrong-node',
  'blocked',
  'bad-version',
  'no-version',
  'alive-vetoed',
  'conflict',
  'too-many-push-pulls',
])

/**
 * Timing for a Memberlist that is attacked on a loaded 2-core machine: probe and ping timeouts
 * generous enough that a legitimate ping never times out for lack of CPU.
 */
export function patientConfig(): Partial<MemberlistOptions> {
  return {
    ...DefaultLocalConfig(),
    probeIntervalMs: 2_000,
    probeTimeoutMs: 1_500,
    tcpTimeoutMs: 2_000,
    // Members live only on loopback: a forged alive naming another address is refused.
    cidrsAllowed: ['127.0.0.0/8'],
  }
}

export interface MemberlistTarget {
  ml: Memberlist
  /** The UDP/TCP port of its NetTransport on 127.0.0.1. */
  port: number
  /** User messages its delegate got, in order. */
  delivered: Buffer[]
}

/** A Memberlist on a NetTransport on 127.0.0.1, closed by `cleanups`. */
export async function memberlistOnLoopback(
  name: string,
  cleanups: Cleanup[],
  clock: Clock,
  extra: Partial<MemberlistOptions> = {},
): Promise<MemberlistTarget> {
  const delivered: Buffer[] = []
  const transport = new NetTransport({ bindAddrs: ['127.0.0.1'], bindPort: 0, clock })
  const ml = await Memberlist.create({
    ...patientConfig(),
    name,
    transport,
    clock,
    delegate: { notifyMsg: (m: Buffer) => delivered.push(Buffer.from(m)) },
    ...extra,
  })
  cleanups.push(() => ml.close())
  const port = Number(ml.localNode.address.split(':').pop())
  return { ml, port, delivered }
}

/** Options for a member of the encrypted pool (`label` and the pool key). */
export function encryptedPool(label: string): Partial<MemberlistOptions> {
  return { keyring: Keyring.fromBase64(POOL_KEY.toString('base64')), label }
}

/** Fails unless every drop reason `ml` counted is one of {@link DROP_REASONS}. */
export function expectTypedDrops(ml: Memberlist): void {
  for (const reason of Object.keys(ml.stats().dropped))
    expect(DROP_REASONS, `drop reason ${reason}`).toContain(reason)
}

/** One UDP socket on 127.0.0.1 for sending hostile packets, closed by `cleanups`. */
export async function udpSender(cleanups: Cleanup[]): Promise<{
  socket: UdpSocket
  /** Sends `buf` to `port` and waits until `target` counted one more packet received. */
  send(target: MemberlistTarget, buf: Buffer): Promise<void>
}> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  // Acks to our pings land here; they are not what is tested.
  socket.on('message', () => {})
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  return {
    socket,
    async send(target, buf) {
      const before = target.ml.stats().packets.received
      await new Promise<void>((resolve, reject) =>
        socket.send(buf, target.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
      )
      await until(() => target.ml.stats().packets.received > before, 'the packet to be read')
    },
  }
}

/**
 * Writes `bytes` on a fresh TCP connection to the target's port, half-closes, and waits for the
 * target to close it (it answers, refuses, or times the stream out at `tcpTimeoutMs`).
 */
export async function streamTo(target: MemberlistTarget, bytes: Buffer): Promise<void> {
  const before = target.ml.stats().streams.accepted
  const socket = connect({ host: '127.0.0.1', port: target.port })
  socket.on('error', () => {})
  socket.resume()
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.once('connect', () => socket.end(bytes))
  await closed
  await until(() => target.ml.stats().streams.accepted > before, 'the stream to be accepted')
}
