import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// The names outside code imports (DESIGN.md, "Public names"): fixed, so a rename is a red test.
const publicNames: Record<string, string[]> = {
  alpn: [
    'ALPN_WAN_GOSSIP_PACKET',
    'ALPN_WAN_GOSSIP_STREAM',
    'ALPN_RPC_CONSUL',
    'ALPN_RPC_RAFT',
    'ALPN_RPC_MULTIPLEX_V2',
    'ALPN_RPC_SNAPSHOT',
    'ALPN_RPC_GOSSIP',
    'ALPN_RPC_GRPC',
    'ALPN_RPC_RAFT_FORWARDING',
    'RPC_MAX_TYPE_VALUE',
    'isNativeTlsFirstByte',
    'encodeFrame',
    'FrameDecoder',
    'MAX_PACKET_SIZE',
    'serverSni',
    'dialViaGateway',
    'AlpnServer',
  ],
  transport: ['NetTransport', 'MemoryNetwork', 'WanfedTransport', 'splitNodeName'],
  locator: ['StaticGatewayLocator'],
  gateway: ['MeshGateway', 'renderHaproxyConfig', 'renderNginxConfig'],
  certs: ['createCertificateAuthority', 'createServerCertificate'],
  testing: ['transportConformance'],
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, { types: string; default: string } | string>
}

describe('public API', () => {
  for (const [module, names] of Object.entries(publicNames)) {
    it(`wanfed/${module} exports ${names.length} fixed names, and the root re-exports them`, async () => {
      const mod = (await import(`../../src/${module}/index.ts`)) as Record<string, unknown>
      for (const name of names) expect(mod[name], `${module}.${name}`).toBeDefined()
      if (module === 'testing') return
      const root = (await import('../../src/index.ts')) as Record<string, unknown>
      for (const name of names) expect(root[name], `root.${name}`).toBe(mod[name])
    })
  }

  it('the root does not pull in vitest (wanfed/testing stays separate)', async () => {
    const root = (await import('../../src/index.ts')) as Record<string, unknown>
    expect(root['transportConformance']).toBeUndefined()
  })

  it('every export map entry points at a module that exists in src', () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      const src = target.default.replace('./dist/', 'src/').replace(/\.js$/, '.ts')
      expect(existsSync(new URL(`../../${src}`, import.meta.url)), `${subpath} -> ${src}`).toBe(
        true,
      )
      expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'))
    }
  })
})
