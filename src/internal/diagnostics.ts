import { channel } from 'node:diagnostics_channel'
import type {
  DialConnectedMessage,
  DialErrorMessage,
  DialStartMessage,
  ServerAcceptedMessage,
  ServerLegacyMessage,
  ServerRejectedMessage,
} from '../alpn/diagnostics.ts'
import { ALPN_DIAGNOSTICS_CHANNELS as alpn } from '../alpn/diagnostics.ts'
import type {
  GatewayClosedMessage,
  GatewayRejectedMessage,
  GatewaySplicedMessage,
  GatewayUpstreamErrorMessage,
} from '../gateway/diagnostics.ts'
import { GATEWAY_DIAGNOSTICS_CHANNELS as gateway } from '../gateway/diagnostics.ts'

/** A channel whose publishers must send the payload type the public modules document. */
interface TypedChannel<T> {
  readonly name: string
  readonly hasSubscribers: boolean
  publish(message: T): void
}

function typed<T>(name: string): TypedChannel<T> {
  return channel(name) as unknown as TypedChannel<T>
}

/**
 * `node:diagnostics_channel` channels, named and typed in the public modules
 * (`ALPN_DIAGNOSTICS_CHANNELS`, `GATEWAY_DIAGNOSTICS_CHANNELS`) and described in
 * docs/observability.md. Publishing is skipped when nobody listens (`hasSubscribers`), so the hot
 * path pays nothing.
 */
export const channels = {
  dialStart: typed<DialStartMessage>(alpn.dialStart),
  dialConnected: typed<DialConnectedMessage>(alpn.dialConnected),
  dialError: typed<DialErrorMessage>(alpn.dialError),
  serverAccepted: typed<ServerAcceptedMessage>(alpn.serverAccepted),
  serverRejected: typed<ServerRejectedMessage>(alpn.serverRejected),
  serverLegacy: typed<ServerLegacyMessage>(alpn.serverLegacy),
  gatewayRejected: typed<GatewayRejectedMessage>(gateway.gatewayRejected),
  gatewaySpliced: typed<GatewaySplicedMessage>(gateway.gatewaySpliced),
  gatewayUpstreamError: typed<GatewayUpstreamErrorMessage>(gateway.gatewayUpstreamError),
  gatewayClosed: typed<GatewayClosedMessage>(gateway.gatewayClosed),
} as const
