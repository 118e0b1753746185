import { describe, expect, it } from 'vitest'
import { renderHaproxyConfig, renderNginxConfig } from '../../src/gateway/proxy-config.ts'
import { routeTable } from '../../src/gateway/routes.ts'

const table = routeTable({
  datacenter: 'dc1',
  servers: { bob: '10.0.1.5:8300', alice: '10.0.1.6:8300' },
  remoteGateways: { dc2: ['10.0.2.1:8443', '10.0.2.2:8443'], dc3: [] },
})

describe('renderHaproxyConfig', () => {
  const cfg = renderHaproxyConfig(table, { bind: '127.0.0.1:8443', helloTimeoutMs: 3_000 })

  it('waits for the ClientHello and routes local names exactly, remote DCs by suffix', () => {
    expect(cfg).toContain('mode tcp')
    expect(cfg).toContain('tcp-request inspect-delay 3000ms')
    expect(cfg).toContain('tcp-request content accept if { req.ssl_hello_type 1 }')
    expect(cfg).toContain(
      'use_backend wanfed_bob_server_dc1_consul if { req.ssl_sni -i bob.server.dc1.consul }',
    )
    expect(cfg).toContain(
      'use_backend wanfed_server_dc1_consul if { req.ssl_sni -i server.dc1.consul }',
    )
    expect(cfg).toContain(
      'use_backend wanfed_server_dc2_consul if { req.ssl_sni -i server.dc2.consul } || { req.ssl_sni -i -m end .server.dc2.consul }',
    )
    expect(cfg).not.toContain('dc3')
    expect(cfg).not.toContain('default_backend')
  })

  it('lists every target, with redispatch for failover', () => {
    expect(cfg).toMatch(
      /backend wanfed_server_dc2_consul\n {2}balance roundrobin\n {2}server s0 10\.0\.2\.1:8443\n {2}server s1 10\.0\.2\.2:8443/,
    )
    expect(cfg).toContain('option redispatch')
    expect(cfg).toContain('bind 127.0.0.1:8443')
  })
})

describe('renderNginxConfig', () => {
  const cfg = renderNginxConfig(table, {
    bind: ['127.0.0.1:8443', '[::1]:8443'],
    pidFile: '/tmp/x.pid',
  })

  it('maps SNI names to upstreams with ssl_preread, suffix entries for remote DCs', () => {
    expect(cfg).toContain('load_module /usr/lib/nginx/modules/ngx_stream_module.so;')
    expect(cfg).toContain('ssl_preread on;')
    expect(cfg).toContain('proxy_half_close on;')
    expect(cfg).toContain('    bob.server.dc1.consul wanfed_bob_server_dc1_consul;')
    expect(cfg).toContain('    .server.dc2.consul wanfed_server_dc2_consul;')
    // The suffix entry covers the exact DC name; nginx refuses a name twice.
    expect(cfg).not.toContain('    server.dc2.consul wanfed_server_dc2_consul;')
    expect(cfg).toContain('default wanfed_reject;')
    expect(cfg).toContain('listen [::1]:8443;')
    expect(cfg).toContain('pid /tmp/x.pid;')
  })

  it('leaves out load_module for a built-in stream module', () => {
    expect(renderNginxConfig(table, { bind: '127.0.0.1:1', streamModule: null })).not.toContain(
      'load_module',
    )
  })
})

describe('renderers refuse bad settings, naming them', () => {
  it.each([
    [{ bind: [] }, /bind/],
    [{ bind: 'nope' }, /bind address/],
    [{ bind: '127.0.0.1:1', helloTimeoutMs: 0 }, /helloTimeoutMs/],
    [{ bind: '127.0.0.1:1', idleTimeoutMs: 1.5 }, /idleTimeoutMs/],
  ])('%o', (options, message) => {
    expect(() => renderHaproxyConfig(table, options as never)).toThrow(message)
    expect(() => renderNginxConfig(table, options as never)).toThrow(message)
  })
})
