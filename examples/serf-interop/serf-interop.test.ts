/**
 * The Serf interop example against a real `serf agent` when serf is installed, and its skip path
 * (PATH emptied, so serf is absent whatever the machine has).
 */
import { encode } from '@msgpack/msgpack'
import { afterEach, describe, expect, it } from 'vitest'
import { expectNoLeakedHandles, handleCounts } from 'wanfed/testing'
import { hasCommand } from '../lib/processes.ts'
import { decodeSerfUserEvent, main } from './run.ts'

const hasSerf = hasCommand('serf', ['version'])
if (!hasSerf)
  console.warn(
    'serf-interop: `serf` is not installed (apt-get install serf); the run against it is skipped',
  )

async function run(): Promise<string[]> {
  const baseline = handleCounts()
  const lines: string[] = []
  await main((line) => lines.push(line))
  expect(lines.at(-1)).toBe('closed cleanly')
  await expectNoLeakedHandles(baseline)
  return lines
}

describe('serf-interop example', () => {
  const path = process.env['PATH']
  afterEach(() => {
    process.env['PATH'] = path
  })

  it.skipIf(!hasSerf)(
    'joins a serf agent: members both ways with tags, a user event received',
    async () => {
      const lines = await run()
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^node-ts sees serf-a at 127\.0\.0\.1:\d+, alive, tags \{"role":"web"\}$/,
        ),
      )
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^serf members: node-ts 127\.0\.0\.1:\d+ alive \{"lang":"ts","role":"node"\}$/,
        ),
      )
      expect(lines).toContain('node-ts got Serf user event "deploy": "v42"')
    },
    60_000,
  )

  it('says why and ends cleanly when serf is not installed', async () => {
    process.env['PATH'] = ''
    const lines = await run()
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^serf is not installed .*skipped$/)
  })

  it('decodes Serf user events and nothing else', () => {
    const event = (payload: unknown) =>
      Buffer.concat([
        Buffer.from([3]),
        encode({ LTime: 7, Name: 'deploy', Payload: payload, CC: false }),
      ])
    expect(decodeSerfUserEvent(event(Buffer.from('v42')))).toEqual({
      name: 'deploy',
      payload: 'v42',
    })
    expect(decodeSerfUserEvent(event('v42'))).toEqual({ name: 'deploy', payload: 'v42' })
    expect(decodeSerfUserEvent(Buffer.from([0, 1, 2]))).toBeUndefined() // a leave intent's type
    expect(decodeSerfUserEvent(Buffer.from([3, 0xc1]))).toBeUndefined() // not msgpack
  })
})
