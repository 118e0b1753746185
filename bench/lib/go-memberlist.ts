/**
 * Go memberlist's own packet codec timed on this machine: `bench/go/memberlist_codec_test.go`
 * compiled inside package memberlist from Debian's golang-github-hashicorp-memberlist-dev
 * sources (GOPATH mode, no network), run with `go test -bench`.
 */

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const GOCODE = '/usr/share/gocode'
const SOURCES = path.join(GOCODE, 'src/github.com/hashicorp/memberlist')
const TEST_FILE = path.join(
  path.dirname(path.dirname(fileURLToPath(import.meta.url))),
  'go/memberlist_codec_test.go',
)

export interface GoCodecResult {
  goVersion: string
  /** Benchmark name (without `BenchmarkWanfed`) to ns per encode+decode and packet size. */
  results: Record<string, { nsPerOp: number; packetBytes: number }>
}

/** Why the Go side cannot run here, or undefined when it can. */
export function goUnavailable(): string | undefined {
  try {
    execFileSync('go', ['version'], { stdio: 'pipe' })
  } catch {
    return '`go` is not installed: the Go memberlist comparison is skipped'
  }
  if (!existsSync(path.join(SOURCES, 'net.go'))) {
    return `Go memberlist sources are not in ${SOURCES} (apt-get install golang-github-hashicorp-memberlist-dev): the Go comparison is skipped`
  }
  return undefined
}

/** Runs the Go benchmarks for about `benchtime` each; throws when the build or a run fails. */
export function runGoCodec(benchtime = '1s'): GoCodecResult {
  const gopath = path.join(os.tmpdir(), 'wanfed-bench-gopath')
  const pkg = path.join(gopath, 'src/github.com/hashicorp/memberlist')
  rmSync(gopath, { recursive: true, force: true })
  mkdirSync(pkg, { recursive: true })
  // The library's non-test sources and its vendor tree, linked, plus our benchmark file.
  for (const f of readdirSync(SOURCES)) {
    if ((f.endsWith('.go') && !f.endsWith('_test.go')) || f === 'vendor')
      symlinkSync(path.join(SOURCES, f), path.join(pkg, f))
  }
  symlinkSync(TEST_FILE, path.join(pkg, 'memberlist_codec_test.go'))
  const env = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${gopath}:${GOCODE}`,
    GOFLAGS: '',
    GOCACHE: process.env['GOCACHE'] ?? path.join(os.tmpdir(), 'wanfed-bench-gocache'),
  }
  try {
    const goVersion = execFileSync('go', ['version'], { encoding: 'utf8' }).trim()
    const out = execFileSync(
      'go',
      ['test', '-run', '^$', '-bench', 'Wanfed', '-benchtime', benchtime, '.'],
      { cwd: pkg, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const results: GoCodecResult['results'] = {}
    for (const m of out.matchAll(
      /^BenchmarkWanfed(\w+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns\/op\s+([\d.]+) packet-bytes/gm,
    )) {
      results[m[1]!] = { nsPerOp: Number(m[2]), packetBytes: Number(m[3]) }
    }
    if (Object.keys(results).length !== 4) throw new Error(`unexpected go test output:\n${out}`)
    return { goVersion, results }
  } finally {
    rmSync(gopath, { recursive: true, force: true })
  }
}
