/**
 * Shared pieces of the network benchmarks: certificates made in memory, percentiles, a free port,
 * and HAProxy started on loopback by the tests' own helper (test/helpers/proxies.ts).
 */

import { execFileSync } from 'node:child_process'
import type { TlsCredentials } from '../../src/alpn/tls-options.ts'
import { createCertificateAuthority, createServerCertificate } from '../../src/certs/index.ts'
import {
  hasHaproxy,
  type RunningProxy,
  startHaproxy as startProxy,
} from '../../test/helpers/proxies.ts'

export { median, percentile } from './percentiles.ts'

export const MiB = 1024 * 1024

export interface BenchCerts {
  ca: string
  /** dc2's server certificate: `*.server.dc2.consul`, so one server answers every node SNI. */
  dc2: TlsCredentials
  /** dc1's server certificate, presented as the client certificate by dialling nodes. */
  dc1: TlsCredentials
}

/** A CA and two server certificates (ECDSA P-256, as Consul makes them), in memory. */
export async function makeCerts(): Promise<BenchCerts> {
  const ca = await createCertificateAuthority()
  const dc2 = await createServerCertificate(ca, {
    datacenter: 'dc2',
    additionalDnsNames: ['*.server.dc2.consul'],
  })
  const dc1 = await createServerCertificate(ca, { datacenter: 'dc1', node: 'sender' })
  return {
    ca: ca.cert,
    dc2: { ca: ca.cert, cert: dc2.cert, key: dc2.key },
    dc1: { ca: ca.cert, cert: dc1.cert, key: dc1.key },
  }
}

export function haproxyVersion(): string | undefined {
  if (!hasHaproxy) return undefined
  const out = execFileSync('haproxy', ['-v'], { encoding: 'utf8' })
  return /version (\S+)/.exec(out)?.[1] ?? 'unknown'
}

// Starting a real HAProxy on loopback is the tests' job too: one helper serves both.
export type { RunningProxy as RunningHaproxy } from '../../test/helpers/proxies.ts'
export { freePort } from '../../test/helpers/proxies.ts'

/** Runs `haproxy -db -f <config>` in the foreground on a free 127.0.0.1 port. */
export function startHaproxy(config: (port: number) => string): Promise<RunningProxy> {
  return startProxy((port) => config(port))
}

/** `host:port` -> parts (IPv4 loopback only here). */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':')
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) }
}
