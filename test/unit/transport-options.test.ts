import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import { StaticGatewayLocator } from '../../src/locator/index.ts'
import { checkTimeout } from '../../src/transport/dial-tcp.ts'
import { MemoryNetwork } from '../../src/transport/memory-network.ts'
import { NetTransport } from '../../src/transport/net-transport.ts'
import { WanfedTransport } from '../../src/transport/wanfed-transport.ts'
import { caPem, tlsFixture } from '../helpers/fixtures.ts'

// Every numeric option of the transports goes through one validator: a bad value is refused with
// an InvalidArgumentError naming the option and showing what came, whatever class it is given to.

const network = new MemoryNetwork()
const inner = network.createTransport()
const wanfed = (over: object) =>
  new WanfedTransport({
    transport: inner,
    datacenter: 'dc1',
    locator: new StaticGatewayLocator({}),
    tls: { ca: caPem(), ...tlsFixture('bob') },
    ...over,
  } as never)

const cases: [string, () => unknown, string, string][] = [
  ['pool.maxConnsPerNode', () => wanfed({ pool: { maxConnsPerNode: 0 } }), 'positive integer', '0'],
  [
    'pool.maxPendingPerNode',
    () => wanfed({ pool: { maxPendingPerNode: -1 } }),
    'non-negative integer',
    '-1',
  ],
  [
    'pool.maxPendingBytes',
    () => wanfed({ pool: { maxPendingBytes: 1.5 } }),
    'non-negative integer',
    '1.5',
  ],
  [
    'pool.idleTimeoutMs',
    () => wanfed({ pool: { idleTimeoutMs: Number.NaN } }),
    'positive integer ms',
    'NaN',
  ],
  [
    'pool.progressWindowMs',
    () => wanfed({ pool: { progressWindowMs: '5' } }),
    'positive integer ms',
    '"5"',
  ],
  ['maxPacketSize', () => wanfed({ maxPacketSize: 4_194_305 }), 'integer in 1..4194304', '4194305'],
  // setTimeout fires at once for a delay it cannot hold: Infinity is no "never" here.
  [
    'frameIdleTimeoutMs',
    () => wanfed({ frameIdleTimeoutMs: Number.POSITIVE_INFINITY }),
    'positive number ms',
    'Infinity',
  ],
  ['frameBodyTimeoutMs', () => wanfed({ frameBodyTimeoutMs: 0 }), 'positive number ms', '0'],
  ['highWaterMark', () => inner.packets({ highWaterMark: 0 }), 'positive integer', '0'],
  ['udpRecvBufferSize', () => new NetTransport({ udpRecvBufferSize: 0 }), 'positive integer', '0'],
  [
    'maxStreamsPending',
    () => new NetTransport({ maxStreamsPending: 2.5 }),
    'positive integer',
    '2.5',
  ],
  ['latencyMs', () => new MemoryNetwork({ latencyMs: -1 }), 'non-negative number ms', '-1'],
  ['lossRate', () => new MemoryNetwork({ lossRate: 1.5 }), 'in 0..1', '1.5'],
  [
    'dial x: timeoutMs',
    () => checkTimeout(0, 'dial x'),
    'positive number ms (or Infinity for none)',
    '0',
  ],
]

describe('transport options: one validator, one message shape', () => {
  for (const [name, make, expected, got] of cases) {
    it(`refuses a bad ${name}`, () => {
      let err: unknown
      try {
        make()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidArgumentError)
      const message = (err as Error).message
      expect(message.startsWith(`${name} must be `)).toBe(true)
      expect(message).toContain(expected)
      expect(message.endsWith(`, got ${got}`)).toBe(true)
    })
  }

  it('accepts Infinity for a dial timeout (none)', () => {
    expect(() => checkTimeout(Number.POSITIVE_INFINITY, 'dial x')).not.toThrow()
  })
})
