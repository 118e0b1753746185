/**
 * A tiny authoritative DNS server over UDP (RFC 1035), enough for the DNS locator example: it
 * answers SRV and A questions from a table the example can change while it runs, NXDOMAIN for
 * names it does not hold, and ignores anything that is not a query. In a deployment this is your
 * DNS (Consul's own DNS interface answers `_mesh-gateway._tcp` style SRV names, for instance).
 */
import { createSocket, type RemoteInfo } from 'node:dgram'
import { once } from 'node:events'

export interface SrvRecord {
  priority: number
  weight: number
  port: number
  target: string
}

export interface DnsRecords {
  srv?: readonly SrvRecord[]
  a?: readonly string[]
}

const TYPE_A = 1
const TYPE_SRV = 33
const CLASS_IN = 1
const TTL_S = 5

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.')
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])),
    Buffer.from([0]),
  ])
}

/** The question's name, type and where it ends; undefined if the message is malformed. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  const labels: string[] = []
  let at = 12
  for (;;) {
    const len = msg[at]
    // No compression in a question we accept: a pointer (or garbage) is refused.
    if (len === undefined || len > 63) return undefined
    at++
    if (len === 0) break
    if (at + len > msg.length) return undefined
    labels.push(msg.toString('ascii', at, at + len).toLowerCase())
    at += len
  }
  if (at + 4 > msg.length) return undefined
  return { name: labels.join('.'), type: msg.readUInt16BE(at), end: at + 4 }
}

function record(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12)
  head.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
  head.writeUInt16BE(type, 2)
  head.writeUInt16BE(CLASS_IN, 4)
  head.writeUInt32BE(TTL_S, 6)
  head.writeUInt16BE(rdata.length, 10)
  return Buffer.concat([head, rdata])
}

function answers(type: number, records: DnsRecords | undefined): Buffer[] {
  if (type === TYPE_SRV) {
    return (records?.srv ?? []).map((r) => {
      const fixed = Buffer.alloc(6)
      fixed.writeUInt16BE(r.priority, 0)
      fixed.writeUInt16BE(r.weight, 2)
      fixed.writeUInt16BE(r.port, 4)
      return record(TYPE_SRV, Buffer.concat([fixed, encodeName(r.target)]))
    })
  }
  if (type === TYPE_A) {
    return (records?.a ?? []).map((ip) => record(TYPE_A, Buffer.from(ip.split('.').map(Number))))
  }
  return []
}

function reply(msg: Buffer, table: ReadonlyMap<string, DnsRecords>): Buffer | undefined {
  if (msg.length < 12 || (msg[2] as number) & 0x80 || msg.readUInt16BE(4) !== 1) return undefined
  const q = readQuestion(msg)
  if (q === undefined) return undefined
  const records = table.get(q.name)
  const rrs = answers(q.type, records)
  const header = Buffer.alloc(12)
  msg.copy(header, 0, 0, 2) // the query's id
  // QR (a response), AA (authoritative), RD copied from the query; RCODE 3 (NXDOMAIN) if unknown.
  header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | (records ? 0 : 3), 2)
  header.writeUInt16BE(1, 4)
  header.writeUInt16BE(rrs.length, 6)
  return Buffer.concat([header, msg.subarray(12, q.end), ...rrs])
}

export interface DnsServer {
  /** `127.0.0.1:<port>`, for `Resolver.setServers`. */
  address: string
  /** Replaces every record of `name`; `undefined` removes the name. */
  set(name: string, records: DnsRecords | undefined): void
  /** Questions answered so far. */
  readonly answered: number
  close(): Promise<void>
}

export async function startDnsServer(host = '127.0.0.1'): Promise<DnsServer> {
  const table = new Map<string, DnsRecords>()
  const socket = createSocket('udp4')
  let answered = 0
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const out = reply(msg, table)
    if (out === undefined) return
    answered++
    socket.send(out, from.port, from.address)
  })
  socket.bind(0, host)
  await once(socket, 'listening')
  return {
    address: `${host}:${socket.address().port}`,
    set(name, records) {
      const key = name.replace(/\.$/, '').toLowerCase()
      if (records === undefined) table.delete(key)
      else table.set(key, records)
    },
    get answered() {
      return answered
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
}
