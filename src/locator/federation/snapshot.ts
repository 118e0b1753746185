import { decode, encode } from '@msgpack/msgpack'
import { InvalidFederationStateError, SnapshotError } from '../../errors.ts'
import type { FederationState } from './state.ts'
import { parseFederationState } from './validate.ts'

/** Names the format inside the bytes, so a snapshot of something else is refused, not misread. */
export const SNAPSHOT_FORMAT = 'wanfed/federation-states'
export const SNAPSHOT_VERSION = 1

/** What a snapshot holds: the table index and every record with its indexes. */
export interface SnapshotContent {
  index: number
  states: readonly FederationState[]
}

/** Encodes a snapshot as one msgpack map: `{ format, version, index, states }`. */
export function encodeSnapshot(content: SnapshotContent): Uint8Array {
  return encode({
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    index: content.index,
    states: content.states,
  })
}

/**
 * Decodes and checks a snapshot completely before anything uses it: the format and version, every
 * record (as {@link parseFederationState}), one record per datacenter (case-insensitive), and
 * indexes that fit (`createIndex <= modifyIndex <= index`). Throws {@link SnapshotError}.
 */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError('a snapshot must be bytes')
  let value: unknown
  try {
    value = decode(bytes)
  } catch (cause) {
    throw new SnapshotError('snapshot is not valid msgpack', { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new SnapshotError('snapshot is not a map')
  const o = value as Record<string, unknown>
  if (o['format'] !== SNAPSHOT_FORMAT)
    throw new SnapshotError(`snapshot format is not ${SNAPSHOT_FORMAT}`)
  if (o['version'] !== SNAPSHOT_VERSION)
    throw new SnapshotError(`snapshot version ${String(o['version'])} is not supported`)
  const index = o['index']
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0)
    throw new SnapshotError('snapshot index must be a non-negative safe integer')
  if (!Array.isArray(o['states'])) throw new SnapshotError('snapshot states must be a list')
  const seen = new Set<string>()
  const states = o['states'].map((raw, i) => {
    let s: FederationState
    try {
      s = parseFederationState(raw, `snapshot states[${i}]`)
    } catch (cause) {
      if (cause instanceof InvalidFederationStateError)
        throw new SnapshotError(`snapshot states[${i}]: ${cause.message}`, { cause })
      throw cause
    }
    const key = s.datacenter.toLowerCase()
    if (seen.has(key))
      throw new SnapshotError(`snapshot holds two records for datacenter ${s.datacenter}`)
    seen.add(key)
    if (s.modifyIndex > index || s.createIndex > s.modifyIndex || s.createIndex === 0)
      throw new SnapshotError(`snapshot record ${s.datacenter} has indexes out of order`)
    return s
  })
  return { index, states }
}
