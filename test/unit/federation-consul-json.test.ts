import { describe, expect, it } from 'vitest'
import { toConsulFederationStateJson } from '../../src/locator/federation/consul-json.ts'
import { parseFederationState } from '../../src/locator/federation/validate.ts'
import { gateway, state } from '../helpers/federation.ts'

describe('Consul JSON shapes', () => {
  it('renders a state as Consul does: PascalCase, RFC 3339 UpdatedAt, MeshGateways omitted when empty', () => {
    const s = parseFederationState({
      ...state('dc2', gateway({ name: 'gw1', lan: '10.0.0.1', wan: '198.51.100.1', output: 'ok' })),
      updatedAt: Date.UTC(2026, 11, 2, 4, 30),
      primaryModifyIndex: 7,
      createIndex: 2,
      modifyIndex: 7,
    })
    const json = toConsulFederationStateJson(s)
    expect(json).toMatchObject({
      Datacenter: 'dc2',
      UpdatedAt: '2026-12-02T04:30:00Z',
      PrimaryModifyIndex: 7,
      CreateIndex: 2,
      ModifyIndex: 7,
    })
    const [gw] = json['MeshGateways'] as Record<string, Record<string, unknown>>[]
    expect(gw?.['Node']).toMatchObject({ Node: 'gw1', Address: '10.0.0.1' })
    expect(gw?.['Service']).toMatchObject({
      Kind: 'mesh-gateway',
      Port: 8443,
      TaggedAddresses: { wan: { Address: '198.51.100.1', Port: 8443 } },
      Meta: { 'consul-wan-federation': '1' },
    })
    const checks = (gw?.['Checks'] ?? []) as unknown as Record<string, unknown>[]
    expect(checks[0]).toMatchObject({
      CheckID: 'check-0',
      Status: 'passing',
      Output: 'ok',
    })
    const empty = toConsulFederationStateJson(parseFederationState({ datacenter: 'dc3' }))
    expect('MeshGateways' in empty).toBe(false)
    expect(empty['UpdatedAt']).toBe('0001-01-01T00:00:00Z')
    expect(JSON.parse(JSON.stringify(json))).toEqual(json)
  })
})
