/**
 * Lazy loader for `@peculiar/x509`.
 *
 * `@peculiar/x509` uses tsyringe, which refuses to load unless a Reflect metadata polyfill
 * (`reflect-metadata`, `core-js/full/reflect`, …) has been installed on the global `Reflect`.
 * We do not want a dependency for that, nor to leave a partial polyfill on a global object that
 * other libraries probe (a framework seeing `Reflect.getMetadata` would assume the whole API is
 * there). So, only when a certificate is first needed, and only when no polyfill is present, we
 * install a minimal metadata store, load the library (tsyringe reads metadata only while its
 * decorators run, at load time), then remove exactly what we added.
 *
 * Internal: not exported from the package.
 * @packageDocumentation
 */

import type * as X509 from '@peculiar/x509'

type X509Module = typeof X509

type MetadataFns = {
  getMetadata?: (key: unknown, target: object) => unknown
  getOwnMetadata?: (key: unknown, target: object) => unknown
  defineMetadata?: (key: unknown, value: unknown, target: object) => void
  hasOwnMetadata?: (key: unknown, target: object) => boolean
}

let loading: Promise<X509Module> | undefined

/** The `@peculiar/x509` module, loaded once. */
export function loadX509(): Promise<X509Module> {
  loading ??= importWithMetadataShim()
  return loading
}

async function importWithMetadataShim(): Promise<X509Module> {
  const reflect = Reflect as unknown as MetadataFns
  if (typeof reflect.getMetadata === 'function') return import('@peculiar/x509')

  const store = new WeakMap<object, Map<unknown, unknown>>()
  const own = (key: unknown, target: object): unknown => store.get(target)?.get(key)
  const shim: Required<MetadataFns> = {
    getOwnMetadata: own,
    hasOwnMetadata: (key, target) => store.get(target)?.has(key) ?? false,
    getMetadata: (key, target) => {
      for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t)) {
        const map = store.get(t)
        if (map?.has(key)) return map.get(key)
      }
      return undefined
    },
    defineMetadata: (key, value, target) => {
      let map = store.get(target)
      if (map === undefined) {
        map = new Map()
        store.set(target, map)
      }
      map.set(key, value)
    },
  }
  const added: (keyof MetadataFns)[] = []
  for (const name of Object.keys(shim) as (keyof MetadataFns)[]) {
    if (reflect[name] === undefined) {
      Object.defineProperty(Reflect, name, {
        value: shim[name],
        configurable: true,
        writable: true,
      })
      added.push(name)
    }
  }
  try {
    return await import('@peculiar/x509')
  } finally {
    for (const name of added) {
      if (reflect[name] === shim[name]) delete reflect[name]
    }
  }
}
