/** Markdown that BENCHMARKS.md's writers share. */

/** A padded table, laid out as Biome's markdown formatter would, so `biome check` stays clean. */
export function markdownTable(
  headers: string[],
  aligns: Array<'left' | 'right'>,
  rows: string[][],
): string[] {
  const widths = headers.map((h, c) =>
    Math.max(3, h.length, ...rows.map((r) => (r[c] ?? '').length)),
  )
  const line = (cells: string[]): string =>
    `| ${cells
      .map((cell, c) =>
        aligns[c] === 'right' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!),
      )
      .join(' | ')} |`
  const rule = `| ${widths
    .map((w, c) => (aligns[c] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)))
    .join(' | ')} |`
  return [line(headers), rule, ...rows.map(line)]
}
