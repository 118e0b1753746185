/**
 * `npm start`: a live federation on loopback. dc1 (the primary) and the other DCs, each with its
 * nodes running `wanfed/memberlist` over `WanfedTransport`, their gateways, and federation states
 * replicated from the primary (the secondaries start knowing a single primary gateway). It
 * converges, survives a failure act (a node dies, a gateway is killed), proves from the counters
 * that same-DC traffic stayed direct and cross-DC traffic took the gateways, and closes.
 *
 * Run: `npm start`, `npm start -- --dcs 5 --nodes 10`, `npm start -- --help`
 */
import { setMaxListeners } from 'node:events'
import { converge } from './convergence.ts'
import { failureAct } from './failure-act.ts'
import { Federation } from './federation.ts'
import { parseDemoArgs, USAGE } from './options.ts'
import { countTraffic, proofLines } from './proof.ts'
import { deadlines, describeTiming, memberlistTiming } from './timing.ts'
import { type DemoView, PanelView, PlainView, timestamped } from './view.ts'
import { seconds } from './wait.ts'

/**
 * Runs the demo. `log` gets plain lines (a terminal without one gets the redrawn panel);
 * `argv` the options (see `--help`); `signal` interrupts it at any phase, closing everything.
 * Resolves after 'closed cleanly'; rejects on a bad option (`InvalidArgumentError`), when the
 * federation did not converge or recover in time, or when interrupted before the act's end.
 */
export async function main(
  log?: (line: string) => void,
  argv: readonly string[] = [],
  interrupt?: AbortSignal,
): Promise<void> {
  // One signal of our own: every node's pinger and every wait listens to it at once.
  const stop = new AbortController()
  setMaxListeners(0, stop.signal)
  const onInterrupt = () => stop.abort(interrupt?.reason)
  if (interrupt?.aborted) onInterrupt()
  interrupt?.addEventListener('abort', onInterrupt, { once: true })
  try {
    await run(log, argv, stop.signal)
  } finally {
    interrupt?.removeEventListener('abort', onInterrupt)
  }
}

async function run(
  log: ((line: string) => void) | undefined,
  argv: readonly string[],
  signal: AbortSignal,
): Promise<void> {
  const parsed = parseDemoArgs(argv)
  if (parsed.help) {
    ;(log ?? console.log)(USAGE)
    return
  }
  const options = parsed.options
  const view: DemoView =
    log !== undefined
      ? new PlainView(log)
      : process.stdout.isTTY
        ? new PanelView(process.stdout)
        : new PlainView(timestamped(console.log))
  const timing = memberlistTiming()
  const fed = new Federation(options, timing)
  const limits = deadlines(fed.topology.members)
  let phase = 'starting'
  view.header([
    `wanfed federation demo: ${options.dcs} DCs × ${options.nodes} nodes (${fed.topology.members} members); ` +
      `dc1 is the primary, with 2 gateways, every other DC has 1`,
    `gateways: ${options.gateway === 'ours' ? "wanfed's MeshGateway" : `${options.gateway}, configs rendered from the topology`}; ` +
      `gossip encryption ${options.encrypt ? 'on (AES-256-GCM, one keyring)' : 'off'}`,
    `memberlist: ${describeTiming(timing)}`,
  ])
  const t0 = performance.now()
  try {
    await fed.start(signal, (line) => view.event(line))
    view.event(
      `started in ${seconds(performance.now() - t0)}: ${fed.nodes().length} nodes, ${fed.gateways().length} gateways`,
    )
    phase = 'converging'
    view.watch(fed, () => phase)
    const conv = await converge(fed, view, { since: t0, deadlineMs: limits.convergenceMs, signal })
    phase = 'failure act'
    const act = await failureAct(fed, view, { signal, deadlines: limits })
    const summary = [
      `summary (${options.dcs}×${options.nodes}, gateway ${options.gateway}, encryption ${options.encrypt ? 'on' : 'off'}):`,
      `  convergence: DCs internally ${seconds(conv.ownDatacentersMs)}, federation states everywhere ` +
        `${seconds(conv.federationStatesMs)}, all ${fed.topology.members} members in every view ${seconds(conv.allMembersMs)} (from start)`,
      `  detection: ${act.stopped} suspected after ${seconds(act.suspectedMs)}, dead everywhere after ${seconds(act.deadEverywhereMs)}`,
      `  failover: ${act.killed} killed; traffic through ${act.survivor} after ${seconds(act.failoverMs)}, ` +
        `routes and membership updated after ${seconds(act.membershipMs)}` +
        (act.falseSuspicions > 0
          ? ` (${act.falseSuspicions} healthy nodes briefly suspected, refuted)`
          : ''),
    ]
    for (const l of summary) view.event(l)
    if (options.follow) {
      phase = 'following (Ctrl-C to stop)'
      view.event('following: running until Ctrl-C')
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve()
        else signal.addEventListener('abort', () => resolve(), { once: true })
      })
    }
    view.stop()
    // Counters are final once the nodes are closed; the gateways' are still readable.
    await fed.closeNodes()
    const proof = proofLines(fed, countTraffic(fed))
    view.event('proof from the counters:')
    for (const l of proof.lines) view.event(`  ${l}`)
    if (!proof.ok) throw new Error('the counters disagree: see the proof above')
  } catch (err) {
    // Only a bad option is the caller's mistake (exit 2); anything later is the demo failing.
    if ((err as { code?: string }).code === 'WANFED_ERR_INVALID_ARG')
      throw new Error(`demo failed: ${(err as Error).message}`, { cause: err })
    throw err
  } finally {
    view.stop()
    await fed.close()
  }
  view.event('closed cleanly')
}
