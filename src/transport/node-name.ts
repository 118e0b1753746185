import { InvalidNodeNameError } from '../errors.ts'

export interface SplitNodeName {
  /** The short node name (without the datacenter suffix). */
  node: string
  datacenter: string
}

/**
 * How a WAN node name encodes its datacenter:
 * - `'strict'` (default, Consul's rule): exactly `<node>.<dc>`, one dot; anything else is an error.
 *   Empty parts are accepted as Consul accepts them (`.dc1` gives node `''`).
 * - `'last-dot'`: split on the last dot, so dotted (FQDN) node names work (Consul issue #12614):
 *   `ceph-2.example.com.dc1` gives node `ceph-2.example.com`, dc `dc1`.
 * - a function, for any other convention; it throws (or returns undefined) for names it refuses.
 */
export type NodeNameRule = 'strict' | 'last-dot' | ((name: string) => SplitNodeName | undefined)

/**
 * Splits a WAN node name into node and datacenter.
 *
 * @throws {InvalidNodeNameError} `node name does not encode a datacenter: <name>`
 */
export function splitNodeName(name: string, rule: NodeNameRule = 'strict'): SplitNodeName {
  if (typeof name !== 'string')
    throw new InvalidNodeNameError(`node name must be a string, got ${typeof name}`)
  let result: SplitNodeName | undefined
  if (rule === 'strict') {
    const dot = name.indexOf('.')
    if (dot >= 0 && name.indexOf('.', dot + 1) < 0)
      result = { node: name.slice(0, dot), datacenter: name.slice(dot + 1) }
  } else if (rule === 'last-dot') {
    const dot = name.lastIndexOf('.')
    if (dot >= 0) result = { node: name.slice(0, dot), datacenter: name.slice(dot + 1) }
  } else {
    result = rule(name)
  }
  if (result === undefined)
    throw new InvalidNodeNameError(`node name does not encode a datacenter: ${name}`)
  return result
}
