/** examples/README.md's table: every runnable example has its row and command, and every link resolves. */
import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { examples, MAIN_EXAMPLE } from './index.ts'

const readme = readFileSync(new URL('README.md', import.meta.url), 'utf8')

describe('examples/README.md', () => {
  it('gives the command of every example in index.ts', () => {
    for (const name of Object.keys(examples)) {
      const command = `\`npm run example -- ${name}\``
      const found =
        readme.includes(command) || (name === MAIN_EXAMPLE && readme.includes('`npm start`'))
      expect(found, `${name}: no row with ${command}`).toBe(true)
    }
  })

  it('links only to files that exist', () => {
    const links = [...readme.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1] as string)
    expect(links.length).toBeGreaterThan(5)
    const missing = links.filter(
      (l) => !/^https?:/.test(l) && !existsSync(new URL(l, import.meta.url)),
    )
    expect(missing).toEqual([])
  })
})
