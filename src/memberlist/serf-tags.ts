import { GossipDecodeError } from '../errors.ts'
import { readMsgpack } from './wire/msgpack-reader.ts'
import { MsgpackWriter } from './wire/msgpack-writer.ts'

/** Serf's marker that node meta holds msgpack tags rather than a bare role (`tagMagicByte`). */
const TAG_MAGIC = 255

/**
 * Node meta as Serf writes it (`encodeTags`): 255, then the tags as a msgpack map of strings.
 * Return it from `Delegate.nodeMeta` and `serf members` shows the tags.
 */
export function encodeSerfTags(tags: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(tags)
  const w = new MsgpackWriter()
  w.byte(TAG_MAGIC)
  w.mapHeader(entries.length)
  for (const [k, v] of entries) w.str(k).str(v)
  return Buffer.from(w.finish())
}

/**
 * Serf's tags from node meta (`decodeTags`): meta without the marker is a bare role, as Serf
 * reads it.
 *
 * @throws {GossipDecodeError} the marker is there but the map is not
 */
export function decodeSerfTags(meta: Buffer): Record<string, string> {
  if (meta.length === 0 || meta[0] !== TAG_MAGIC) return { role: meta.toString('utf8') }
  const { value } = readMsgpack(meta, 1)
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value.kind !== 'map') {
    throw new GossipDecodeError('serf tags are not a map', { reason: 'malformed' })
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [k, v] of value.entries) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v.kind === 'map') {
      throw new GossipDecodeError(`serf tag ${k} is not a string`, { reason: 'malformed' })
    }
    out[k] = v.bytes.toString('utf8')
  }
  return out
}
