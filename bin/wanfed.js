#!/usr/bin/env node
// Launcher for the `wanfed` command. In a source checkout (told by tsconfig.json, which the
// package does not ship) it runs src/ through tsx, a devDependency, so the command never lags
// behind the code; an installed package runs its build in dist/.
import { existsSync } from 'node:fs'

const src = new URL('../src/cli/main.ts', import.meta.url)
const dist = new URL('../dist/cli/main.js', import.meta.url)
let entry = dist
if (existsSync(src) && existsSync(new URL('../tsconfig.json', import.meta.url))) {
  try {
    const { register } = await import('tsx/esm/api')
    register()
    entry = src
  } catch {
    // No tsx: an installed package; use the build.
  }
}
if (entry === dist && !existsSync(dist)) {
  process.stderr.write('wanfed: dist/ is missing; run `npm run build` first\n')
  process.exit(1)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
