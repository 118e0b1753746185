import { defineConfig } from 'vitest/config'

// Reporters live here, not on the command line: CI runs exactly `npm test` and reads the JSON report.
export default defineConfig({
  // Tests and examples import 'wanfed' as users do; tsconfig's paths map it to src/, no build needed.
  resolve: { tsconfigPaths: true },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest/results.json' },
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
