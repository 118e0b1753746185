/**
 * The committed TLS fixtures in test/fixtures/tls/ (see its README.md), read once and cached.
 */

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const TLS_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url))

/** Fixture names that have a `<name>.pem` and `<name>-key.pem`. */
export const TLS_FIXTURE_NAMES = [
  'ca',
  'bob',
  'betty',
  'bonnie',
  'alice',
  'client',
  'other-ca',
  'other-server',
  'expired',
] as const

export type TlsFixtureName = (typeof TLS_FIXTURE_NAMES)[number]

export interface TlsIdentity {
  cert: string
  key: string
}

const cache = new Map<string, TlsIdentity>()

/** `{ cert, key }` PEM strings for a fixture, e.g. `tlsFixture('bob')`, ready for `node:tls`. */
export function tlsFixture(name: TlsFixtureName | (string & {})): TlsIdentity {
  let found = cache.get(name)
  if (found === undefined) {
    if (!(TLS_FIXTURE_NAMES as readonly string[]).includes(name)) {
      throw new Error(
        `unknown TLS fixture ${JSON.stringify(name)}; known: ${TLS_FIXTURE_NAMES.join(', ')}`,
      )
    }
    found = {
      cert: readFileSync(`${TLS_FIXTURES_DIR}${name}.pem`, 'utf8'),
      key: readFileSync(`${TLS_FIXTURES_DIR}${name}-key.pem`, 'utf8'),
    }
    cache.set(name, found)
  }
  // A fresh object each time, so a caller that mutates it cannot change what others get.
  return { ...found }
}

/** The main CA's certificate (PEM), which signs every fixture except `other-server`. */
export function caPem(): string {
  return tlsFixture('ca').cert
}

/** The unrelated second CA's certificate (PEM), which signs only `other-server`. */
export function otherCaPem(): string {
  return tlsFixture('other-ca').cert
}
