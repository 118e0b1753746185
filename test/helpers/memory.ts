/** Peak memory over a stretch of a test: sampled every `everyMs` until `stop()`. */
export interface MemoryPeak {
  /** Growth of each figure, bytes, from the start to its highest sample. */
  stop(): { rss: number; heap: number; buffers: number }
}

/**
 * Samples `process.memoryUsage()` until stopped: the figure for "memory stays bounded" under a
 * flood. `heap` is the JS heap used; `buffers` is `arrayBuffers` (Buffers live outside the heap).
 */
export function memoryPeak(everyMs = 10): MemoryPeak {
  const start = process.memoryUsage()
  const peak = { rss: start.rss, heap: start.heapUsed, buffers: start.arrayBuffers }
  const sample = () => {
    const m = process.memoryUsage()
    peak.rss = Math.max(peak.rss, m.rss)
    peak.heap = Math.max(peak.heap, m.heapUsed)
    peak.buffers = Math.max(peak.buffers, m.arrayBuffers)
  }
  const timer = setInterval(sample, everyMs)
  return {
    stop() {
      clearInterval(timer)
      sample()
      return {
        rss: peak.rss - start.rss,
        heap: peak.heap - start.heapUsed,
        buffers: peak.buffers - start.arrayBuffers,
      }
    },
  }
}

export const MiB = 1024 * 1024

/** Bytes as MiB with one decimal, for printed figures. */
export function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1)
}
