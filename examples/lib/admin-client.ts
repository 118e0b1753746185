/** GET of a JSON document from a gateway's admin endpoint, on a connection of its own that ends with it. */
import { get } from 'node:http'

export function getJson(url: string, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // agent: false, so no kept-alive socket outlives the request.
    const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode} ${body}`))
        else resolve(JSON.parse(body))
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)))
    req.on('error', reject)
  })
}
