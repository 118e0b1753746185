/**
 * The Prometheus text exposition format (version 0.0.4), which every Prometheus server and most
 * agents scrape: per metric family a `# HELP` and a `# TYPE` line, then its samples, all together.
 */

/** What `/metrics` answers with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export type MetricType = 'counter' | 'gauge'

export interface Sample {
  labels: Readonly<Record<string, string>>
  value: number
}

export interface MetricFamily {
  name: string
  type: MetricType
  help: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')
}

/** Label values: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Number.POSITIVE_INFINITY) return '+Inf'
  if (v === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(v)
}

/**
 * Renders families in the order given. Families with no sample are left out; a family named twice
 * has its samples merged under the first's HELP and TYPE, so each name appears once.
 *
 * @throws {Error} a metric or label name the format does not allow (a bug in the caller).
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const merged = new Map<string, MetricFamily>()
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new Error(`invalid metric name ${JSON.stringify(f.name)}`)
    const seen = merged.get(f.name)
    if (seen === undefined) merged.set(f.name, { ...f, samples: [...f.samples] })
    else if (seen.type !== f.type)
      throw new Error(`metric ${f.name} is both ${seen.type} and ${f.type}`)
    else seen.samples.push(...f.samples)
  }
  let out = ''
  for (const f of merged.values()) {
    if (f.samples.length === 0) continue
    out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
      let text = ''
      if (labels.length > 0) {
        const parts: string[] = []
        for (const [k, v] of labels) {
          if (!LABEL_NAME.test(k) || k.startsWith('__'))
            throw new Error(`invalid label name ${JSON.stringify(k)}`)
          parts.push(`${k}="${escapeLabelValue(v)}"`)
        }
        text = `{${parts.join(',')}}`
      }
      out += `${f.name}${text} ${formatValue(s.value)}\n`
    }
  }
  return out
}
