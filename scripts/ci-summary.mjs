// Prints the closing line CI reads, exactly `N passed, N failed`, from vitest's JSON report
// (skipped tests, if any, on the line before).
// A test file that failed to load has no test results of its own; it counts as one failure.
import { existsSync, readFileSync } from 'node:fs'

const path = process.argv[2] ?? '.vitest/results.json'
// vitest's own exit status, when given: an unhandled error fails the run without failing a test,
// and the JSON report does not show it (its `success` stays true).
const exitStatus = process.argv[3] === undefined ? 0 : Number(process.argv[3])
if (!existsSync(path)) {
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const report = JSON.parse(readFileSync(path, 'utf8'))
let passed = 0
let failed = 0
let skipped = 0
for (const file of report.testResults ?? []) {
  const tests = file.assertionResults ?? []
  for (const t of tests) {
    if (t.status === 'passed') passed++
    else if (t.status === 'failed') failed++
    else skipped++
  }
  if (file.status === 'failed' && !tests.some((t) => t.status === 'failed')) failed++
}
if (exitStatus !== 0 && failed === 0) {
  console.log(
    `vitest exited ${exitStatus} with no failed test (an unhandled error): counted as 1 failed`,
  )
  failed = 1
}
// Skipped tests get their own line: the last line is exactly `N passed, N failed`.
if (skipped > 0) console.log(`${skipped} skipped`)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
