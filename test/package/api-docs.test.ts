import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)

// typedoc.json sets treatWarningsAsErrors: a public name without docs, a broken {@link} or a type
// a public signature uses but no module exports makes the API reference fail, and so this test.
describe('the API reference', () => {
  it('builds with typedoc and no warnings', { timeout: 120_000 }, async () => {
    const result = await run(
      process.execPath,
      [`${root}node_modules/typedoc/bin/typedoc`, '--emit', 'none'],
      {
        cwd: root,
      },
    ).then(
      () => 'ok',
      (err: Error & { stdout?: string }) => `${err.message}\n${err.stdout ?? ''}`,
    )
    expect(result).toBe('ok')
  })
})
