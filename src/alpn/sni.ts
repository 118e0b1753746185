import { InvalidArgumentError } from '../errors.ts'
import { DEFAULT_DOMAIN, isDnsName, isSniLabel, stripTrailingDot } from '../names.ts'

/** Consul's default domain. */
export { DEFAULT_DOMAIN }

/**
 * The TLS server name that routes to a Consul server through mesh gateways:
 * `<node>.server.<dc>.<domain>`, or `server.<dc>.<domain>` for "any server in dc" (node `''`,
 * `'*'` or omitted). One trailing dot of the domain is stripped, as Consul does with `consul.`.
 *
 * @throws {InvalidArgumentError} when dc, node or domain would not form a valid DNS name.
 */
export function serverSni(dc: string, node?: string, domain: string = DEFAULT_DOMAIN): string {
  const dom = stripTrailingDot(domain)
  if (!isSniLabel(dc))
    throw new InvalidArgumentError(`invalid datacenter for SNI: ${JSON.stringify(dc)}`)
  if (!isDnsName(dom, 'sni')) {
    throw new InvalidArgumentError(`invalid domain for SNI: ${JSON.stringify(domain)}`)
  }
  if (node === undefined || node === '' || node === '*') return `server.${dc}.${dom}`
  if (!isSniLabel(node))
    throw new InvalidArgumentError(`invalid node name for SNI: ${JSON.stringify(node)}`)
  return `${node}.server.${dc}.${dom}`
}

/** What an SNI name addresses, or undefined when it is not a server name in `domain`. */
export interface ParsedServerSni {
  /** The short node name, or undefined for the "any server" form. */
  node?: string
  datacenter: string
}

/** Parses `<node>.server.<dc>.<domain>` or `server.<dc>.<domain>`; the inverse of {@link serverSni}. */
export function parseServerSni(
  sni: string,
  domain: string = DEFAULT_DOMAIN,
): ParsedServerSni | undefined {
  const dom = stripTrailingDot(domain)
  const name = sni.toLowerCase()
  const suffix = `.${dom.toLowerCase()}`
  if (!name.endsWith(suffix)) return undefined
  const labels = name.slice(0, -suffix.length).split('.')
  if (labels.length === 2 && labels[0] === 'server' && labels[1]) return { datacenter: labels[1] }
  if (labels.length === 3 && labels[1] === 'server' && labels[0] && labels[2]) {
    return { node: labels[0], datacenter: labels[2] }
  }
  return undefined
}
