import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

let ticksPerSecond: number | undefined

/**
 * CPU time (user + system, all threads) another process has used so far, in µs, from
 * `/proc/<pid>/stat`; undefined where there is no /proc. Resolution is one clock tick (10 ms at
 * the usual 100 Hz), so callers sum over seconds of work before dividing.
 */
export function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // Fields after the command name (which may hold spaces and parentheses): state is field 3,
  // utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  ticksPerSecond ??=
    Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  return (ticks / ticksPerSecond) * 1e6
}
