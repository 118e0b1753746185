/**
 * The proxy gateways example through real HAProxy and nginx when installed (each kind skipped,
 * saying why, when not), its skip path with PATH emptied, and the committed configs: exactly what
 * `wanfed gateway --config examples/gateway.json --render <kind>` prints today.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { expectNoLeakedHandles, handleCounts } from 'wanfed/testing'
import { hasCommand } from '../lib/processes.ts'
import { main, type ProxyKind } from './run.ts'

const installed = (kind: ProxyKind) => hasCommand(kind, ['-v'])

async function run(kinds: ProxyKind[]): Promise<string[]> {
  const baseline = handleCounts()
  const lines: string[] = []
  await main((line) => lines.push(line), kinds)
  expect(lines.at(-1)).toBe('closed cleanly')
  await expectNoLeakedHandles(baseline)
  return lines
}

describe('proxy-gateways example', () => {
  const path = process.env['PATH']
  afterEach(() => {
    process.env['PATH'] = path
  })

  for (const kind of ['haproxy', 'nginx'] as const) {
    it.skipIf(!installed(kind))(
      `carries a packet and a stream through ${kind}`,
      async () => {
        const lines = await run([kind])
        expect(lines).toContain(`bob got "a packet through ${kind}"`)
        expect(lines).toContain(`alice's stream came back: "a stream through ${kind}"`)
        expect(lines).toContainEqual(
          expect.stringMatching(
            new RegExp(`^dc1's MeshGateway sent [1-9]\\d* connection\\(s\\) to dc2's ${kind}$`),
          ),
        )
      },
      60_000,
    )
  }

  it('says why and ends cleanly when neither proxy is installed', async () => {
    process.env['PATH'] = ''
    const lines = await run(['haproxy', 'nginx'])
    expect(lines).toEqual([
      'haproxy is not installed (apt-get install haproxy): skipped',
      'nginx is not installed (apt-get install nginx-light libnginx-mod-stream): skipped',
      'closed cleanly',
    ])
  })

  it('ships haproxy.cfg and nginx.conf as wanfed renders examples/gateway.json now', () => {
    for (const [kind, file] of [
      ['haproxy', 'haproxy.cfg'],
      ['nginx', 'nginx.conf'],
    ] as const) {
      const out = execFileSync(
        process.execPath,
        ['bin/wanfed.js', 'gateway', '--config', 'examples/gateway.json', '--render', kind],
        { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8' },
      )
      expect(
        readFileSync(new URL(file, import.meta.url), 'utf8'),
        `${file} is stale: regenerate it`,
      ).toBe(out)
    }
  })
})
