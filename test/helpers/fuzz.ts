import { connect, type Socket } from 'node:net'
import { fc } from '@fast-check/vitest'
import { afterAll, beforeAll, expect } from 'vitest'
import { isWanfedError } from '../../src/errors.ts'

/**
 * Case counts and the seed of the hostile-input tests (test/reliability/hostile-*). CI runs the
 * counts each file asks for; `npm run fuzz` (or `WANFED_FUZZ_RUNS=<n>`) runs `n` cases per property
 * instead, and `WANFED_FUZZ_SEED=<n>` replays another seed. The seed is fixed so a CI failure
 * reproduces: fast-check prints the seed and path of the failing case.
 */
export function fuzzRuns(ciDefault: number): number {
  const env = Number(process.env['WANFED_FUZZ_RUNS'])
  return Number.isSafeInteger(env) && env > 0 ? env : ciDefault
}

export const FUZZ_SEED = Number(process.env['WANFED_FUZZ_SEED'] ?? 0x11_5eed)

/** A test's timeout: `ciMs` for CI's counts, an hour for a long `npm run fuzz`. */
export function fuzzTimeout(ciMs: number): number {
  return process.env['WANFED_FUZZ_RUNS'] === undefined ? ciMs : 3_600_000
}

/** fast-check parameters for one hostile-input property with `ciDefault` cases in CI. */
export function fuzzParams(ciDefault: number): fc.Parameters<unknown> {
  return { numRuns: fuzzRuns(ciDefault), seed: FUZZ_SEED, endOnFailure: true }
}

/**
 * Catches what a hostile input could make escape: an uncaught exception or an unhandled rejection
 * anywhere in the process while the file runs. Vitest would report them too, but after the file,
 * and without saying which case did it; `expectNone()` after each case does.
 */
export function processErrorWatch(): { errors: unknown[]; expectNone(): void } {
  const errors: unknown[] = []
  const onError = (err: unknown) => errors.push(err)
  beforeAll(() => {
    process.on('uncaughtException', onError)
    process.on('unhandledRejection', onError)
  })
  afterAll(() => {
    process.off('uncaughtException', onError)
    process.off('unhandledRejection', onError)
    expect(errors).toEqual([])
  })
  return {
    errors,
    expectNone() {
      expect(errors).toEqual([])
    },
  }
}

/** Fails unless every error is a wanfed error (a typed class with a stable code). */
export function expectAllTyped(errors: readonly unknown[]): void {
  for (const err of errors)
    expect(isWanfedError(err), `untyped error: ${String((err as Error)?.stack ?? err)}`).toBe(true)
}

/**
 * A raw TCP connection to `port` on 127.0.0.1 that writes `chunks` one by one, half-closes, and
 * resolves once the far side has closed it (or after `ms`, with `closed: false`): how a hostile
 * client's bytes are delivered.
 */
export async function sendRaw(
  port: number,
  chunks: readonly Uint8Array[],
  ms = 10_000,
): Promise<{ closed: boolean; received: Buffer }> {
  const socket: Socket = connect({ host: '127.0.0.1', port })
  const received: Buffer[] = []
  socket.on('data', (c: Buffer) => received.push(c))
  // The far side may reset us mid-write: that is one of the outcomes, not a failure.
  socket.on('error', () => {})
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
  socket.once('connect', () => {
    for (const c of chunks) if (c.length > 0) socket.write(c)
    socket.end()
  })
  const ok = await closed
  socket.destroy()
  return { closed: ok, received: Buffer.concat(received) }
}

/** Up to `count` random single-byte edits of `bytes` (flip, set, insert, delete, truncate). */
export function mutation(): fc.Arbitrary<(bytes: Buffer) => Buffer> {
  const edit = fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      bit: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      value: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  )
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => (input: Buffer) => {
    let b = Buffer.from(input)
    for (const e of edits) {
      if (b.length === 0) break
      const at = e.at % b.length
      switch (e.kind) {
        case 'flip':
          b[at] = (b[at] as number) ^ (1 << e.bit)
          break
        case 'set':
          b[at] = e.value
          break
        case 'insert':
          b = Buffer.concat([b.subarray(0, at), Buffer.from([e.value]), b.subarray(at)])
          break
        case 'delete':
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
          break
        case 'truncate':
          b = b.subarray(0, at)
          break
      }
    }
    return b
  })
}

/** Random bytes of `minLength` to `maxLength`, or one of `bases` put through a {@link mutation}. */
export function randomOrMutated(
  bases: readonly Buffer[],
  length: { minLength: number; maxLength: number },
): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array(length).map((b) => Buffer.from(b)),
    fc.tuple(fc.nat(), mutation()).map(([i, mutate]) => mutate(bases[i % bases.length] as Buffer)),
  )
}
