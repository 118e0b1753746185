/**
 * `wanfed gateway --primary-datacenter <dc> [--primary-gateway host:port ...]`: the gateway learns
 * every datacenter's gateways from federation states, as Consul's `-expose-servers` mesh gateways
 * do, so adding a datacenter needs no gateway config edit. In a secondary it replicates the
 * primary's states through the gateways (first the `--primary-gateway` addresses, Consul's
 * `primary_gateways`; later, as Consul's servers do, its own datacenter's gateways); in the primary
 * it reads them from the local servers. Remote routes then come from the replicated copy, with the
 * config's `remoteGateways` and the primary gateways as fallback.
 *
 * @packageDocumentation
 */

import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { TlsCredentials } from '../alpn/tls-options.ts'
import { FederationStateReplicator } from '../locator/federation/replicator.ts'
import { FederationRoutes } from '../locator/federation/routes.ts'
import {
  FederationGatewayLocator,
  FederationStateClient,
  FederationStateStore,
  type GatewayLocator,
  StaticGatewayLocator,
} from '../locator/index.ts'
import { isSniLabel } from '../names.ts'
import { CommandError, UsageError } from './args.ts'
import { checkAddress, type GatewaySettings } from './gateway-config.ts'

export interface FederationFlagValues {
  primaryDatacenter: string | undefined
  primaryGateways: readonly string[]
  caFile: string | undefined
  certFile: string | undefined
  keyFile: string | undefined
}

export interface FederationSettings {
  /** Lowercased. */
  primaryDatacenter: string
  /** `host:port`, as given. */
  primaryGateways: string[]
  tls: TlsCredentials
}

const usage = (field: string, problem: string): never => {
  throw new UsageError(`${field}: ${problem}`)
}

/**
 * Validates the federation flags against the gateway's datacenter and reads the TLS files.
 * Undefined when federation is off (no `--primary-datacenter` and no `--primary-gateway`).
 */
export async function resolveFederation(
  flags: FederationFlagValues,
  datacenter: string,
  cwd: string,
): Promise<FederationSettings | undefined> {
  const { primaryDatacenter: primaryRaw, primaryGateways } = flags
  if (primaryRaw === undefined) {
    if (primaryGateways.length > 0)
      throw new UsageError('--primary-gateway needs --primary-datacenter')
    for (const [flag, v] of [
      ['--ca-file', flags.caFile],
      ['--cert-file', flags.certFile],
      ['--key-file', flags.keyFile],
    ] as const)
      if (v !== undefined) throw new UsageError(`${flag} is used only with --primary-datacenter`)
    return undefined
  }
  const primary = primaryRaw.toLowerCase()
  if (!isSniLabel(primary))
    usage('--primary-datacenter', `invalid datacenter ${JSON.stringify(primaryRaw)}`)
  for (const g of primaryGateways) checkAddress(g, '--primary-gateway', usage)
  if (primary === datacenter && primaryGateways.length > 0)
    throw new UsageError("'--primary-gateway' should only be configured in a secondary datacenter")
  if (primary !== datacenter && primaryGateways.length === 0)
    throw new UsageError(
      'a gateway in a secondary datacenter needs at least one --primary-gateway host:port',
    )
  const read = async (flag: string, path: string | undefined): Promise<string> => {
    if (path === undefined)
      throw new UsageError(
        `${flag} is required with --primary-datacenter (mutual TLS to the servers)`,
      )
    try {
      return await readFile(resolve(cwd, path), 'utf8')
    } catch (err) {
      throw new CommandError(`${flag} ${path}: ${(err as Error).message}`)
    }
  }
  const [ca, cert, key] = await Promise.all([
    read('--ca-file', flags.caFile),
    read('--cert-file', flags.certFile),
    read('--key-file', flags.keyFile),
  ])
  return {
    primaryDatacenter: primary,
    primaryGateways: [...primaryGateways],
    tls: { ca, cert, key },
  }
}

/** What a federated gateway runs besides the MeshGateway. */
export class GatewayFederation {
  readonly store = new FederationStateStore()
  readonly locator: FederationGatewayLocator
  readonly routes: FederationRoutes
  readonly #client: FederationStateClient
  readonly #replicator: FederationStateReplicator

  /**
   * @param fallback the config's static routes (asked after the federation states)
   * @param localServers in the primary, where the federation-state service is dialled directly
   */
  constructor(
    federation: FederationSettings,
    settings: GatewaySettings,
    fallback: GatewayLocator,
    localServers: () => string[],
  ) {
    const primary = federation.primaryDatacenter
    this.locator = new FederationGatewayLocator({
      store: this.store,
      datacenter: settings.datacenter,
      primaryDatacenter: primary,
      replicates: true,
      fallbackAddresses: federation.primaryGateways,
    })
    const isPrimary = primary === settings.datacenter
    // In the primary the servers hold the authoritative store: dial them, not a gateway.
    const serviceLocator: GatewayLocator = isPrimary
      ? {
          pickGateway: (dc) => {
            const all = dc === primary ? localServers() : []
            return all[Math.floor(Math.random() * all.length)]
          },
        }
      : this.locator
    this.#client = new FederationStateClient({
      datacenter: primary,
      locator: serviceLocator,
      tls: federation.tls,
      ...(settings.domain === undefined ? {} : { domain: settings.domain }),
    })
    this.#replicator = new FederationStateReplicator({
      store: this.store,
      source: this.#client,
      locator: this.locator,
    })
    this.routes = new FederationRoutes({
      store: this.store,
      datacenter: settings.datacenter,
      fallback: [
        fallback,
        new StaticGatewayLocator(isPrimary ? {} : { [primary]: federation.primaryGateways }),
      ],
    })
  }

  start(): void {
    this.locator.start()
    this.#replicator.start()
  }

  /** Stops replicating and closes the connection to the primary's service, then the store. */
  async close(): Promise<void> {
    await this.#replicator.close()
    await this.#client.close()
    await this.locator.close()
    await this.store.close()
  }
}
