/**
 * Free ports for the config files. A deployment writes fixed ports; on a shared machine the
 * example asks the kernel for free ones instead: each is bound (TCP and UDP, as a gossip port
 * needs both), all at once so no two are the same, then released for the processes to take.
 */
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createServer } from 'node:net'

export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const held: (() => Promise<void>)[] = []
  try {
    const ports: number[] = []
    while (ports.length < count) {
      const server = createServer()
      server.listen(0, host)
      await once(server, 'listening')
      held.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const { port } = server.address() as { port: number }
      const udp = createSocket('udp4')
      const bound = await new Promise<boolean>((resolve) => {
        udp.once('error', () => resolve(false))
        udp.bind(port, host, () => resolve(true))
      })
      // Closed either way: a socket whose bind failed still holds a handle until closed.
      held.push(
        () =>
          new Promise<void>((resolve) => {
            try {
              udp.close(() => resolve())
            } catch {
              resolve() // already closed by the failed bind
            }
          }),
      )
      // Its UDP twin is taken: keep the TCP one held (so it is not offered again) and skip it.
      if (bound) ports.push(port)
    }
    return ports
  } finally {
    await Promise.all(held.map((release) => release()))
  }
}

/**
 * Runs `listen` again while its port is taken, up to `forMs`: a restarted process binds its old
 * port, which sat free meanwhile and may have been handed to an outgoing connection for a while.
 */
export async function whenPortFree<T>(listen: () => Promise<T>, forMs = 10_000): Promise<T> {
  const deadline = performance.now() + forMs
  for (;;) {
    try {
      return await listen()
    } catch (err) {
      if (!inUse(err) || performance.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

function inUse(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e)
    if (e.code === 'EADDRINUSE') return true
  return false
}
