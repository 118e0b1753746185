/**
 * The soak script, run as `npm run soak` runs it, for one minute: a fault every 15 s (each of the
 * four kinds once), traffic throughout. The full ten minutes is `npm run soak` (not in CI); its
 * figures are in docs/reliability.md.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { FAULT_ORDER } from '../../scripts/soak/faults.ts'
import type { SoakReport } from '../../scripts/soak/run.ts'
import { spawnCollected } from '../helpers/commands.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const dirs: string[] = []

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

async function soak(args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnCollected(process.execPath, [
    '--expose-gc',
    '--import',
    'tsx',
    join(ROOT, 'scripts/soak.ts'),
    ...args,
  ])
  try {
    await run.exited
  } finally {
    run.child.kill('SIGKILL')
  }
  return { code: run.child.exitCode, output: run.output() }
}

describe('npm run soak, one minute', () => {
  it('rides out each kind of fault to convergence, loses and hangs no stream, stays within its memory and handle bounds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wanfed-soak-'))
    dirs.push(dir)
    const file = join(dir, 'report.json')
    const { code, output } = await soak(['--minutes', '1', '--every', '15', '--json', file])
    const summary = output.split('\n').filter((l) => /\] (soak| {2})/.test(l))
    console.log(`[soak] ${summary.join('\n[soak] ')}`)
    expect(code, output).toBe(0)
    const r = JSON.parse(await readFile(file, 'utf8')) as SoakReport
    expect(r.violations).toEqual([])
    expect(new Set(r.faults.map((f) => f.kind))).toEqual(new Set(FAULT_ORDER))
    const { exchanges, messages } = r.traffic
    expect(exchanges.completed).toBeGreaterThan(100)
    expect(messages.delivered).toBeGreaterThan(1_000)
    expect(exchanges.hung + messages.hung + messages.lost + messages.corrupt).toBe(0)
    expect(r.steady.length).toBeGreaterThanOrEqual(FAULT_ORDER.length)
    expect(r.handlesAfterClose).toEqual(r.handlesBefore)
  }, 300_000)

  it('refuses a bad option, naming it, before starting anything', async () => {
    const { code, output } = await soak(['--minutes', 'ten'])
    expect(code).toBe(2)
    expect(output).toContain('--minutes must be a number from 0.5 to 240, got ten')
  }, 60_000)
})
