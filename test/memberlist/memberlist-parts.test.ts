import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import { bytesToIp, ensurePort, ipToBytes, joinHostPort } from '../../src/memberlist/address.ts'
import { Awareness } from '../../src/memberlist/awareness.ts'
import {
  DefaultLANConfig,
  DefaultLocalConfig,
  DefaultWANConfig,
  validateConfig,
} from '../../src/memberlist/config.ts'
import { Suspicion } from '../../src/memberlist/suspicion.ts'
import {
  pushPullScale,
  remainingSuspicionTime,
  retransmitLimit,
  suspicionTimeout,
} from '../../src/memberlist/timing.ts'
import {
  type Broadcast,
  TransmitLimitedQueue,
} from '../../src/memberlist/transmit-limited-queue.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock } = leakGuard()

function named(name: string, size: number, done: string[] = []): Broadcast {
  return {
    name,
    invalidates: () => false,
    message: () => Buffer.alloc(size, 1),
    finished: () => done.push(name),
  }
}

describe('memberlist timing rules', () => {
  it('match memberlist’s formulas', () => {
    // util_test.go's table: suspicionTimeout(3, n, 1s) / 3.
    const table: [number, number][] = [
      [5, 1000],
      [10, 1000],
      [50, 1698],
      [100, 2000],
      [500, 2698],
      [1000, 3000],
    ]
    for (const [n, ms] of table) expect(suspicionTimeout(3, n, 1000) / 3).toBe(ms)
    expect(retransmitLimit(3, 0)).toBe(0)
    expect(retransmitLimit(3, 1)).toBe(3)
    expect(retransmitLimit(3, 99)).toBe(6)
    expect(pushPullScale(1000, 32)).toBe(1000)
    expect(pushPullScale(1000, 33)).toBe(2000)
    expect(pushPullScale(1000, 65)).toBe(3000)
    // suspicion_test.go: k=3, min 2 s, max 30 s.
    expect(remainingSuspicionTime(0, 3, 0, 2000, 30_000)).toBe(30_000)
    expect(remainingSuspicionTime(1, 3, 2000, 2000, 30_000)).toBe(14_000)
    expect(remainingSuspicionTime(2, 3, 3000, 2000, 30_000)).toBe(4_810)
    expect(remainingSuspicionTime(3, 3, 4000, 2000, 30_000)).toBe(-2_000)
    expect(remainingSuspicionTime(5, 3, 10_000, 2000, 30_000)).toBe(-8_000)
  })

  it('configs are valued as memberlist’s', () => {
    const lan = DefaultLANConfig()
    expect([
      lan.probeIntervalMs,
      lan.probeTimeoutMs,
      lan.suspicionMult,
      lan.gossipIntervalMs,
      lan.pushPullIntervalMs,
      lan.tcpTimeoutMs,
    ]).toEqual([1000, 500, 4, 200, 30_000, 10_000])
    const wan = DefaultWANConfig()
    expect([
      wan.probeIntervalMs,
      wan.probeTimeoutMs,
      wan.suspicionMult,
      wan.gossipNodes,
      wan.gossipIntervalMs,
      wan.pushPullIntervalMs,
      wan.tcpTimeoutMs,
      wan.gossipToTheDeadTimeMs,
    ]).toEqual([5000, 3000, 6, 4, 500, 60_000, 30_000, 60_000])
    const local = DefaultLocalConfig()
    expect([
      local.probeIntervalMs,
      local.probeTimeoutMs,
      local.suspicionMult,
      local.indirectChecks,
      local.retransmitMult,
      local.tcpTimeoutMs,
    ]).toEqual([1000, 200, 3, 1, 2, 1000])
    expect(() => validateConfig({ ...lan, probeIntervalMs: 0 })).toThrow(InvalidArgumentError)
    expect(() => validateConfig({ ...lan, protocolVersion: 6 })).toThrow(/protocolVersion/)
    expect(() =>
      validateConfig({ ...lan, delegateProtocolMin: 3, delegateProtocolMax: 2 }),
    ).toThrow(/delegateProtocolMin/)
  })

  it('awareness stays within 0..max-1 and scales timeouts', () => {
    const a = new Awareness(8)
    a.applyDelta(-1)
    expect(a.score).toBe(0)
    a.applyDelta(20)
    expect(a.score).toBe(7)
    expect(a.scaleTimeout(1000)).toBe(8000)
  })
})

describe('TransmitLimitedQueue', () => {
  it('sends least-transmitted first, largest that fits, and retires after the limit', () => {
    const done: string[] = []
    const q = new TransmitLimitedQueue(() => 10, 1)
    q.queueBroadcast(named('a', 10, done))
    q.queueBroadcast(named('b', 30, done))
    q.queueBroadcast(named('c', 20, done))
    // limit 1 * ceil(log10(11)) = 2 transmits each.
    expect(q.getBroadcasts(2, 40).map((m) => m.length)).toEqual([30])
    expect(q.getBroadcasts(2, 40).map((m) => m.length)).toEqual([20, 10])
    expect(q.getBroadcasts(2, 100).map((m) => m.length)).toEqual([30, 20, 10])
    expect(done.sort()).toEqual(['a', 'b', 'c'])
    expect(q.numQueued()).toBe(0)
  })

  it('a broadcast of the same name replaces the queued one; invalidates() drops unnamed ones', () => {
    const done: string[] = []
    const q = new TransmitLimitedQueue(() => 3, 4)
    q.queueBroadcast(named('n1', 5, done))
    q.queueBroadcast(named('n1', 6, done))
    expect(done).toEqual(['n1'])
    expect(q.numQueued()).toBe(1)
    const plain = (tag: string): Broadcast & { tag: string } => ({
      tag,
      invalidates: (o) => (o as { tag?: string }).tag === tag,
      message: () => Buffer.from(tag),
      finished: () => done.push(`plain ${tag}`),
    })
    q.queueBroadcast(plain('x'))
    q.queueBroadcast(plain('x'))
    q.queueBroadcast({ ...plain('x'), unique: true })
    expect(q.numQueued()).toBe(3)
    q.prune(1)
    expect(q.numQueued()).toBe(1)
    q.reset()
    expect(q.numQueued()).toBe(0)
  })
})

describe('Suspicion', () => {
  it('fires at min with no confirmations needed, and shortens with confirmations', async () => {
    const fired: number[] = []
    const start = clock.now()
    const s = new Suspicion('a', 0, 20, 200, (n) => fired.push(n), clock)
    expect(s.confirm('b')).toBe(false)
    await until(() => fired.length === 1, 'fired at min')
    expect(clock.now() - start).toBeLessThan(190)
    const fired2: number[] = []
    const s2 = new Suspicion('a', 2, 20, 10_000, (n) => fired2.push(n), clock)
    expect(s2.confirm('a')).toBe(false)
    expect(s2.confirm('b')).toBe(true)
    expect(s2.confirm('b')).toBe(false)
    expect(s2.confirm('c')).toBe(true)
    expect(s2.confirm('d')).toBe(false)
    await until(() => fired2.length === 1, 'fired once both confirmed')
    expect(fired2).toEqual([2])
    const s3 = new Suspicion('a', 1, 1000, 2000, () => {}, clock)
    s3.cancel()
  })
})

describe('addresses', () => {
  it('converts IPs as Go prints them', () => {
    expect(ipToBytes('127.0.0.1')).toEqual(Buffer.from([127, 0, 0, 1]))
    expect(bytesToIp(ipToBytes('::1'))).toBe('::1')
    expect(bytesToIp(ipToBytes('fe80::1:2'))).toBe('fe80::1:2')
    expect(bytesToIp(ipToBytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1')
    expect(bytesToIp(ipToBytes('::ffff:10.1.2.3'))).toBe('10.1.2.3')
    expect(bytesToIp(ipToBytes('1:2:3:4:5:6:7:8'))).toBe('1:2:3:4:5:6:7:8')
    expect(bytesToIp(Buffer.from([1, 2, 3]))).toBe('')
    expect(() => ipToBytes('host')).toThrow(InvalidArgumentError)
    expect(joinHostPort('::1', 80)).toBe('[::1]:80')
    expect(ensurePort('10.0.0.1', 7946)).toBe('10.0.0.1:7946')
    expect(ensurePort('10.0.0.1:1', 7946)).toBe('10.0.0.1:1')
    expect(ensurePort('[::1]', 7946)).toBe('[::1]:7946')
    expect(ensurePort('::1', 7946)).toBe('[::1]:7946')
  })
})
