/**
 * docs/operations.md names real things: every metric it tells operators to alert on is one
 * observability.md lists (which its own test keeps equal to the exporter), every default in its
 * tuning table is the code's, and every relative link in docs/ resolves.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS,
} from '../../src/alpn/index.ts'
import {
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
} from '../../src/gateway/options.ts'
import {
  DEFAULT_LIVENESS_INTERVAL_MS,
  DEFAULT_RPC_TIMEOUT_MS,
  PRIMARY_GATEWAYS_INTERVAL_MS,
} from '../../src/locator/index.ts'

const docs = new URL('../../docs/', import.meta.url)
const read = (name: string) => readFileSync(new URL(name, docs), 'utf8')

describe('docs/operations.md', () => {
  it('alerts only on metrics observability.md lists', () => {
    const listed = new Set(read('observability.md').match(/wanfed_[a-z_]+/g))
    const named = [...new Set(read('operations.md').match(/`wanfed_[a-z_]+/g))].map((m) =>
      m.slice(1),
    )
    expect(named.length).toBeGreaterThan(10)
    // `wanfed_pool_dropped_total` (by cause: `_congested`, ...) names suffixes, not metrics.
    expect(named.filter((n) => !listed.has(n))).toEqual([])
  })

  it("gives the code's defaults in its tuning table", () => {
    const row = (option: string) => {
      const line = read('operations.md')
        .split('\n')
        .find((l) => l.includes(`| \`${option}\``))
      expect(line, option).toBeDefined()
      return line as string
    }
    const ms = (n: number) => n.toLocaleString('en-US')
    expect(row('connectTimeoutMs')).toContain(ms(DEFAULT_CONNECT_TIMEOUT_MS))
    expect(row('handshakeTimeoutMs')).toContain(ms(DEFAULT_HANDSHAKE_TIMEOUT_MS))
    expect(row('helloTimeoutMs')).toContain(ms(DEFAULT_HELLO_TIMEOUT_MS))
    expect(row('idleTimeoutMs')).toContain(ms(DEFAULT_IDLE_TIMEOUT_MS))
    expect(row('primaryGatewaysIntervalMs')).toContain(ms(PRIMARY_GATEWAYS_INTERVAL_MS))
    expect(row('DEFAULT_RPC_TIMEOUT_MS')).toContain(ms(DEFAULT_RPC_TIMEOUT_MS))
    expect(row('livenessIntervalMs')).toContain(ms(DEFAULT_LIVENESS_INTERVAL_MS))
    const text = read('operations.md')
    expect(text).toMatch(
      new RegExp(
        `\\| \`MeshGateway\` +\\| \`connectTimeoutMs\` +\\| ${ms(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)} `,
      ),
    )
    expect(text).toMatch(
      new RegExp(
        `\\| \`AlpnServer\` +\\| \`handshakeTimeoutMs\` +\\| ${ms(DEFAULT_SERVER_HANDSHAKE_TIMEOUT_MS)} `,
      ),
    )
  })
})

describe('docs/', () => {
  it('links only to files that exist', () => {
    const missing: string[] = []
    for (const name of readdirSync(docs).filter((f) => f.endsWith('.md'))) {
      for (const m of read(name).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const link = m[1] as string
        if (/^[a-z]+:/.test(link)) continue
        if (!existsSync(new URL(link, new URL(name, docs)))) missing.push(`${name}: ${link}`)
      }
    }
    expect(missing).toEqual([])
  })
})
