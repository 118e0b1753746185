/**
 * Runs an example by name: `npm run example -- <name>`. `npm start` runs the main one. The table
 * below is the one list the README, this runner and the examples test share.
 */
import { examples, MAIN_EXAMPLE } from './index.ts'

const name = process.argv[2] ?? MAIN_EXAMPLE
const example = examples[name]
if (example === undefined) {
  console.error(
    `unknown example ${JSON.stringify(name)}; choose one of: ${Object.keys(examples).join(', ')}`,
  )
  process.exitCode = 2
} else {
  const { main } = await example.load()
  try {
    await main()
  } catch (err) {
    console.error(err)
    // An example that failed half-way may hold sockets; do not hang on them.
    process.exit(1)
  }
}
