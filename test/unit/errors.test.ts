import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as errors from '../../src/errors.ts'

const classes = Object.entries(errors).filter(
  ([name, value]) =>
    typeof value === 'function' && /^[A-Z]\w*Error$/.test(name) && name !== 'WanfedError',
) as [string, new (message: string, options?: errors.WanfedErrorOptions) => errors.WanfedError][]

describe('errors', () => {
  it('every class has its name, a WANFED_ERR_ code and keeps its cause', () => {
    expect(classes.length).toBeGreaterThan(15)
    for (const [name, Cls] of classes) {
      const cause = new Error('root')
      const err = new Cls('boom', { cause })
      expect(err.name).toBe(name)
      expect(err.code).toMatch(/^WANFED_ERR_[A-Z_]+$/)
      expect(err.cause).toBe(cause)
      expect(err).toBeInstanceOf(errors.WanfedError)
      expect(err).toBeInstanceOf(Cls)
      expect(errors.isWanfedError(err, err.code)).toBe(true)
    }
  })

  it('subclass instanceof does not confuse siblings, and works across copies by brand', () => {
    const timeout = new errors.TimeoutError('t')
    expect(timeout).not.toBeInstanceOf(errors.AbortError)
    // A copy from another instance of the package: same brand and name, other prototype.
    const foreign = Object.assign(Object.create(Error.prototype), {
      name: 'TimeoutError',
      [Symbol.for('wanfed.error')]: true,
    })
    expect(foreign).toBeInstanceOf(errors.WanfedError)
    expect(foreign).toBeInstanceOf(errors.TimeoutError)
    expect(foreign).not.toBeInstanceOf(errors.AbortError)
    expect(errors.isWanfedError(new Error('x'))).toBe(false)
  })

  it('AbortError is named as Node and libp2p expect, and remote flags follow memberlist', () => {
    expect(new errors.AbortError('a').name).toBe('AbortError')
    expect(new errors.SocketError('s').remote).toBe(true)
    expect(new errors.InvalidNodeNameError('n').remote).toBe(false)
    expect(new errors.NoGatewayError('g').remote).toBe(false)
    expect(new errors.InvalidArgumentError('x', { remote: true }).remote).toBe(true)
  })

  it('docs/errors.md documents every code in one row of one table, and no code that does not exist', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    expect(doc.match(/^\| code /gm), 'one table of codes').toHaveLength(1)
    const rows = [...doc.matchAll(/^\| `(WANFED_ERR_[A-Z_]+)`/gm)].map((m) => m[1])
    const codes = classes.map(([, Cls]) => new Cls('x').code)
    for (const code of codes) expect(rows.filter((r) => r === code), code).toHaveLength(1)
    expect(new Set(rows)).toEqual(new Set(codes))
  })
})
