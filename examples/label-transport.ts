/**
 * A transport of your own, built on wanfed's `BaseTransport`: memberlist's "label" decorator,
 * which tags every packet and stream with a cluster label so two clusters sharing a network ignore
 * each other's gossip (memberlist `Config.Label`). Wire format as memberlist's: type byte 244, one
 * length byte, then the label, in front of every packet and at the start of every stream.
 *
 * `test-your-transport.test.ts` runs wanfed's conformance suite against it.
 */
import type { Duplex } from 'node:stream'
import {
  type Address,
  BaseTransport,
  type DialOptions,
  InvalidArgumentError,
  type Transport,
  type TransportCapabilities,
} from 'wanfed'

const LABEL_TYPE = 244

export class LabelTransport extends BaseTransport {
  readonly capabilities: TransportCapabilities
  readonly #inner: Transport
  readonly #header: Buffer
  /** Inbound packets whose label was missing or another cluster's. */
  mislabelled = 0

  constructor(inner: Transport, label: string) {
    super()
    const bytes = Buffer.from(label)
    if (bytes.length === 0 || bytes.length > 255) {
      throw new InvalidArgumentError(`label must be 1..255 bytes, got ${bytes.length}`)
    }
    this.#inner = inner
    this.#header = Buffer.concat([Buffer.from([LABEL_TYPE, bytes.length]), bytes])
    this.capabilities = {
      lossyPackets: inner.capabilities.lossyPackets,
      maxPacketSize: inner.capabilities.maxPacketSize - this.#header.length,
    }
    inner.on('packet', (p) => {
      if (!p.buf.subarray(0, this.#header.length).equals(this.#header)) {
        this.mislabelled++
        return
      }
      this.deliverPacket({ ...p, buf: p.buf.subarray(this.#header.length) })
    })
    inner.on('stream', (s) => void this.#acceptStream(s))
    inner.on('error', (e) => this.reportError(e))
  }

  finalAdvertiseAddr(ip?: string, port?: number): { ip: string; port: number } {
    return this.#inner.finalAdvertiseAddr(ip, port)
  }

  async writeToAddress(buf: Uint8Array, to: Address, options: DialOptions = {}): Promise<number> {
    this.assertListening('writeToAddress')
    // Refuses what is too large, or a send whose signal already fired, before anything is sent.
    this.checkPacket(buf, this.capabilities.maxPacketSize, options.signal)
    const sentAt = await this.#inner.writeToAddress(Buffer.concat([this.#header, buf]), to, options)
    this.counters.packets.sent++
    return sentAt
  }

  async dialAddressTimeout(
    to: Address,
    timeoutMs: number,
    options: DialOptions = {},
  ): Promise<Duplex> {
    this.assertListening('dialAddressTimeout')
    const stream = await this.#inner.dialAddressTimeout(to, timeoutMs, options)
    stream.write(this.#header)
    this.counters.streams.dialed++
    return stream
  }

  protected async bind(): Promise<void> {
    if (this.#inner.status === 'idle') await this.#inner.listen()
  }

  protected async release(abrupt: boolean, err?: Error): Promise<void> {
    if (abrupt) this.#inner.destroy(err)
    else await this.#inner.close()
  }

  /** Reads the label off a new stream; a stream with the wrong one is closed. */
  async #acceptStream(stream: Duplex): Promise<void> {
    const need = this.#header.length
    let got = Buffer.alloc(0)
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
      got = Buffer.concat([got, chunk as Buffer])
      if (got.length >= need) break
    }
    if (!got.subarray(0, need).equals(this.#header)) {
      this.mislabelled++
      stream.destroy()
      return
    }
    if (got.length > need) stream.unshift(got.subarray(need))
    this.deliverStream(stream)
  }
}
