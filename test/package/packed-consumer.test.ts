/**
 * The package as a consumer gets it: `npm pack` (which builds through `prepack`), the tarball
 * installed into fresh apps in the OS temp dir, then the README quick start (taken from README.md
 * here, so it cannot drift), a CommonJS consumer, a transport built on `BaseTransport` and the
 * conformance suite, typechecked with strict `nodenext` TypeScript and run. One app runs vitest 4,
 * a second vitest 3 (the optional peer range covers both). The package is packed once per run and
 * npm's cache is reused (`--prefer-offline`); the consumers' own devDependencies come from the
 * registry.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CONSUMER = fileURLToPath(new URL('./consumer/', import.meta.url))
/** Installs and builds take long on a cold npm cache and a busy machine: these tests only. */
const SETUP_TIMEOUT_MS = 900_000
const TEST_TIMEOUT_MS = 300_000

const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  version: string
  devDependencies: Record<string, string>
  peerDependencies: Record<string, string>
}

interface Run {
  stdout: string
  stderr: string
}

/** Runs a command; rejects with everything it printed, so a CI failure explains itself. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = TEST_TIMEOUT_MS): Promise<Run> {
  // The child is not one of this run's workers: vitest's own variables would confuse a nested vitest.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'),
  )
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`,
            ),
          )
        } else resolve({ stdout, stderr })
      },
    )
  })
}

/** The first ```ts block under "## Quick start" in README.md: the code the README shows. */
function quickStart(readme: string): string {
  const section = readme.indexOf('\n## Quick start\n')
  if (section < 0) throw new Error('README.md has no "## Quick start" section')
  const start = readme.indexOf('\n```ts\n', section)
  const next = readme.indexOf('\n## ', section + 1)
  if (start < 0 || (next >= 0 && start > next)) throw new Error('the quick start has no ts block')
  const end = readme.indexOf('\n```\n', start + 1)
  return `${readme.slice(start + '\n```ts\n'.length, end)}\n`
}

const tsconfig = {
  compilerOptions: {
    strict: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2023',
    types: ['node'],
    // Checks wanfed's own .d.ts as well: they must be sound, not merely skipped.
    skipLibCheck: false,
    // What a current nodenext project writes: `.ts` imports, rewritten on emit.
    allowImportingTsExtensions: true,
    rewriteRelativeImportExtensions: true,
    rootDir: 'src',
    outDir: 'out',
  },
  include: ['src'],
}

let work: string
let tarball: string
let app4: string
let app3: string

/** A fresh app in the temp dir with the tarball and the given devDependencies installed. */
async function makeApp(name: string, devDependencies: Record<string, string>): Promise<string> {
  const dir = join(work, name)
  await mkdir(join(dir, 'src'), { recursive: true })
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        dependencies: { wanfed: `file:${tarball}` },
        devDependencies,
      },
      null,
      2,
    ),
  )
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
  // Plain `npm install`: a peer range that excludes the app's vitest fails here (ERESOLVE).
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund'],
    dir,
    SETUP_TIMEOUT_MS,
  )
  return dir
}

/** The shipped example transport and its conformance test, copied out of the installed package. */
async function addTransportExample(dir: string): Promise<void> {
  const examples = join(dir, 'node_modules', 'wanfed', 'examples')
  await copyFile(join(examples, 'label-transport.ts'), join(dir, 'src', 'label-transport.ts'))
  await copyFile(
    join(examples, 'test-your-transport.test.ts'),
    join(dir, 'src', 'test-your-transport.test.ts'),
  )
}

async function installedVersion(dir: string, name: string): Promise<string> {
  const file = join(dir, 'node_modules', name, 'package.json')
  return (JSON.parse(await readFile(file, 'utf8')) as { version: string }).version
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'wanfed-package-'))
  const packDir = join(work, 'pack')
  await mkdir(packDir)
  await run('npm', ['pack', '--pack-destination', packDir], ROOT, SETUP_TIMEOUT_MS)
  const [file] = (await readdir(packDir)).filter((f) => f.endsWith('.tgz'))
  if (file === undefined) throw new Error('npm pack wrote no tarball')
  tarball = join(packDir, file)
  const shared = {
    typescript: pkg.devDependencies['typescript'] as string,
    '@types/node': pkg.devDependencies['@types/node'] as string,
  }
  ;[app4, app3] = await Promise.all([
    makeApp('consumer-vitest4', { ...shared, vitest: '^4.0.0' }),
    makeApp('consumer-vitest3', { ...shared, vitest: '^3.0.0' }),
  ])
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true })
})

describe('the packed package', () => {
  it('ships the build, the license, and every file the README links to', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], work)
    const files = new Set(stdout.split('\n').map((f) => f.replace(/^package\//, '')))
    for (const f of [
      'package.json',
      'LICENSE',
      'README.md',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/transport/base-transport.d.ts',
      'dist/testing/index.js',
      'bin/wanfed.js',
      'examples/gateway.json',
    ]) {
      expect(files, f).toContain(f)
    }
    expect([...files].filter((f) => f.endsWith('.tsbuildinfo'))).toEqual([])
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] as string)
    expect(links.length).toBeGreaterThan(3)
    for (const link of links) {
      if (/^[a-z]+:/.test(link)) continue
      expect(files, `README link ${link}`).toContain(link)
    }
    // The typings keep BaseTransport: NetTransport and WanfedTransport inherit on/listen/close/stats.
    const base = await readFile(
      join(app4, 'node_modules/wanfed/dist/transport/base-transport.d.ts'),
      'utf8',
    )
    expect(base).toContain('export declare abstract class BaseTransport')
  })

  it(
    'installs into a strict nodenext TypeScript app; the README quick start, a CommonJS consumer and a BaseTransport subclass typecheck and run',
    async () => {
      expect(await installedVersion(app4, 'wanfed')).toBe(pkg.version)
      await writeFile(
        join(app4, 'src', 'quick-start.ts'),
        quickStart(await readFile(join(ROOT, 'README.md'), 'utf8')),
      )
      await copyFile(join(CONSUMER, 'cjs-consumer.cts'), join(app4, 'src', 'cjs-consumer.cts'))
      await addTransportExample(app4)
      await run('npx', ['tsc', '-p', '.'], app4)

      const quick = await run('node', ['out/quick-start.js'], app4)
      expect(quick.stdout).toMatch(/^bob got hello from dc1 from 127\.0\.0\.1:\d+$/m)
      expect(quick.stdout).toContain("alice's stream got push/pull state back")

      const cjs = await run('node', ['out/cjs-consumer.cjs'], app4)
      expect(cjs.stdout).toContain('CA: -----BEGIN CERTIFICATE-----')
      expect(cjs.stdout).toContain('hello from require()')
      expect(cjs.stdout).toContain('after close: true')

      // The command, and the config file the README points installed users to.
      const render = await run(
        'npx',
        [
          'wanfed',
          'gateway',
          '--config',
          'node_modules/wanfed/examples/gateway.json',
          '--render',
          'haproxy',
        ],
        app4,
      )
      expect(render.stdout).toContain('10.0.1.10:8300')
    },
    TEST_TIMEOUT_MS,
  )

  for (const [major, app] of [
    ['4', () => app4],
    ['3', () => app3],
  ] as const) {
    it(
      `runs the conformance suite against a BaseTransport subclass under vitest ${major}`,
      async () => {
        const dir = app()
        expect((await installedVersion(dir, 'vitest')).split('.')[0]).toBe(major)
        await addTransportExample(dir)
        await run(
          'npx',
          ['vitest', 'run', '--dir', 'src', '--reporter=json', '--outputFile=report.json'],
          dir,
        )
        const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as {
          numPassedTests: number
          numFailedTests: number
          numPendingTests: number
          testResults: { name: string; status: string }[]
        }
        expect(report.testResults.map((f) => [f.name.replace(`${dir}/`, ''), f.status])).toEqual([
          ['src/test-your-transport.test.ts', 'passed'],
        ])
        expect(report.numFailedTests).toBe(0)
        // The suite's cases plus the example's own; the ones needing hooks it lacks are skipped.
        expect(report.numPassedTests).toBeGreaterThanOrEqual(15)
      },
      TEST_TIMEOUT_MS,
    )
  }
})
