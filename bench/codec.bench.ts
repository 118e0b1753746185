/**
 * Frame codec throughput: how fast FrameDecoder turns a stream of gossip-sized frames into
 * payloads, against the cost of copying every byte once (`Buffer.copy` of the same chunks into
 * one preallocated buffer). Decoding hands out most payloads as views of the chunk, so it should
 * cost no more than that copy: ratio >= 1.0 is the goal.
 */

import { randomFillSync } from 'node:crypto'
import { Bench } from 'tinybench'
import { encodeFrame, FrameDecoder } from '../src/alpn/frame.ts'
import type { BenchReport } from './types.ts'

const MiB = 1024 * 1024
const STREAM_BYTES = 64 * MiB
const PAYLOAD_SIZE = 1400
const CHUNK_SIZE = 64 * 1024
const FRAME_SIZE = PAYLOAD_SIZE + 4
const FRAME_COUNT = Math.floor(STREAM_BYTES / FRAME_SIZE)
const TOTAL_BYTES = FRAME_COUNT * FRAME_SIZE

/** The encoded stream cut into 64 KiB chunks, each its own allocation as socket reads are. */
function prepareChunks(): Buffer[] {
  const payload = randomFillSync(Buffer.allocUnsafe(PAYLOAD_SIZE))
  const frame = encodeFrame(payload)
  const stream = Buffer.allocUnsafeSlow(TOTAL_BYTES)
  for (let i = 0; i < FRAME_COUNT; i++) frame.copy(stream, i * FRAME_SIZE)
  const chunks: Buffer[] = []
  for (let off = 0; off < TOTAL_BYTES; off += CHUNK_SIZE) {
    const piece = stream.subarray(off, Math.min(off + CHUNK_SIZE, TOTAL_BYTES))
    const chunk = Buffer.allocUnsafeSlow(piece.length)
    piece.copy(chunk)
    chunks.push(chunk)
  }
  return chunks
}

let frames = 0
let payloadBytes = 0
// Module-level, so no closure is created per chunk or per iteration.
function onFrame(payload: Buffer): void {
  frames++
  payloadBytes += payload.length
}

function check(what: string): void {
  if (frames !== FRAME_COUNT || payloadBytes !== FRAME_COUNT * PAYLOAD_SIZE) {
    throw new Error(
      `${what}: decoded ${frames} frames / ${payloadBytes} bytes, expected ${FRAME_COUNT} / ${FRAME_COUNT * PAYLOAD_SIZE}`,
    )
  }
}

export async function run(): Promise<BenchReport> {
  const chunks = prepareChunks()
  // Preallocated and touched once, so the baseline measures copying, not page faults.
  const target = Buffer.alloc(STREAM_BYTES)

  const decodeWrite = (): void => {
    frames = 0
    payloadBytes = 0
    const decoder = new FrameDecoder()
    for (const chunk of chunks) decoder.write(chunk, onFrame)
    decoder.end()
    check('write()')
  }
  const decodePush = (): void => {
    frames = 0
    payloadBytes = 0
    const decoder = new FrameDecoder()
    for (const chunk of chunks) {
      const out = decoder.push(chunk)
      for (const payload of out) onFrame(payload)
    }
    decoder.end()
    check('push()')
  }
  const copyAll = (): void => {
    let off = 0
    for (const chunk of chunks) off += chunk.copy(target, off)
    if (off !== TOTAL_BYTES) throw new Error(`copied ${off} bytes, expected ${TOTAL_BYTES}`)
  }

  const bench = new Bench({
    name: 'codec',
    time: 2000,
    iterations: 20,
    warmupTime: 500,
    warmupIterations: 10,
    throws: true,
  })
  bench.add('Buffer.copy baseline', copyAll)
  bench.add('FrameDecoder.write (callback)', decodeWrite)
  bench.add('FrameDecoder.push (array)', decodePush)
  await bench.run()

  const p50 = (name: string): { ms: number; samples: number; rme: number } => {
    const result = bench.getTask(name)?.result
    if (result === undefined || !('latency' in result)) throw new Error(`${name}: no result`)
    return {
      ms: result.latency.p50,
      samples: result.latency.samplesCount,
      rme: result.latency.rme,
    }
  }
  const copy = p50('Buffer.copy baseline')
  const write = p50('FrameDecoder.write (callback)')
  const push = p50('FrameDecoder.push (array)')
  const mibps = (ms: number): number => TOTAL_BYTES / MiB / (ms / 1000)

  return {
    title: 'FrameDecoder vs copying every byte once',
    description: [
      `- Workload: a ${(TOTAL_BYTES / MiB).toFixed(2)} MiB stream of ${FRAME_COUNT} frames with`,
      `  ${PAYLOAD_SIZE}-byte payloads, pre-split into ${chunks.length} chunks of 64 KiB, each its own`,
      '  allocation as socket reads are, all prepared before timing. About one frame per chunk',
      '  spans two chunks and is assembled by copy; the others are handed out as views.',
      '- The decoders count frames and payload bytes and check both after every iteration.',
      '- Baseline: `Buffer.copy` of the same chunks into one preallocated (already touched) 64 MiB',
      '  buffer, i.e. copying every byte once.',
      '- tinybench 6: 500 ms warmup, then at least 20 iterations and 2 s per task; each figure is',
      "  the task's median iteration time, as MiB/s of stream. Ratio = decoder MiB/s / copy MiB/s;",
      '  a ratio of 1.0 or more means decoding costs no more than copying every byte once.',
    ].join('\n'),
    metrics: [
      {
        key: 'copy_mibps',
        label: 'Buffer.copy baseline',
        value: mibps(copy.ms),
        unit: 'MiB/s',
        digits: 0,
      },
      {
        key: 'write_mibps',
        label: 'FrameDecoder.write (callback)',
        value: mibps(write.ms),
        unit: 'MiB/s',
        digits: 0,
      },
      {
        key: 'push_mibps',
        label: 'FrameDecoder.push (array)',
        value: mibps(push.ms),
        unit: 'MiB/s',
        digits: 0,
      },
      {
        key: 'write_ratio',
        label: 'ratio write / copy',
        value: copy.ms / write.ms,
        unit: 'x',
        digits: 2,
      },
      {
        key: 'push_ratio',
        label: 'ratio push / copy',
        value: copy.ms / push.ms,
        unit: 'x',
        digits: 2,
      },
      {
        key: 'frames_per_s',
        label: 'write: frames per second',
        value: FRAME_COUNT / (write.ms / 1000) / 1e6,
        unit: 'M frames/s',
        digits: 2,
      },
    ],
    raw: {
      frameCount: FRAME_COUNT,
      totalBytes: TOTAL_BYTES,
      chunks: chunks.length,
      copy,
      write,
      push,
    },
  }
}

export function summarize(m: Readonly<Record<string, number>>): string[] {
  const ratio = m['write_ratio'] ?? Number.NaN
  return ratio >= 1
    ? [
        `Goal (ratio >= 1.0) met: decoding with \`write()\` runs at ${ratio.toFixed(2)}x the speed of copying every byte once.`,
      ]
    : [
        `Goal (ratio >= 1.0) NOT met: decoding with \`write()\` runs at ${ratio.toFixed(2)}x the speed of copying every byte once.`,
      ]
}
