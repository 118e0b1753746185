import { execFileSync } from 'node:child_process'

/** Whether `cmd args` runs and exits 0 here: how tests learn that haproxy, nginx or serf is installed. */
export function hasCommand(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
