// A CommonJS consumer: require() of the ESM package, root and subpath (Node >= 20.19).
import wanfed = require('wanfed')
import certs = require('wanfed/certs')

async function main(): Promise<void> {
  const ca = await certs.createCertificateAuthority()
  console.log(`CA: ${ca.cert.split('\n')[0]}`)

  const a = new wanfed.NetTransport({ bindAddrs: ['127.0.0.1'] })
  const b = new wanfed.NetTransport({ bindAddrs: ['127.0.0.1'] })
  const got = new Promise<string>((resolve) => b.once('packet', (p) => resolve(`${p.buf}`)))
  await Promise.all([a.listen(), b.listen()])
  const { ip, port } = b.finalAdvertiseAddr()
  // UDP: resend until it arrives (it does at once on loopback, but UDP promises nothing).
  const resend = setInterval(() => {
    void a.writeToAddress(Buffer.from('hello from require()'), { name: 'b', addr: `${ip}:${port}` })
  }, 100)
  try {
    console.log(await got)
  } finally {
    clearInterval(resend)
    await Promise.all([a.close(), b.close()])
  }
  const closed = await a
    .writeToAddress(Buffer.from('late'), { name: 'b', addr: 'x:1' })
    .catch((e) => e)
  console.log(`after close: ${wanfed.isWanfedError(closed, 'WANFED_ERR_CLOSED')}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
