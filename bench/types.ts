/**
 * The contract between `bench/run.ts` and each `bench/<name>.bench.ts`.
 *
 * A benchmark module exports `run()`, which does one complete measurement (its own warmup
 * included) and returns a {@link BenchReport}. The runner calls it several times, takes the
 * median of each metric across the runs, prints them and writes its section of BENCHMARKS.md.
 * Adding a benchmark is adding a file: the runner discovers `*.bench.ts` by name.
 */

/** One figure of a run. Metrics with the same `key` across runs are combined by median. */
export interface BenchMetric {
  /** Stable identifier, used for the median and in the JSON results. */
  key: string
  /** Human-readable name for the table. */
  label: string
  value: number
  /** Unit shown next to the value (`MiB/s`, `ms`, `x`, `msgs/s`, ...). */
  unit: string
  /** Fraction digits when printed. Default 1. */
  digits?: number
}

/** The result of one run of one benchmark. */
export interface BenchReport {
  /** One-line title for the BENCHMARKS.md section. */
  title: string
  /** Markdown: what is measured and how (workload, sizes, what the baseline is). */
  description: string
  metrics: BenchMetric[]
  /** Anything else worth keeping in the JSON results (per-task statistics, sample counts). */
  raw?: unknown
}

/** What a `bench/<name>.bench.ts` file exports. */
export interface BenchModule {
  run(): Promise<BenchReport>
  /**
   * Optional: markdown lines appended to the section, computed from the MEDIAN metrics of all
   * runs (for example whether a goal was met). Keyed by metric `key`.
   */
  summarize?(medians: Readonly<Record<string, number>>): string[]
}
