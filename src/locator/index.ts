/**
 * Gateway locators: which mesh gateway carries traffic to a datacenter.
 *
 * @example
 * ```ts
 * import { StaticGatewayLocator } from 'wanfed/locator'
 *
 * const locator = new StaticGatewayLocator({ dc2: ['10.0.2.1:8443', '10.0.2.2:8443'] })
 * locator.pickGateway('dc2') // one of them; a gateway that failed is avoided for a while
 * ```
 *
 * @packageDocumentation
 */

export type { BackoffOptions } from '../internal/backoff.ts'
export type { GatewayHealth, StaticGatewayLocatorOptions } from './static.ts'
export { StaticGatewayLocator } from './static.ts'
export type { GatewayLocator } from './types.ts'
