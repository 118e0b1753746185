import { readFileSync } from 'node:fs'

/**
 * The package's version, read from its package.json: two levels up from both `src/cli/` and
 * `dist/cli/`, so a source checkout and an installed build report the same thing.
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown
  }
  return typeof pkg.version === 'string' ? pkg.version : 'unknown'
}
