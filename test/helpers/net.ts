import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import type { Readable } from 'node:stream'

/** A TCP listener on 127.0.0.1 that accepts and never says a word: a peer that hangs handshakes. */
export async function silentServer(): Promise<{
  port: number
  sockets: Set<Socket>
  close(): Promise<void>
}> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    // Read (and discard) so the peer's FIN is noticed and the socket closes.
    s.resume()
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  return {
    port,
    sockets,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Reads a stream to its end. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  // Iterating a stream destroys it at the end unless told not to; half-close tests need it alive.
  for await (const chunk of (stream as Readable).iterator({ destroyOnReturn: false })) {
    chunks.push(Buffer.from(chunk as Uint8Array))
  }
  return Buffer.concat(chunks)
}

/**
 * A port whose listener never accepts and whose accept queue is full, so new TCP connects hang
 * (the SYN is dropped) until the dialler gives up: how a dial timeout is exercised on loopback.
 * Node's own listeners always accept, so a python3 child holds the listening socket.
 */
export async function blackholePort(): Promise<{ port: number; close(): Promise<void> }> {
  const { spawn } = await import('node:child_process')
  const { connect } = await import('node:net')
  const child = spawn(
    'python3',
    [
      '-c',
      'import socket,sys\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
  })
  // Fill the accept queue (a backlog of 0 still admits one or two).
  const fillers: import('node:net').Socket[] = []
  for (let i = 0; i < 3; i++) {
    const s = connect({ host: '127.0.0.1', port })
    s.on('error', () => {})
    fillers.push(s)
  }
  await new Promise((r) => setTimeout(r, 50))
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy()
      child.stdin.end()
      await exited
    },
  }
}

/** Polls `check` every 5 ms until it holds; throws naming `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
