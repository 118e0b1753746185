import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError, PersistError, SnapshotError } from '../../src/errors.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import { gateway, state } from '../helpers/federation.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'wanfed-fs-'))
  dirs.push(d)
  return d
}

describe('FederationStateStore persistence', () => {
  it('a restarted store serves what it had, with the same indexes', async () => {
    const path = join(await tempDir(), 'states.msgpack')
    const a = await FederationStateStore.open({ path })
    expect(a.list()).toEqual({ index: 0, states: [] })
    a.upsert(state('dc1', gateway({ wan: '198.51.100.1' })))
    a.upsert(state('dc2', gateway({ name: 'g2' })))
    a.delete('dc2')
    a.upsert(state('dc3'))
    await a.close()
    const b = await FederationStateStore.open({ path })
    expect(b.index).toBe(5)
    expect(b.list()).toEqual(a.list())
    expect(b.stats()).toMatchObject({ path, states: 2, writes: 0 })
    b.upsert(state('dc4'))
    expect(b.get('dc4').state?.modifyIndex).toBe(6)
    await b.flush()
    expect(b.stats().writes).toBe(1)
    await b.close()
  })

  it('writes coalesce, flush waits for the last change, and no temp file is left', async () => {
    const dir = await tempDir()
    const path = join(dir, 's')
    const s = await FederationStateStore.open({ path })
    for (let i = 0; i < 50; i++) s.upsert(state(`dc${i}`, gateway()))
    await s.flush()
    expect(s.stats().writes).toBeLessThan(50)
    expect(await readdir(dir)).toEqual(['s'])
    const check = new FederationStateStore()
    check.restore(await readFile(path))
    expect(check.index).toBe(51)
    await s.close()
  })

  it('a malformed file is refused and left untouched', async () => {
    const path = join(await tempDir(), 's')
    await writeFile(path, 'not msgpack at all')
    await expect(FederationStateStore.open({ path })).rejects.toBeInstanceOf(SnapshotError)
    await expect(FederationStateStore.open({ path })).rejects.toThrow(path)
    expect(await readFile(path, 'utf8')).toBe('not msgpack at all')
  })

  it('an unreadable path is a PersistError; a missing path option an InvalidArgumentError', async () => {
    const dir = await tempDir()
    await expect(FederationStateStore.open({ path: dir })).rejects.toBeInstanceOf(PersistError)
    await expect(FederationStateStore.open({ path: '' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })

  it('a failed write rejects flush with PersistError, keeps memory, and is retried', async () => {
    const dir = await tempDir()
    const sub = join(dir, 'sub')
    await mkdir(sub)
    const path = join(sub, 's')
    const s = await FederationStateStore.open({ path })
    await rm(sub, { recursive: true })
    s.upsert(state('dc1'))
    await expect(s.flush()).rejects.toBeInstanceOf(PersistError)
    expect(s.stats().writeErrors).toBeGreaterThan(0)
    expect(s.get('dc1').state?.datacenter).toBe('dc1')
    await mkdir(sub)
    await s.flush()
    const again = await FederationStateStore.open({ path })
    expect(again.get('dc1').state?.datacenter).toBe('dc1')
    await s.close()
    await again.close()
  })
})
