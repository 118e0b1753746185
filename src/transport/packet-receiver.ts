import type { Duplex } from 'node:stream'
import { FrameDecoder } from '../alpn/frame.ts'
import { FrameStalledError, type WanfedError } from '../errors.ts'
import type { Clock, TimerHandle } from '../internal/clock.ts'

/** Consul's `GossipPacketMaxIdleTime`: the wait allowed for the next frame's length prefix. */
export const DEFAULT_FRAME_IDLE_TIMEOUT_MS = 120_000
/**
 * Consul has no limit on a frame's body once its prefix arrived; a body that stops arriving for
 * this long must not pin a connection.
 */
export const DEFAULT_FRAME_BODY_TIMEOUT_MS = 10_000

export interface PacketReceiverOptions {
  clock: Clock
  maxFrameSize: number
  idleTimeoutMs: number
  bodyTimeoutMs: number
  /** Called once per complete frame, with the receipt time. */
  onPacket: (buf: Buffer, timestamp: number) => void
  /** Called once when the connection ends in a protocol error (a typed frame error or a stalled frame). */
  onProtocolError: (err: WanfedError) => void
}

/**
 * Reads length-prefixed packets from one inbound `consul/wan-gossip/packet` connection until it
 * ends. Between frames the connection may idle for `idleTimeoutMs` (then it is closed quietly, as
 * Consul does); once a frame has begun, all of it must arrive within `bodyTimeoutMs`. A frame cut
 * short by the end of the connection is dropped, never delivered. A protocol error destroys the
 * connection.
 * @internal
 */
export function receivePackets(socket: Duplex, options: PacketReceiverOptions): void {
  const { clock, idleTimeoutMs, bodyTimeoutMs } = options
  const decoder = new FrameDecoder({ maxFrameSize: options.maxFrameSize })
  let completed = 0
  let inFrame = false
  let finished = false
  // One timer, moved lazily: reads only update `deadline`; the timer re-arms itself when it fires
  // early. A timer per read would cost more than the read at full speed.
  let deadline = clock.now() + idleTimeoutMs
  let due = deadline
  let timer: TimerHandle | undefined = clock.setTimeout(onTimer, idleTimeoutMs)

  const onFrame = (payload: Buffer) => {
    completed++
    options.onPacket(payload, clock.now())
  }

  function onData(chunk: Buffer) {
    const before = completed
    try {
      decoder.write(chunk, onFrame)
    } catch (err) {
      fail(err as WanfedError)
      return
    }
    if (finished) return
    const nowInFrame = decoder.inFrame
    // Inside a frame, any bytes are progress: only a body that stops moving for bodyTimeoutMs is
    // stalled (a 4 MiB frame on a slow link must not be). Between frames the idle clock restarts
    // when a frame completes.
    if (nowInFrame || completed !== before || nowInFrame !== inFrame) {
      inFrame = nowInFrame
      deadline = clock.now() + (inFrame ? bodyTimeoutMs : idleTimeoutMs)
      if (deadline < due) arm(deadline - clock.now())
    }
  }

  function arm(ms: number) {
    if (timer !== undefined) clock.clearTimeout(timer)
    due = clock.now() + ms
    timer = clock.setTimeout(onTimer, ms)
  }

  function onTimer() {
    timer = undefined
    const left = deadline - clock.now()
    if (left > 0) {
      arm(left)
      return
    }
    if (inFrame) {
      const total = (decoder.expectedLength ?? 0) + 4
      fail(
        new FrameStalledError(
          `packet frame stalled: ${decoder.bufferedBytes} of ${total} bytes after ${bodyTimeoutMs} ms`,
        ),
      )
      return
    }
    finish()
    socket.destroy()
  }

  function onEnd() {
    try {
      decoder.end()
    } catch (err) {
      fail(err as WanfedError)
      return
    }
    finish()
    socket.end()
  }

  function fail(err: WanfedError) {
    if (finished) return
    finish()
    socket.destroy()
    options.onProtocolError(err)
  }

  function finish() {
    finished = true
    if (timer !== undefined) clock.clearTimeout(timer)
    timer = undefined
    socket.off('data', onData)
    socket.off('end', onEnd)
    socket.off('close', finish)
  }

  socket.on('data', onData)
  socket.once('end', onEnd)
  socket.once('close', finish)
  // Resets from the far side are routine; the 'close' that follows does the cleanup.
  socket.on('error', noop)
}

function noop() {}
