/**
 * wanfed: WAN federation through mesh gateways for Node gossip apps. Same-DC traffic goes through
 * your transport unchanged; traffic to another datacenter travels as TLS with SNI
 * `<node>.server.<dc>.<domain>` and ALPN `consul/wan-gossip/packet` or `consul/wan-gossip/stream`
 * through gateways that route on SNI, wire-compatible with Consul.
 *
 * This entry point re-exports every public module except `wanfed/testing` (which needs vitest).
 *
 * @example
 * ```ts
 * import { AlpnServer, NetTransport, StaticGatewayLocator, WanfedTransport } from 'wanfed'
 *
 * const server = new AlpnServer({ tls })
 * const transport = new WanfedTransport({
 *   transport: new NetTransport({ bindAddrs: ['127.0.0.1'] }),
 *   datacenter: 'dc1',
 *   locator: new StaticGatewayLocator({ dc2: ['127.0.0.1:8443'] }),
 *   tls,
 * }).attach(server)
 * await server.listen({ port: 8300 })
 * await transport.listen()
 * ```
 *
 * @packageDocumentation
 */

export * from './alpn/index.ts'
export * from './certs/index.ts'
export * from './errors.ts'
export * from './gateway/index.ts'
export * from './locator/index.ts'
export * from './memberlist/index.ts'
export * from './transport/index.ts'
