/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (the spec at
 * prometheus.io/docs/instrumenting/exposition_formats), for checking what `/metrics` writes more
 * closely than a lenient parser does: every line is a HELP, a TYPE or a sample; HELP then TYPE come
 * once per family, before its samples; samples of a family are contiguous; names and label names
 * follow the grammar; label values use only the three escapes; a counter's name ends in `_total`;
 * no two samples share a name and label set; the text ends with a line feed.
 */

export interface StrictFamily {
  name: string
  help: string
  type: string
  samples: { labels: Record<string, string>; value: number }[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]Inf|NaN)$/

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`line ${lineNo}: ${why}: ${JSON.stringify(line)}`)
}

function unescapeText(text: string, allowQuote: boolean, lineNo: number, line: string): string {
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string
    if (ch !== '\\') {
      out += ch
      continue
    }
    const next = text[++i]
    if (next === '\\') out += '\\'
    else if (next === 'n') out += '\n'
    else if (next === '"' && allowQuote) out += '"'
    else fail(lineNo, line, `bad escape \\${next ?? ''}`)
  }
  return out
}

/** Parses a label set `{a="x",b="y"}` starting at `text[0] === '{'`; returns it and the rest. */
function labelSet(
  text: string,
  lineNo: number,
  line: string,
): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {}
  let i = 1
  for (;;) {
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) }
    const eq = text.indexOf('=', i)
    if (eq === -1) fail(lineNo, line, 'label without =')
    const name = text.slice(i, eq)
    if (!LABEL.test(name)) fail(lineNo, line, `bad label name ${name}`)
    if (Object.hasOwn(labels, name)) fail(lineNo, line, `label ${name} twice`)
    if (text[eq + 1] !== '"') fail(lineNo, line, 'label value not quoted')
    let j = eq + 2
    let raw = ''
    for (;;) {
      const ch = text[j]
      if (ch === undefined) fail(lineNo, line, 'unterminated label value')
      if (ch === '\\') {
        raw += ch + (text[j + 1] ?? '')
        j += 2
        continue
      }
      if (ch === '"') break
      if (ch === '\n') fail(lineNo, line, 'raw line feed in label value')
      raw += ch
      j++
    }
    labels[name] = unescapeText(raw, true, lineNo, line)
    i = j + 1
    if (text[i] === ',') i++
    else if (text[i] !== '}') fail(lineNo, line, 'expected , or } after a label')
  }
}

export function parseStrict(text: string): StrictFamily[] {
  if (text !== '' && !text.endsWith('\n'))
    throw new Error('exposition does not end with a line feed')
  const families = new Map<string, StrictFamily>()
  const seen = new Set<string>()
  let current: StrictFamily | undefined
  const lines = text.split('\n').slice(0, -1)
  lines.forEach((line, n) => {
    const lineNo = n + 1
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7)
      const sp = rest.indexOf(' ')
      const name = sp === -1 ? rest : rest.slice(0, sp)
      if (!NAME.test(name)) fail(lineNo, line, 'bad metric name')
      if (families.has(name)) fail(lineNo, line, `family ${name} described twice`)
      current = {
        name,
        help: unescapeText(sp === -1 ? '' : rest.slice(sp + 1), false, lineNo, line),
        type: '',
        samples: [],
      }
      families.set(name, current)
      return
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type, extra] = line.slice(7).split(' ')
      if (current === undefined || current.name !== name || current.type !== '')
        fail(lineNo, line, 'TYPE must follow its HELP, once')
      if (
        extra !== undefined ||
        !['counter', 'gauge', 'summary', 'histogram', 'untyped'].includes(type ?? '')
      )
        fail(lineNo, line, 'bad TYPE')
      current.type = type as string
      if (type === 'counter' && !name.endsWith('_total'))
        fail(lineNo, line, 'counter without _total')
      return
    }
    if (line.startsWith('#') || line.trim() === '')
      fail(lineNo, line, 'unexpected comment or blank line')
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line)
    if (m === null) fail(lineNo, line, 'bad sample')
    const name = m[1] as string
    if (current === undefined || current.name !== name || current.type === '')
      fail(lineNo, line, `sample of ${name} outside its family`)
    let rest = m[2] as string
    let labels: Record<string, string> = {}
    if (rest.startsWith('{')) ({ labels, rest } = labelSet(rest, lineNo, line))
    if (!rest.startsWith(' ')) fail(lineNo, line, 'no space before the value')
    const parts = rest.slice(1).split(' ')
    if (parts.length > 2 || !VALUE.test(parts[0] as string)) fail(lineNo, line, 'bad value')
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1] as string))
      fail(lineNo, line, 'bad timestamp')
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(key)) fail(lineNo, line, 'duplicate series')
    seen.add(key)
    const v = parts[0] as string
    current.samples.push({
      labels,
      value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v),
    })
  })
  for (const f of families.values())
    if (f.type === '') throw new Error(`family ${f.name} has no TYPE`)
  return [...families.values()]
}
