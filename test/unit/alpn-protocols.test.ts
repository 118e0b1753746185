import { describe, expect, it } from 'vitest'
import {
  ALPN_RPC_CONSUL,
  ALPN_RPC_GRPC,
  ALPN_RPC_MULTIPLEX_V2,
  ALPN_RPC_RAFT,
  ALPN_RPC_RAFT_FORWARDING,
  ALPN_RPC_SNAPSHOT,
  ALPN_WAN_GOSSIP_PACKET,
  ALPN_WAN_GOSSIP_STREAM,
  isNativeTlsFirstByte,
  parseServerSni,
  RPC_MAX_TYPE_VALUE,
  RPC_NEXT_PROTOS,
  serverSni,
} from '../../src/alpn/index.ts'
import { formatHostPort, parseHostPort } from '../../src/internal/address.ts'

describe('protocol ids', () => {
  it('are exactly Consul’s', () => {
    expect(ALPN_WAN_GOSSIP_PACKET).toBe('consul/wan-gossip/packet')
    expect(ALPN_WAN_GOSSIP_STREAM).toBe('consul/wan-gossip/stream')
    expect(RPC_NEXT_PROTOS).toEqual([
      ALPN_RPC_CONSUL,
      ALPN_RPC_RAFT,
      ALPN_RPC_MULTIPLEX_V2,
      ALPN_RPC_SNAPSHOT,
      'consul/rpc-gossip',
      ALPN_RPC_GRPC,
      ALPN_RPC_RAFT_FORWARDING,
      'consul/wan-gossip/packet',
      'consul/wan-gossip/stream',
    ])
    expect(RPC_MAX_TYPE_VALUE).toBe(9)
  })

  it('treats 0..9 as type bytes and 10..255 as TLS', () => {
    for (let b = 0; b <= 255; b++) expect(isNativeTlsFirstByte(b)).toBe(b > 9)
    expect(isNativeTlsFirstByte(0x16)).toBe(true)
    // The original Consul maximum was 7.
    expect(isNativeTlsFirstByte(8, 7)).toBe(true)
  })
})

describe('serverSni', () => {
  it('builds Consul’s names', () => {
    expect(serverSni('dc2', 'bob')).toBe('bob.server.dc2.consul')
    expect(serverSni('dc2', '')).toBe('server.dc2.consul')
    expect(serverSni('dc2', '*')).toBe('server.dc2.consul')
    expect(serverSni('dc2')).toBe('server.dc2.consul')
    expect(serverSni('dc1', 'bob', 'consul.')).toBe('bob.server.dc1.consul')
    expect(serverSni('dc1', 'bob', 'example.com')).toBe('bob.server.dc1.example.com')
  })

  it('strips only one trailing dot and refuses malformed parts', () => {
    expect(() => serverSni('dc1', 'bob', 'consul..')).toThrow(/domain/)
    expect(() => serverSni('', 'bob')).toThrow(/datacenter/)
    expect(() => serverSni('dc.1', 'bob')).toThrow(/datacenter/)
    expect(() => serverSni('dc1', 'a.b')).toThrow(/node/)
    expect(() => serverSni('dc1', 'a/b')).toThrow(/node/)
    expect(() => serverSni('dc1', 'bob', '')).toThrow(/domain/)
  })

  it('parses back what it builds', () => {
    expect(parseServerSni('bob.server.dc2.consul')).toEqual({ node: 'bob', datacenter: 'dc2' })
    expect(parseServerSni('server.dc2.consul')).toEqual({ datacenter: 'dc2' })
    expect(parseServerSni('BOB.Server.DC2.consul')).toEqual({ node: 'bob', datacenter: 'dc2' })
    expect(parseServerSni('bob.client.dc2.consul')).toBeUndefined()
    expect(parseServerSni('bob.server.dc2.example')).toBeUndefined()
    expect(parseServerSni('a.bob.server.dc2.consul')).toBeUndefined()
  })
})

describe('host:port', () => {
  it('parses IPv4, names and bracketed IPv6', () => {
    expect(parseHostPort('127.0.0.1:8443')).toEqual({ host: '127.0.0.1', port: 8443 })
    expect(parseHostPort('gw.example:1')).toEqual({ host: 'gw.example', port: 1 })
    expect(parseHostPort('[::1]:8443')).toEqual({ host: '::1', port: 8443 })
    expect(formatHostPort('::1', 8443)).toBe('[::1]:8443')
    expect(formatHostPort('10.0.0.1', 1)).toBe('10.0.0.1:1')
  })

  it('refuses what is not host:port', () => {
    for (const bad of [
      '',
      'host',
      ':80',
      '::1:80',
      '[::1]80',
      '[nope]:1',
      'h:99999',
      'h:-1',
      'h:8a',
    ]) {
      expect(() => parseHostPort(bad), bad).toThrow(/host:port/)
    }
  })
})
