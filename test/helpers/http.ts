import type { IncomingHttpHeaders } from 'node:http'
import { request } from 'node:http'

export interface HttpAnswer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One HTTP/1.1 request on its own connection (no agent, so no socket outlives the answer). */
export function http(
  port: number,
  path: string,
  options: {
    method?: string
    headers?: Record<string, string>
    body?: string
    signal?: AbortSignal
  } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { connection: 'close', ...options.headers },
        agent: false,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** GET and JSON.parse, expecting `status`. */
export async function getJson(
  port: number,
  path: string,
  status = 200,
): Promise<{ body: unknown; headers: IncomingHttpHeaders }> {
  const a = await http(port, path)
  if (a.status !== status) throw new Error(`GET ${path}: ${a.status} ${a.body}, expected ${status}`)
  return { body: JSON.parse(a.body) as unknown, headers: a.headers }
}
