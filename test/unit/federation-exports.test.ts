import { describe, expect, it } from 'vitest'
import * as root from '../../src/index.ts'
import * as locator from '../../src/locator/index.ts'

// DESIGN.md fixes these names for wanfed/locator; the root re-exports them.
describe('federation exports', () => {
  it('wanfed/locator and wanfed export FederationStateStore and FederationGatewayLocator', () => {
    for (const name of ['FederationStateStore', 'FederationGatewayLocator'] as const) {
      expect(locator[name]).toBeTypeOf('function')
      expect(root[name]).toBe(locator[name])
    }
    expect(root.InvalidFederationStateError).toBeTypeOf('function')
    expect(root.SnapshotError).toBeTypeOf('function')
    expect(root.PersistError).toBeTypeOf('function')
  })
})
