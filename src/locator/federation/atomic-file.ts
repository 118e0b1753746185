import { randomBytes } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { PersistError } from '../../errors.ts'

/**
 * Replaces `path` with `bytes` so that a crash leaves either the old file or the new one, never a
 * mix: write a temporary file next to it, fsync it, rename it over `path`, fsync the directory.
 * The temporary file is removed on any failure.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  )
  try {
    const fh = await open(tmp, 'wx', 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (cause) {
    await unlink(tmp).catch(() => {})
    throw new PersistError(`cannot write ${path}: ${(cause as Error).message}`, { cause })
  }
  // The rename is durable only once the directory entry is; not every platform can fsync one.
  try {
    const dir = await open(dirname(path), 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } catch {
    // Best effort (EISDIR/EPERM on some systems); the data itself is already synced.
  }
}

/** The file's bytes, or undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path)
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new PersistError(`cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
}
