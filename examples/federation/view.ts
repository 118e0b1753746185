/**
 * How progress reaches the user. On a terminal, a panel redrawn in place with the latest events
 * under it; otherwise (a pipe, a file, a test's log function) plain lines: each event as it
 * happens and the status every few seconds, so a log reads as a timeline.
 */
import type { Federation } from './federation.ts'
import { statusLines } from './panel.ts'

export interface DemoView {
  /** A milestone or a notable event: printed once. */
  event(line: string): void
  /** The header: what runs and with which settings. */
  header(lines: readonly string[]): void
  /** Starts showing the federation's status (redraws or periodic lines) until `stop()`. */
  watch(fed: Federation, phase: () => string): void
  /** Stops redrawing; what follows is printed as plain lines. */
  stop(): void
}

/** Plain lines through `log`, with the status every `statusEveryMs`. */
export class PlainView implements DemoView {
  readonly #log: (line: string) => void
  readonly #statusEveryMs: number
  #timer: NodeJS.Timeout | undefined

  constructor(log: (line: string) => void, statusEveryMs = 5_000) {
    this.#log = log
    this.#statusEveryMs = statusEveryMs
  }

  header(lines: readonly string[]): void {
    for (const l of lines) this.#log(l)
  }

  event(line: string): void {
    this.#log(line)
  }

  watch(fed: Federation, phase: () => string): void {
    this.stop()
    this.#timer = setInterval(() => {
      this.#log(`status (${phase()}):`)
      for (const l of statusLines(fed)) this.#log(`  ${l}`)
    }, this.#statusEveryMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

/** Prefixes each line with the time since the demo started: a non-TTY run's log. */
export function timestamped(write: (line: string) => void): (line: string) => void {
  const start = performance.now()
  return (line) => write(`[+${((performance.now() - start) / 1000).toFixed(3)}s] ${line}`)
}

const EVENTS_SHOWN = 12

/** A panel redrawn in place on a terminal, every 250 ms. */
export class PanelView implements DemoView {
  readonly #out: NodeJS.WriteStream
  readonly #start = performance.now()
  readonly #events: string[] = []
  #header: readonly string[] = []
  #timer: NodeJS.Timeout | undefined
  #drawn = 0
  #fed: Federation | undefined
  #phase: () => string = () => ''

  constructor(out: NodeJS.WriteStream) {
    this.#out = out
  }

  header(lines: readonly string[]): void {
    this.#header = lines
    this.#draw()
  }

  event(line: string): void {
    if (this.#timer === undefined) {
      this.#out.write(`${line}\n`)
      return
    }
    this.#events.push(`+${this.#elapsed()} ${line}`)
    if (this.#events.length > EVENTS_SHOWN) this.#events.shift()
    this.#draw()
  }

  watch(fed: Federation, phase: () => string): void {
    this.#fed = fed
    this.#phase = phase
    clearInterval(this.#timer)
    this.#timer = setInterval(() => this.#draw(), 250)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer === undefined) return
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#draw()
    this.#drawn = 0
  }

  #elapsed(): string {
    return `${((performance.now() - this.#start) / 1000).toFixed(1)}s`
  }

  #draw(): void {
    const width = this.#out.columns ?? 120
    const lines = [
      ...this.#header,
      '',
      `phase: ${this.#phase()}   (+${this.#elapsed()})`,
      ...(this.#fed === undefined ? [] : statusLines(this.#fed)),
      '',
      'events:',
      ...this.#events,
    ].map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l))
    // Back to the top of the last drawing, then each line cleared and rewritten.
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}A\r` : ''
    for (const l of lines) text += `\x1b[2K${l}\n`
    text += '\x1b[J'
    this.#out.write(text)
    this.#drawn = lines.length
  }
}
