/**
 * Runs an example by name: `npm run example -- <name> [options]`. `npm start` runs the main one,
 * with any options given (`npm start -- --dcs 5`). The table below is the one list the README,
 * this runner and the examples test share.
 *
 * Exit status: 0 when it finished, 1 when it failed, 2 for a bad name or option, 130 when
 * interrupted (Ctrl-C: everything is closed first; a second Ctrl-C exits at once).
 */
import { examples, MAIN_EXAMPLE } from './index.ts'

const args = process.argv.slice(2)
const named = args[0] !== undefined && !args[0].startsWith('-')
const name = named ? (args[0] as string) : MAIN_EXAMPLE
const options = named ? args.slice(1) : args
const example = examples[name]

function usageError(message: string): void {
  console.error(`error: ${message}`)
  process.exitCode = 2
}

if (example === undefined) {
  usageError(
    `unknown example ${JSON.stringify(name)}; choose one of: ${Object.keys(examples).join(', ')}`,
  )
} else if (options.length > 0 && example.takesOptions !== true) {
  usageError(`example ${name} takes no options, got ${options.join(' ')}`)
} else {
  const interrupt = new AbortController()
  process.once('SIGINT', () => {
    interrupt.abort()
    process.once('SIGINT', () => process.exit(130))
    // Closing takes well under a second; should anything hang, do not keep the terminal.
    setTimeout(() => {
      console.error('close took too long; exiting')
      process.exit(130)
    }, 5_000).unref()
  })
  const { main } = await example.load()
  try {
    await main(undefined, options, interrupt.signal)
  } catch (err) {
    if (interrupt.signal.aborted) {
      console.error('interrupted: closed everything')
      process.exit(130)
    }
    if ((err as { code?: string }).code === 'WANFED_ERR_INVALID_ARG') {
      usageError(`${(err as Error).message} (see --help)`)
      process.exit(2)
    }
    console.error(err)
    // An example that failed half-way may hold sockets; do not hang on them.
    process.exit(1)
  }
}
