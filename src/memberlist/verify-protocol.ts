import { GossipRefusedError } from '../errors.ts'
import { NODE_STATE_WIRE } from './node.ts'
import type { NodeRec } from './node-record.ts'
import type { PushNodeState } from './wire/structs.ts'

/**
 * memberlist's `verifyProtocol`: the protocol and delegate ranges every alive node (remote and
 * local) supports are intersected, and every node's current versions must fall inside.
 *
 * @throws {GossipRefusedError} naming the first node outside the common range
 */
export function verifyProtocol(remote: readonly PushNodeState[], local: readonly NodeRec[]): void {
  let maxpmin = 0
  let minpmax = 255
  let maxdmin = 0
  let mindmax = 255
  for (const rn of remote) {
    if (rn.state !== NODE_STATE_WIRE.alive || rn.vsn === undefined || rn.vsn.length < 5) continue
    const v = rn.vsn
    maxpmin = Math.max(maxpmin, v[0] as number)
    minpmax = Math.min(minpmax, v[1] as number)
    maxdmin = Math.max(maxdmin, v[3] as number)
    mindmax = Math.min(mindmax, v[4] as number)
  }
  for (const n of local) {
    if (n.state !== 'alive') continue
    maxpmin = Math.max(maxpmin, n.pMin)
    minpmax = Math.min(minpmax, n.pMax)
    maxdmin = Math.max(maxdmin, n.dMin)
    mindmax = Math.min(mindmax, n.dMax)
  }
  const check = (name: string, pCur: number, dCur: number): void => {
    if (pCur < maxpmin || pCur > minpmax) {
      throw new GossipRefusedError(
        `node '${name}' protocol version (${pCur}) is incompatible: [${maxpmin}, ${minpmax}]`,
      )
    }
    if (dCur < maxdmin || dCur > mindmax) {
      throw new GossipRefusedError(
        `node '${name}' delegate protocol version (${dCur}) is incompatible: [${maxdmin}, ${mindmax}]`,
      )
    }
  }
  for (const n of remote) {
    const full = n.vsn !== undefined && n.vsn.length >= 6
    check(n.name, full ? (n.vsn?.[2] as number) : 0, full ? (n.vsn?.[5] as number) : 0)
  }
  for (const n of local) check(n.name, n.pCur, n.dCur)
}
