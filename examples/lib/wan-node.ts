/**
 * One server node as the single-process examples build it: a `WanfedTransport` over a
 * `NetTransport`, attached to the `AlpnServer` that gateways deliver cross-DC traffic to, with a
 * certificate for `<node>.server.<dc>.consul` from the example's in-memory CA. Listening when
 * returned; `close()` closes the transport, then the server.
 */
import {
  AlpnServer,
  type CertificateAuthority,
  createServerCertificate,
  type GatewayLocator,
  NetTransport,
  WanfedTransport,
} from 'wanfed'

export interface WanNode {
  /** `<node>.<dc>`, its memberlist name. */
  name: string
  transport: WanfedTransport
  server: AlpnServer
  /** `127.0.0.1:<port>` of its ALPN server: what its DC's gateway routes to. */
  serverAddr: string
  close(): Promise<void>
}

export async function startWanNode(
  ca: CertificateAuthority,
  node: string,
  datacenter: string,
  locator: GatewayLocator,
): Promise<WanNode> {
  const tls = { ca: ca.cert, ...(await createServerCertificate(ca, { datacenter, node })) }
  // Every tunnelled connection comes from the gateway's IP: exempt it from the per-IP limit.
  const server = new AlpnServer({ tls, unlimitedAddresses: ['127.0.0.1'] })
  const transport = new WanfedTransport({
    transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
    datacenter,
    locator,
    tls,
  }).attach(server)
  const close = async () => {
    await transport.close()
    await server.close()
  }
  try {
    const { port } = await server.listen({ host: '127.0.0.1', port: 0 })
    await transport.listen()
    return {
      name: `${node}.${datacenter}`,
      transport,
      server,
      serverAddr: `127.0.0.1:${port}`,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
