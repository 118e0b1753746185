import { describe, expect, it } from 'vitest'
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from '../../src/alpn/dial.ts'
import { gatewayCommand } from '../../src/cli/gateway.ts'
import {
  DEFAULT_ANSWER_TIMEOUT_MS,
  DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS,
  resolveGatewayOptions,
} from '../../src/gateway/options.ts'
import { renderHaproxyConfig, renderNginxConfig } from '../../src/gateway/proxy-config.ts'
import { routeTable } from '../../src/gateway/routes.ts'

// The rule behind the gateway's default timeouts: a gateway gives up on a black-holed remote
// gateway (connect) and on a silent one (answer), and tries the next, before the dialling node
// gives up on its handshake. Were they equal, the node would fail the dial exactly when the
// gateway moved on (measured: WANFED_ERR_TIMEOUT after 10.0 s with 10 s / 10 s).

describe('default timeouts: a gateway fails over before the node gives up', () => {
  it('connect + answer < the node’s handshake timeout, in MeshGateway as resolved', () => {
    const o = resolveGatewayOptions({ datacenter: 'dc1', servers: {} })
    expect(o.connectTimeoutMs).toBe(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)
    expect(o.answerTimeoutMs).toBe(DEFAULT_ANSWER_TIMEOUT_MS)
    expect(o.connectTimeoutMs + o.answerTimeoutMs).toBeLessThan(DEFAULT_HANDSHAKE_TIMEOUT_MS)
  })

  it('the rendered HAProxy and nginx configs connect upstream within the same default', () => {
    const table = routeTable({ datacenter: 'dc1', servers: { bob: '10.0.1.5:8300' } })
    const haproxy = renderHaproxyConfig(table, { bind: '127.0.0.1:8443' })
    const nginx = renderNginxConfig(table, { bind: '127.0.0.1:8443' })
    const ms = (text: string, re: RegExp) => Number(re.exec(text)?.[1])
    const h = ms(haproxy, /timeout connect (\d+)ms/)
    const n = ms(nginx, /proxy_connect_timeout (\d+)ms/)
    expect(h).toBe(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)
    expect(n).toBe(DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS)
    expect(h).toBeLessThan(DEFAULT_HANDSHAKE_TIMEOUT_MS)
  })

  it('`wanfed gateway --help` states the default', () => {
    expect(gatewayCommand.usage).toMatch(/--connect-timeout.*\(default 4s\)/)
    expect(gatewayCommand.usage).toContain(
      `"connectTimeoutMs": ${DEFAULT_GATEWAY_CONNECT_TIMEOUT_MS}`,
    )
  })
})
