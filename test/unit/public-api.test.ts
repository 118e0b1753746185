import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
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
  admin: ['createAdminServer', 'AdminEndpoint', 'AdminServer'],
  memberlist: [
    'Memberlist',
    'DefaultLANConfig',
    'DefaultWANConfig',
    'DefaultLocalConfig',
    'Keyring',
  ],
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

  it('the root lists its exports explicitly: exactly the submodules but testing, and the errors', () => {
    const text = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8')
    expect(text).not.toMatch(/export \*/)
    const exports = moduleExports()
    const expected = new Set<string>()
    for (const [file, names] of exports) {
      if (file === 'index.ts' || file === 'testing/index.ts') continue
      for (const name of names.keys()) expected.add(name)
    }
    expect([...(exports.get('index.ts')?.keys() ?? [])].sort()).toEqual([...expected].sort())
  })

  it('every public name, types included, is declared in a public module, not src/internal', () => {
    for (const [file, names] of moduleExports()) {
      for (const [name, declaredIn] of names) {
        expect(declaredIn, `${file}: ${name}`).not.toMatch(/[\\/]src[\\/]internal[\\/]/)
      }
    }
  })
})

let exportsCache: Map<string, Map<string, string>> | undefined

/** Each public entry point's exports (types too) and the file each is declared in. */
function moduleExports(): Map<string, Map<string, string>> {
  exportsCache ??= readExports()
  return exportsCache
}

function readExports(): Map<string, Map<string, string>> {
  const src = fileURLToPath(new URL('../../src/', import.meta.url))
  const entries = ['index.ts', 'errors.ts', ...Object.keys(publicNames).map((m) => `${m}/index.ts`)]
  const program = ts.createProgram(
    entries.map((e) => src + e),
    {
      allowImportingTsExtensions: true,
      noEmit: true,
      strict: true,
      module: ts.ModuleKind.Node20,
      target: ts.ScriptTarget.ES2023,
      types: ['node'],
    },
  )
  const checker = program.getTypeChecker()
  const result = new Map<string, Map<string, string>>()
  for (const entry of entries) {
    const source = program.getSourceFile(src + entry) as ts.SourceFile
    const names = new Map<string, string>()
    for (const symbol of checker.getExportsOfModule(
      checker.getSymbolAtLocation(source) as ts.Symbol,
    )) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      names.set(symbol.name, target.declarations?.[0]?.getSourceFile().fileName ?? '?')
    }
    result.set(entry, names)
  }
  return result
}
