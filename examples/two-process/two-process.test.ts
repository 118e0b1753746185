/**
 * The two-process example end to end: real `wanfed` CLI processes and node processes on loopback.
 * Beyond what run.ts itself waits for (every node greeting every other across DCs), this checks
 * what the run shows: dc3's gateway, whose config names no other DC, learned every DC's gateways
 * from the federation states; the cross-DC traffic went through the gateways only; a graceful
 * leave reached the other DCs; and every process it started is gone afterwards.
 */
import { describe, expect, it } from 'vitest'
import { expectNoLeakedHandles, handleCounts } from 'wanfed/testing'
import { main } from './run.ts'

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

describe('two-process example', () => {
  it('federates three DCs of gateway and node processes, then stops every one', async () => {
    const baseline = handleCounts()
    const lines: string[] = []
    await main((line) => lines.push(line))
    expect(lines.at(-1)).toBe('closed cleanly')

    const pids = [...lines.join('\n').matchAll(/^started (\S+) \(pid (\d+)\)$/gm)].map((m) => ({
      label: m[1] as string,
      pid: Number(m[2]),
    }))
    expect(pids.map((p) => p.label).sort()).toEqual([
      'alice.dc1',
      'betty.dc2',
      'carol.dc3',
      'gateway-dc1',
      'gateway-dc2',
      'gateway-dc3',
    ])
    for (const { label, pid } of pids) {
      expect(lines).toContain(`${label} (pid ${pid}) exited 0`)
      expect(isRunning(pid), `${label} (pid ${pid}) still running`).toBe(false)
    }

    // The secondaries' gateways route by states replicated from dc1, not by their config.
    for (const dc of ['dc1', 'dc2', 'dc3']) {
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^dc3's gateway knows ${dc}'s gateways from federation states: 127\\.0\\.0\\.1:\\d+$`,
          ),
        ),
      )
    }
    // Every cross-DC byte took the gateways: one node per DC, so no same-DC packet at all.
    const stats = lines.filter((l) => / stats: /.test(l))
    expect(stats).toHaveLength(3)
    for (const line of stats) {
      const m = /stats: (\d+) cross-DC packets over (\d+) pooled .* (\d+) same-DC packets$/.exec(
        line,
      )
      expect(m, line).not.toBeNull()
      expect(Number(m?.[1])).toBeGreaterThan(0)
      expect(Number(m?.[3])).toBe(0)
    }
    for (const name of ['alice.dc1', 'betty.dc2']) {
      expect(lines).toContain(`[${name}] member left: carol.dc3 (left)`)
    }
    await expectNoLeakedHandles(baseline)
  }, 240_000)
})
