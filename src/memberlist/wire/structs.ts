import { GossipDecodeError } from '../../errors.ts'
import { type MsgValue, readMsgpack } from './msgpack-reader.ts'
import { MsgpackWriter } from './msgpack-writer.ts'

/**
 * memberlist's wire structs (`net.go`), as msgpack maps keyed by the Go field names. Each schema
 * lists the fields in the order go-msgpack writes them (alphabetical) with their Go type, so that
 * encoding is byte-for-byte Go's and decoding applies Go's rules: unknown keys ignored, missing
 * keys zero, integers range-checked against their Go type, bin refused for strings.
 */
type Kind = 'u8' | 'u16' | 'u32' | 'int' | 'str' | 'bytes' | 'bool'

interface Field {
  readonly go: string
  readonly js: string
  readonly kind: Kind
  /** `codec:",omitempty"`: left out when zero. */
  readonly omitEmpty?: boolean
}

function f(go: string, kind: Kind, omitEmpty = false): Field {
  return { go, js: go.charAt(0).toLowerCase() + go.slice(1), kind, omitEmpty }
}

/** A decoded or to-be-encoded struct: camelCase names of the Go fields. */
type Shape = Record<string, number | string | boolean | Buffer | undefined>

export interface Ping {
  seqNo: number
  /** The node the ping is meant for; a node ignores pings for another name. */
  node: string
  sourceAddr?: Buffer | undefined
  sourcePort?: number | undefined
  sourceNode?: string | undefined
}

export interface IndirectPingReq {
  seqNo: number
  target: Buffer | undefined
  port: number
  node: string
  nack: boolean
  sourceAddr?: Buffer | undefined
  sourcePort?: number | undefined
  sourceNode?: string | undefined
}

export interface AckResp {
  seqNo: number
  payload: Buffer | undefined
}

export interface NackResp {
  seqNo: number
}

export interface ErrResp {
  error: string
}

export interface Suspect {
  incarnation: number
  node: string
  from: string
}

export interface Alive {
  incarnation: number
  node: string
  addr: Buffer | undefined
  port: number
  meta: Buffer | undefined
  /** pmin, pmax, pcur, dmin, dmax, dcur. */
  vsn: Buffer | undefined
}

export interface Dead {
  incarnation: number
  node: string
  /** Who declared it; equal to `node` when the node left on its own. */
  from: string
}

export interface PushPullHeader {
  nodes: number
  userStateLen: number
  join: boolean
}

export interface UserMsgHeader {
  userMsgLen: number
}

export interface PushNodeState {
  name: string
  addr: Buffer | undefined
  port: number
  meta: Buffer | undefined
  incarnation: number
  state: number
  vsn: Buffer | undefined
}

export interface Compress {
  algo: number
  buf: Buffer | undefined
}

export const schemas = {
  ping: [
    f('Node', 'str'),
    f('SeqNo', 'u32'),
    f('SourceAddr', 'bytes', true),
    f('SourceNode', 'str', true),
    f('SourcePort', 'u16', true),
  ],
  indirectPing: [
    f('Nack', 'bool'),
    f('Node', 'str'),
    f('Port', 'u16'),
    f('SeqNo', 'u32'),
    f('SourceAddr', 'bytes', true),
    f('SourceNode', 'str', true),
    f('SourcePort', 'u16', true),
    f('Target', 'bytes'),
  ],
  ack: [f('Payload', 'bytes'), f('SeqNo', 'u32')],
  nack: [f('SeqNo', 'u32')],
  err: [f('Error', 'str')],
  suspect: [f('From', 'str'), f('Incarnation', 'u32'), f('Node', 'str')],
  alive: [
    f('Addr', 'bytes'),
    f('Incarnation', 'u32'),
    f('Meta', 'bytes'),
    f('Node', 'str'),
    f('Port', 'u16'),
    f('Vsn', 'bytes'),
  ],
  dead: [f('From', 'str'), f('Incarnation', 'u32'), f('Node', 'str')],
  pushPullHeader: [f('Join', 'bool'), f('Nodes', 'int'), f('UserStateLen', 'int')],
  userMsgHeader: [f('UserMsgLen', 'int')],
  pushNodeState: [
    f('Addr', 'bytes'),
    f('Incarnation', 'u32'),
    f('Meta', 'bytes'),
    f('Name', 'str'),
    f('Port', 'u16'),
    f('State', 'int'),
    f('Vsn', 'bytes'),
  ],
  compress: [f('Algo', 'u8'), f('Buf', 'bytes')],
} as const satisfies Record<string, readonly Field[]>

export type StructName = keyof typeof schemas

export interface StructTypes {
  ping: Ping
  indirectPing: IndirectPingReq
  ack: AckResp
  nack: NackResp
  err: ErrResp
  suspect: Suspect
  alive: Alive
  dead: Dead
  pushPullHeader: PushPullHeader
  userMsgHeader: UserMsgHeader
  pushNodeState: PushNodeState
  compress: Compress
}

const LIMITS: Record<'u8' | 'u16' | 'u32', number> = { u8: 0xff, u16: 0xffff, u32: 0xffffffff }

function isEmpty(kind: Kind, v: Shape[string]): boolean {
  if (v === undefined) return true
  switch (kind) {
    case 'str':
      return v === ''
    case 'bytes':
      return (v as Buffer).length === 0
    case 'bool':
      return v === false
    default:
      return v === 0
  }
}

/** Writes `value` as go-msgpack writes the Go struct. */
export function writeStruct<N extends StructName>(
  w: MsgpackWriter,
  name: N,
  value: StructTypes[N],
): void {
  const schema: readonly Field[] = schemas[name]
  const obj = value as unknown as Shape
  let n = 0
  for (const field of schema)
    if (!(field.omitEmpty === true && isEmpty(field.kind, obj[field.js]))) n++
  w.mapHeader(n)
  for (const field of schema) {
    const v = obj[field.js]
    if (field.omitEmpty === true && isEmpty(field.kind, v)) continue
    w.str(field.go)
    switch (field.kind) {
      case 'str':
        w.str((v as string | undefined) ?? '')
        break
      case 'bytes':
        w.raw(v as Buffer | undefined)
        break
      case 'bool':
        w.bool(v === true)
        break
      default:
        w.uint((v as number | undefined) ?? 0)
    }
  }
}

/** The struct alone, msgpack-encoded. */
export function encodeStruct<N extends StructName>(name: N, value: StructTypes[N]): Buffer {
  const w = new MsgpackWriter()
  writeStruct(w, name, value)
  return Buffer.from(w.finish())
}

function bad(name: string, field: string, why: string): GossipDecodeError {
  return new GossipDecodeError(`${name}.${field}: ${why}`, { reason: 'malformed' })
}

function coerce(name: string, field: Field, v: MsgValue): Shape[string] {
  // Go decodes nil into any field as its zero value.
  if (v === null) {
    switch (field.kind) {
      case 'str':
        return ''
      case 'bytes':
        return undefined
      case 'bool':
        return false
      default:
        return 0
    }
  }
  switch (field.kind) {
    case 'str':
      if (typeof v === 'object' && !Array.isArray(v) && v.kind === 'str')
        return v.bytes.toString('utf8')
      throw bad(name, field.go, 'expected a string')
    case 'bytes':
      if (typeof v === 'object' && !Array.isArray(v) && (v.kind === 'str' || v.kind === 'bin')) {
        return Buffer.from(v.bytes)
      }
      // go-msgpack also decodes an array of small integers into a []byte (some encoders send Vsn so).
      if (Array.isArray(v)) {
        const out = Buffer.alloc(v.length)
        v.forEach((x, i) => {
          if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xff) {
            throw bad(name, field.go, 'array is not bytes')
          }
          out[i] = x
        })
        return out
      }
      throw bad(name, field.go, 'expected bytes')
    case 'bool':
      if (typeof v === 'boolean') return v
      throw bad(name, field.go, 'expected a bool')
    case 'int':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v
      throw bad(name, field.go, 'expected an integer')
    default: {
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw bad(name, field.go, 'expected an integer')
      if (v < 0 || v > LIMITS[field.kind]) throw bad(name, field.go, `${v} overflows ${field.kind}`)
      return v
    }
  }
}

/** Converts a decoded msgpack value into the struct, with Go's decoding rules. */
export function fromMsgpack<N extends StructName>(name: N, value: MsgValue): StructTypes[N] {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value.kind !== 'map') {
    throw new GossipDecodeError(`${name}: expected a map`, { reason: 'malformed' })
  }
  const out: Shape = {}
  for (const field of schemas[name] as readonly Field[]) {
    const v = value.entries.get(field.go)
    out[field.js] = v === undefined ? coerce(name, field, null) : coerce(name, field, v)
  }
  return out as unknown as StructTypes[N]
}

/** Decodes one struct from the start of `buf`; trailing bytes are ignored, as Go's decoder does. */
export function decodeStruct<N extends StructName>(
  name: N,
  buf: Buffer,
  offset = 0,
): { value: StructTypes[N]; end: number } {
  const { value, end } = readMsgpack(buf, offset)
  return { value: fromMsgpack(name, value), end }
}
