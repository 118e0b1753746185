#!/usr/bin/env node
// Launcher for the `wanfed` command. Uses the build in dist/ when there is one; in a source
// checkout without a build it runs src/ through tsx (a devDependency), else asks for a build.
import { existsSync } from 'node:fs'

const dist = new URL('../dist/cli/main.js', import.meta.url)
let entry = dist
if (!existsSync(dist)) {
  try {
    const { register } = await import('tsx/esm/api')
    register()
  } catch {
    process.stderr.write('wanfed: dist/ is missing; run `npm run build` first\n')
    process.exit(1)
  }
  entry = new URL('../src/cli/main.ts', import.meta.url)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
