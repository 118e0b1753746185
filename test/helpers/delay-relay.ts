import { once } from 'node:events'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A user-space WAN link: a TCP relay that holds every chunk for a one-way delay (plus jitter)
 * before passing it on, in both directions, on real sockets. This machine's kernel has no
 * `netem`, so WAN latency between gateways is emulated here.
 *
 * Order is kept (a chunk never overtakes the one before it, whatever its jitter), buffering is
 * bounded (a direction holding more than `maxBufferedBytes` pauses its source socket until it
 * drains below half), and half-close and resets travel through.
 */
export interface DelayRelayOptions {
  /** Where the relay connects each accepted connection, `host:port`. */
  target: string
  /** One-way delay in ms, each direction. */
  delayMs: number
  /** Each chunk's delay is `delayMs` plus a uniform draw in `[-jitterMs, +jitterMs]`. Default 0. */
  jitterMs?: number
  /** Bytes held per direction before its source is paused. Default 1 MiB. */
  maxBufferedBytes?: number
  /** Source of randomness for the jitter. Default `Math.random`. */
  random?: () => number
}

export interface DelayRelayStats {
  connections: number
  open: number
  /** Bytes relayed, each direction summed. */
  bytes: number
  /** Times a direction was paused because it held `maxBufferedBytes`. */
  pauses: number
  /** The most bytes one direction has held at once. */
  peakBuffered: number
}

interface Held {
  chunk: Buffer
  due: number
}

export class DelayRelay {
  #delayMs: number
  #jitterMs: number
  readonly #target: { host: string; port: number }
  readonly #max: number
  readonly #random: () => number
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #stats: DelayRelayStats = {
    connections: 0,
    open: 0,
    bytes: 0,
    pauses: 0,
    peakBuffered: 0,
  }

  constructor(options: DelayRelayOptions) {
    const i = options.target.lastIndexOf(':')
    this.#target = {
      host: options.target.slice(0, i).replace(/^\[|\]$/g, ''),
      port: Number(options.target.slice(i + 1)),
    }
    if (!(i > 0 && Number.isInteger(this.#target.port) && this.#target.port > 0)) {
      throw new Error(`DelayRelay: target must be host:port, got ${options.target}`)
    }
    this.#delayMs = 0
    this.#jitterMs = 0
    this.setDelay(options.delayMs, options.jitterMs ?? 0)
    this.#max = options.maxBufferedBytes ?? 1024 * 1024
    this.#random = options.random ?? Math.random
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#accept(s))
  }

  /** Changes the delay for chunks that arrive from now on (held ones keep theirs). */
  setDelay(delayMs: number, jitterMs = 0): void {
    if (!(delayMs >= 0 && jitterMs >= 0 && jitterMs <= delayMs)) {
      throw new Error(`DelayRelay: need 0 <= jitterMs <= delayMs, got ${delayMs}, ${jitterMs}`)
    }
    this.#delayMs = delayMs
    this.#jitterMs = jitterMs
  }

  async listen(host: string, port = 0): Promise<AddressInfo> {
    this.#server.listen(port, host)
    await once(this.#server, 'listening')
    return this.#server.address() as AddressInfo
  }

  stats(): DelayRelayStats {
    return { ...this.#stats }
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    if (!this.#server.listening) return
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #accept(client: Socket): void {
    this.#stats.connections++
    this.#stats.open++
    const upstream = connect({ ...this.#target, allowHalfOpen: true, noDelay: true })
    for (const s of [client, upstream]) {
      this.#sockets.add(s)
      s.on('error', () => {})
    }
    let closed = 0
    const onClose = (s: Socket, other: Socket) => () => {
      this.#sockets.delete(s)
      // A reset (or a failed connect) on one side resets the other; a clean close lets the
      // delayed bytes and FIN travel on their own.
      if (s.errored && !other.destroyed) other.resetAndDestroy()
      if (++closed === 2) this.#stats.open--
    }
    client.once('close', onClose(client, upstream))
    upstream.once('close', onClose(upstream, client))
    this.#direction(client, upstream)
    this.#direction(upstream, client)
  }

  /** Moves bytes from `from` to `to`, each chunk held for its delay. */
  #direction(from: Socket, to: Socket): void {
    const queue: Held[] = []
    let buffered = 0
    let lastDue = 0
    let ended = false
    let timer: NodeJS.Timeout | undefined
    let waitingDrain = false

    const flush = (): void => {
      timer = undefined
      const now = performance.now()
      while (queue.length > 0 && !waitingDrain) {
        const head = queue[0] as Held
        if (head.due > now) break
        queue.shift()
        buffered -= head.chunk.length
        this.#stats.bytes += head.chunk.length
        if (to.destroyed) return
        if (!to.write(head.chunk)) {
          waitingDrain = true
          to.once('drain', () => {
            waitingDrain = false
            flush()
          })
        }
      }
      if (from.isPaused() && buffered <= this.#max / 2 && !from.destroyed) from.resume()
      if (queue.length > 0) {
        if (!waitingDrain) schedule()
      } else if (ended && !to.destroyed) to.end()
    }
    const schedule = (): void => {
      if (timer !== undefined || queue.length === 0) return
      const wait = Math.max(0, (queue[0] as Held).due - performance.now())
      timer = setTimeout(flush, wait)
    }

    from.on('data', (chunk: Buffer) => {
      const jitter = this.#jitterMs === 0 ? 0 : (this.#random() * 2 - 1) * this.#jitterMs
      // Never before the chunk ahead of it: TCP keeps order, so jitter only stretches gaps.
      const due = Math.max(lastDue, performance.now() + this.#delayMs + jitter)
      lastDue = due
      queue.push({ chunk, due })
      buffered += chunk.length
      if (buffered > this.#stats.peakBuffered) this.#stats.peakBuffered = buffered
      if (buffered >= this.#max && !from.isPaused()) {
        this.#stats.pauses++
        from.pause()
      }
      schedule()
    })
    from.once('end', () => {
      ended = true
      if (queue.length === 0 && !to.destroyed) to.end()
    })
    from.once('close', () => {
      if (timer !== undefined && from.errored) {
        clearTimeout(timer)
        timer = undefined
      }
    })
    to.once('close', () => {
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      queue.length = 0
    })
  }
}
