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

/** Serf's message types inside memberlist user messages (`messageLeaveType`, `messagePushPullType`). */
const SERF_LEAVE = 0
const SERF_PUSH_PULL = 2

/**
 * Serf's leave intent (`messageLeave`), for a Node member to broadcast (as a user broadcast, see
 * `Delegate.getBroadcasts`) just before `leave()`: Serf agents then record the member as `left`
 * rather than `failed`. `ltime` must be above the Lamport time Serf last saw for the member; take
 * it from {@link serfLamportTime} plus one.
 */
export function encodeSerfLeaveIntent(node: string, ltime: number): Buffer {
  const w = new MsgpackWriter()
  w.byte(SERF_LEAVE)
  w.mapHeader(3).str('LTime').uint(ltime).str('Node').str(node).str('Prune').bool(false)
  return Buffer.from(w.finish())
}

/**
 * The Lamport time in a Serf agent's push/pull state (what `Delegate.mergeRemoteState` receives
 * from Serf), or undefined when `buf` is not Serf's push/pull.
 */
export function serfLamportTime(buf: Buffer): number | undefined {
  if (buf.length < 2 || buf[0] !== SERF_PUSH_PULL) return undefined
  try {
    const { value } = readMsgpack(buf, 1)
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value.kind !== 'map')
      return undefined
    const t = value.entries.get('LTime')
    return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : undefined
  } catch {
    return undefined
  }
}
