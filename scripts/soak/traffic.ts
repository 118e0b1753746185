/**
 * The soak's steady traffic, on top of memberlist's own gossip, probes and push/pulls. Every live
 * node, several times a second:
 *
 * - sends a user message over a stream (`sendReliable`) to a random other member, most of them in
 *   another DC: a body of random bytes behind its own SHA-256, so the receiver can tell an intact
 *   delivery from a broken one;
 * - now and then runs an exchange: a push/pull with a random other member (`join`), a stream that
 *   must answer, so it settles only when the remote's whole state came back.
 *
 * The ledger holds what became of each: an operation settles (resolved, or rejected with a typed
 * `WANFED_ERR_*` error) or it is counted hung. A message whose send resolved and that never
 * arrived is lost; `sendReliable` has no end-to-end acknowledgement (nor has Go's), so one in
 * flight through a gateway that was killed can vanish with it: those sent during a fault are
 * counted apart, and every other one must arrive.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Delegate } from 'wanfed/memberlist'
import type { Federation } from '../../examples/federation/federation.ts'
import type { DemoNode } from '../../examples/federation/node.ts'

/** A settled-or-not verdict comes this long after the start: past every dial and stream deadline. */
export const HUNG_AFTER_MS = 30_000
const TICK_MS = 200
/** One exchange per node every this many ticks. */
const EXCHANGE_EVERY = 5
const MAX_IN_FLIGHT_PER_NODE = 6
const MAX_BODY = 16 * 1024
const DIGEST = 32

export interface OperationCounts {
  started: number
  completed: number
  /** Rejected with a typed error, by code. */
  failed: Record<string, number>
  /** Of those, started with no fault under way (within 2 s): steady state should have none. */
  failedOutsideFault: Record<string, number>
  /** Rejected with anything but a typed error: never expected. */
  untyped: string[]
  /** Not settled within {@link HUNG_AFTER_MS}. */
  hung: number
  /** Skipped because the node had too many in flight (the rest of the federation was slow). */
  skippedBusy: number
}

export interface MessageCounts extends OperationCounts {
  delivered: number
  /** Arrived with a body that does not match its digest, or not parseable at all. */
  corrupt: number
  /** Arrived more than once. */
  duplicate: number
  /** Arrived intact at a node it was not sent to. */
  misdelivered: number
  /** Send resolved, never arrived, sent while a fault was under way (see the file's comment). */
  undeliveredInFault: number
  /** Send resolved, never arrived, no fault near it: a loss on the reliable path. */
  lost: number
  bytesDelivered: number
}

export interface TrafficLedger {
  exchanges: OperationCounts
  messages: MessageCounts
}

interface Sent {
  at: number
  resolvedAt: number
}

function counts(): OperationCounts {
  return {
    started: 0,
    completed: 0,
    failed: {},
    failedOutsideFault: {},
    untyped: [],
    hung: 0,
    skippedBusy: 0,
  }
}

export class SoakTraffic {
  readonly #fed: () => Federation
  readonly #inFault: (at: number, slackMs: number) => boolean
  readonly exchanges = counts()
  readonly messages: MessageCounts = {
    ...counts(),
    delivered: 0,
    corrupt: 0,
    duplicate: 0,
    misdelivered: 0,
    undeliveredInFault: 0,
    lost: 0,
    bytesDelivered: 0,
  }
  /** Resolved sends not (yet) seen to arrive: the only ones kept, so the books stay small. */
  readonly #sent = new Map<string, Sent>()
  /** Arrived before their send resolved (the callback runs later than the delivery). */
  readonly #early = new Set<string>()
  /** Per sender, the sequence numbers delivered: duplicates are found here. */
  readonly #delivered = new Map<string, Set<number>>()
  readonly #inFlight = new Map<string, number>()
  readonly #pending = new Set<{ at: number; hung: boolean; what: OperationCounts }>()
  readonly #seq = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  #tick = 0

  /**
   * `fed` is read at every tick (nodes are replaced when they restart); `inFault(at, slack)` says
   * whether a fault was under way within `slack` ms of `at`.
   */
  constructor(fed: () => Federation, inFault: (at: number, slackMs: number) => boolean) {
    this.#fed = fed
    this.#inFault = inFault
  }

  /** The memberlist hooks for node `name`: where its user messages arrive. */
  delegateFor(name: string): Delegate {
    return { notifyMsg: (msg) => this.#receive(name, msg) }
  }

  start(): void {
    this.#timer = setInterval(() => this.#round(), TICK_MS)
  }

  /** Stops sending, waits for every operation in flight to settle (or be counted hung). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    const deadline = performance.now() + HUNG_AFTER_MS + 1_000
    while (this.#pending.size > 0 && performance.now() < deadline) {
      this.#checkHung()
      await new Promise((r) => setTimeout(r, 100))
    }
    this.#checkHung()
  }

  /** Settles the message books: call after {@link stop} and a moment for the last deliveries. */
  ledger(): TrafficLedger {
    let lost = 0
    let inFault = 0
    for (const s of this.#sent.values()) {
      if (this.#duringFault(s)) inFault++
      else lost++
    }
    this.messages.lost = lost
    this.messages.undeliveredInFault = inFault
    return { exchanges: this.exchanges, messages: this.messages }
  }

  /** Keys of the messages counted lost, for the report. */
  lostKeys(): string[] {
    const keys: string[] = []
    for (const [key, s] of this.#sent) if (!this.#duringFault(s)) keys.push(key)
    return keys
  }

  /** A fault under way when the send began or when it resolved (a slow send spans both). */
  #duringFault(s: Sent): boolean {
    return this.#inFault(s.at, 2_000) || this.#inFault(s.resolvedAt, 2_000)
  }

  #round(): void {
    this.#tick++
    this.#checkHung()
    const live = this.#fed().live()
    for (const from of live) {
      const others = from.memberlist
        .members()
        .filter((m) => m.name !== from.name && live.some((n) => n.name === m.name))
      if (others.length === 0) continue
      const to = others[Math.floor(Math.random() * others.length)] as (typeof others)[number]
      this.#message(from, to.name)
      if (this.#tick % EXCHANGE_EVERY === 0) {
        const peer = live.find((n) => n.name === to.name)
        if (peer !== undefined) this.#exchange(from, peer)
      }
    }
  }

  #message(from: DemoNode, to: string): void {
    const seq = (this.#seq.get(from.name) ?? 0) + 1
    this.#seq.set(from.name, seq)
    const key = `${from.name}#${seq}`
    // The receiver checks the recipient: a message delivered to another node is not delivered.
    const header = Buffer.from(`${to}\n${key}\n`)
    const body = Buffer.concat([header, randomBytes(1 + Math.floor(Math.random() * MAX_BODY))])
    const msg = Buffer.concat([createHash('sha256').update(body).digest(), body])
    const at = performance.now()
    this.#run(
      from,
      this.messages,
      () => from.memberlist.sendReliable(to, msg),
      (ok) => {
        // Delivered although the send failed (its end errored) is not a loss: forget it.
        if (!this.#early.delete(key) && ok)
          this.#sent.set(key, { at, resolvedAt: performance.now() })
      },
    )
  }

  #exchange(from: DemoNode, to: DemoNode): void {
    this.#run(
      from,
      this.exchanges,
      () => from.memberlist.join([to.joinAddress]),
      () => {},
    )
  }

  #run(
    from: DemoNode,
    what: OperationCounts,
    op: () => Promise<unknown>,
    onSettled: (ok: boolean) => void,
  ): void {
    const busy = this.#inFlight.get(from.name) ?? 0
    if (busy >= MAX_IN_FLIGHT_PER_NODE) {
      what.skippedBusy++
      return
    }
    this.#inFlight.set(from.name, busy + 1)
    what.started++
    const entry = { at: performance.now(), hung: false, what }
    this.#pending.add(entry)
    const settle = () => {
      this.#pending.delete(entry)
      this.#inFlight.set(from.name, (this.#inFlight.get(from.name) ?? 1) - 1)
    }
    let promise: Promise<unknown>
    try {
      promise = op()
    } catch (err) {
      promise = Promise.reject(err)
    }
    promise.then(
      () => {
        settle()
        what.completed++
        onSettled(true)
      },
      (err: unknown) => {
        settle()
        onSettled(false)
        const code = (err as { code?: unknown }).code
        if (typeof code === 'string' && code.startsWith('WANFED_ERR_')) {
          what.failed[code] = (what.failed[code] ?? 0) + 1
          if (!this.#inFault(entry.at, 2_000))
            what.failedOutsideFault[code] = (what.failedOutsideFault[code] ?? 0) + 1
        } else what.untyped.push(String(err))
      },
    )
  }

  #checkHung(): void {
    const now = performance.now()
    for (const p of this.#pending) {
      if (!p.hung && now - p.at > HUNG_AFTER_MS) {
        p.hung = true
        p.what.hung++
      }
    }
  }

  #receive(receiver: string, msg: Buffer): void {
    if (msg.length <= DIGEST) {
      this.messages.corrupt++
      return
    }
    const body = msg.subarray(DIGEST)
    const digest = createHash('sha256').update(body).digest()
    const first = body.indexOf(0x0a)
    const nl = first < 0 ? -1 : body.indexOf(0x0a, first + 1)
    if (!digest.equals(msg.subarray(0, DIGEST)) || nl < 0) {
      this.messages.corrupt++
      return
    }
    if (body.subarray(0, first).toString() !== receiver) {
      this.messages.misdelivered++
      return
    }
    const key = body.subarray(first + 1, nl).toString()
    const hash = key.lastIndexOf('#')
    const sender = key.slice(0, hash)
    const seq = Number(key.slice(hash + 1))
    const seen = this.#delivered.get(sender) ?? new Set<number>()
    this.#delivered.set(sender, seen)
    if (seen.has(seq)) {
      this.messages.duplicate++
      return
    }
    seen.add(seq)
    if (!this.#sent.delete(key)) this.#early.add(key)
    this.messages.delivered++
    this.messages.bytesDelivered += msg.length
  }
}
