import type { Address } from '../transport/types.ts'
import { bytesToIp, joinHostPort } from './address.ts'
import type { Node, NodeState } from './node.ts'
import type { Alive } from './wire/structs.ts'

/** What this node knows about a member (memberlist's `nodeState`); mutable, never handed out. */
export interface NodeRec {
  name: string
  addr: Buffer | undefined
  port: number
  meta: Buffer
  pMin: number
  pMax: number
  pCur: number
  dMin: number
  dMax: number
  dCur: number
  incarnation: number
  state: NodeState
  /** Clock time of the last state change. */
  stateChange: number
}

/** The public, frozen view of a record. */
export function snapshot(n: NodeRec): Node {
  const ip = bytesToIp(n.addr)
  return Object.freeze({
    name: n.name,
    addr: ip,
    port: n.port,
    address: joinHostPort(ip, n.port),
    meta: Buffer.from(n.meta),
    state: n.state,
    incarnation: n.incarnation,
    pMin: n.pMin,
    pMax: n.pMax,
    pCur: n.pCur,
    dMin: n.dMin,
    dMax: n.dMax,
    dCur: n.dCur,
  })
}

/** `FullAddress`: where to send, with the name node-aware transports route on. */
export function fullAddress(n: NodeRec): Address {
  return { addr: joinHostPort(bytesToIp(n.addr), n.port), name: n.name }
}

/** The six version bytes, as `Vsn` carries them. */
export function vsnOf(n: NodeRec): Buffer {
  return Buffer.from([n.pMin, n.pMax, n.pCur, n.dMin, n.dMax, n.dCur])
}

export function setVsn(n: NodeRec, v: Buffer): void {
  n.pMin = v[0] as number
  n.pMax = v[1] as number
  n.pCur = v[2] as number
  n.dMin = v[3] as number
  n.dMax = v[4] as number
  n.dCur = v[5] as number
}

export const deadOrLeft = (n: NodeRec): boolean => n.state === 'dead' || n.state === 'left'

/** A record for the node an `alive` describes, in state `state`, changed at `now`. */
export function recordFromAlive(a: Alive, state: NodeState, now: number): NodeRec {
  const rec: NodeRec = {
    name: a.node,
    addr: a.addr,
    port: a.port,
    meta: Buffer.from(a.meta ?? []),
    pMin: 0,
    pMax: 0,
    pCur: 0,
    dMin: 0,
    dMax: 0,
    dCur: 0,
    incarnation: 0,
    state,
    stateChange: now,
  }
  if (a.vsn !== undefined && a.vsn.length > 5) setVsn(rec, a.vsn)
  return rec
}
