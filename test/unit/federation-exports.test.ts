import { describe, expect, it } from 'vitest'
import * as root from '../../src/index.ts'
import * as locator from '../../src/locator/index.ts'

// DESIGN.md fixes these names for wanfed/locator; the root re-exports them.
describe('federation exports', () => {
  it('wanfed/locator and wanfed export the federation classes', () => {
    expect(locator.FederationStateStore).toBeTypeOf('function')
    expect(locator.FederationGatewayLocator).toBeTypeOf('function')
    expect(root.FederationStateStore).toBe(locator.FederationStateStore)
    expect(root.FederationGatewayLocator).toBe(locator.FederationGatewayLocator)
    expect(root.FederationStateService).toBe(locator.FederationStateService)
    expect(root.FederationStateClient).toBe(locator.FederationStateClient)
    expect(root.ALPN_FEDERATION_STATE).toBe('wanfed/federation-state/1')
    expect(root.InvalidFederationStateError).toBeTypeOf('function')
    expect(root.SnapshotError).toBeTypeOf('function')
    expect(root.PersistError).toBeTypeOf('function')
    expect(root.RpcError).toBeTypeOf('function')
  })
})
