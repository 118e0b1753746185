import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MeshGateway } from '../../src/gateway/mesh-gateway.ts'
import { FederationStateAntiEntropy } from '../../src/locator/federation/anti-entropy.ts'
import { FederationGatewayLocator } from '../../src/locator/federation/gateway-locator.ts'
import { FederationStateStore } from '../../src/locator/federation/store.ts'
import type { MeshGatewayInput } from '../../src/locator/federation/validate.ts'
import { StaticGatewayLocator } from '../../src/locator/static.ts'
import { gateway, state } from '../helpers/federation.ts'
import { replicateFromPrimary, servePrimaryStates } from '../helpers/federation-gateways.ts'
import { leakGuard } from '../helpers/leaks.ts'
import { until } from '../helpers/net.ts'

const { clock, cleanups } = leakGuard()

/** The primary's server: bob in dc1, serving its store (persisted when `path` is given). */
async function primaryServer(path: string, port = 0) {
  const store = await FederationStateStore.open({ path, clock })
  return { store, ...(await servePrimaryStates(store, cleanups, clock, port)) }
}

async function meshGateway(
  datacenter: string,
  servers: Record<string, string>,
  remote: Record<string, string[]>,
) {
  const gw = new MeshGateway({
    datacenter,
    servers,
    locator: new StaticGatewayLocator(remote),
    clock,
    closeGraceMs: 100,
  })
  const { port } = await gw.listen({ host: '127.0.0.1', port: 0 })
  cleanups.push(() => gw.close())
  return { gw, address: `127.0.0.1:${port}` }
}

/**
 * dc1 (primary: bob behind gateway gw1) and dc2 (secondary: betty's replicator behind gw2). The
 * replicator dials the primary through its local gateway: gw2 -> gw1 -> bob, real TLS end to end.
 */
async function federation() {
  const dir = await mkdtemp(join(tmpdir(), 'wanfed-repl-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'primary.msgpack')
  let primary = await primaryServer(path)
  const gw1 = await meshGateway('dc1', { bob: primary.address }, {})
  const gw2 = await meshGateway('dc2', {}, { dc1: [gw1.address] })
  const secondary = new FederationStateStore({ clock })
  const locator = new FederationGatewayLocator({
    store: secondary,
    datacenter: 'dc2',
    primaryDatacenter: 'dc1',
    replicates: true,
    refreshRate: 1000,
    clock,
  }).start()
  cleanups.push(async () => {
    await locator.close()
    await secondary.close()
  })
  const { client, replicator } = replicateFromPrimary(cleanups, clock, {
    store: secondary,
    locator,
    // The route to the primary is the locator's own decision: local gateway first.
    route: new StaticGatewayLocator({ dc1: [gw2.address] }),
  })
  return {
    get primary() {
      return primary
    },
    async restartPrimary() {
      const port = primary.port
      await primary.stop()
      primary = await primaryServer(path, port)
    },
    gw1,
    gw2,
    secondary,
    locator,
    replicator,
    client,
  }
}

type Federation = Awaited<ReturnType<typeof federation>>

const view = (s: FederationStateStore) =>
  JSON.stringify(
    s.list().states.map((x) => ({ dc: x.datacenter, gw: x.meshGateways, primary: x.modifyIndex })),
  )
const replicatedView = (s: FederationStateStore) =>
  JSON.stringify(
    s
      .list()
      .states.map((x) => ({ dc: x.datacenter, gw: x.meshGateways, primary: x.primaryModifyIndex })),
  )

async function converged(f: Federation, what: string) {
  await until(() => replicatedView(f.secondary) === view(f.primary.store), what, 10_000)
}

describe('federation-state replication through mesh gateways (real TLS)', () => {
  it('50 datacenters upserted, updated and deleted in the primary; the secondary converges each time', async () => {
    const f = await federation()
    f.replicator.start()
    for (let i = 0; i < 50; i++)
      f.primary.store.upsert(
        state(`dc${i + 3}`, gateway({ name: `g${i}`, wan: `192.0.2.${i + 1}` })),
      )
    await converged(f, '50 upserts')
    expect(f.secondary.list().states).toHaveLength(50)
    for (let i = 0; i < 50; i += 2)
      f.primary.store.upsert(
        state(`dc${i + 3}`, gateway({ name: `g${i}`, wan: `198.18.0.${i + 1}` })),
      )
    await converged(f, '25 updates')
    for (let i = 0; i < 50; i += 5) f.primary.store.delete(`dc${i + 3}`)
    await converged(f, '10 deletions')
    expect(f.secondary.list().states).toHaveLength(40)
    expect(f.replicator.stats().failures).toBe(0)
  })

  it("an Apply reaches the secondary's locator: the primary's new gateway and this DC's own", async () => {
    const f = await federation()
    f.replicator.start()
    // Anti-entropy's writes: dc2's gateways go to the primary over the gateways, as Apply.
    await f.client.apply({
      op: 'upsert',
      state: state('dc2', gateway({ name: 'b1', lan: '10.2.0.1' })),
    })
    await f.client.apply({
      op: 'upsert',
      state: state('dc1', gateway({ name: 'p1', lan: '10.1.0.1', wan: '127.0.0.1' })),
    })
    await until(
      () => f.locator.localGateways().length === 1 && f.locator.primaryGateways().length === 1,
      'locator',
      10_000,
    )
    expect(f.locator.pickGateway('dc1')).toBe('10.2.0.1:8443')
    expect(await f.locator.waitForPrimaryGateways()).toEqual(['127.0.0.1:8443'])
    expect(f.secondary.get('dc2').state?.updatedAt).toBeGreaterThan(0)
  })

  it('a primary that goes away and comes back, restarted from its persisted store', async () => {
    const f = await federation()
    f.primary.store.upsert(state('dc1', gateway({ name: 'p1', wan: '198.51.100.1' })))
    f.primary.store.upsert(state('dc2', gateway({ name: 'b1', lan: '10.2.0.1' })))
    f.replicator.start()
    await converged(f, 'first sync')
    expect(f.locator.listGateways(true)).toEqual(['10.2.0.1:8443'])
    const index = f.primary.store.index
    await f.primary.stop()
    // Replication fails three times in a row: the secondary dials the primary's own gateways.
    await until(() => !f.locator.dialPrimaryThroughLocalGateway(), 'direct dialling', 10_000)
    expect(f.locator.listGateways(true)).toEqual(['198.51.100.1:8443'])
    await f.restartPrimary()
    expect(f.primary.store.index).toBe(index)
    f.primary.store.upsert(state('dc4'))
    await converged(f, 'after restart')
    await until(() => f.locator.dialPrimaryThroughLocalGateway(), 'back through local', 10_000)
    expect(f.replicator.stats().failures).toBeGreaterThanOrEqual(3)
  })

  it('a full resync when the primary index moves backwards', async () => {
    const f = await federation()
    f.primary.store.upsert(state('dc1'))
    const old = f.primary.store.snapshot()
    for (let i = 0; i < 5; i++) f.primary.store.upsert(state(`dc${i + 10}`))
    f.replicator.start()
    await converged(f, 'first sync')
    const fullSyncs = f.replicator.stats().fullSyncs
    f.primary.store.restore(old)
    f.primary.store.upsert(state('dc99'))
    await converged(f, 'after restore')
    expect(f.secondary.list().states.map((s) => s.datacenter)).toEqual(['dc1', 'dc99'])
    expect(f.replicator.stats().fullSyncs).toBe(fullSyncs + 1)
  })

  it("a secondary's anti-entropy pushes its gateways to the primary through the gateways and settles once the copy comes back", async () => {
    const f = await federation()
    f.replicator.start()
    let list: MeshGatewayInput[] = [gateway({ name: 'b1', lan: '10.2.0.1' })]
    const ae = new FederationStateAntiEntropy({
      datacenter: 'dc2',
      primaryDatacenter: 'dc1',
      store: f.secondary,
      gateways: () => list,
      primary: f.client,
      rate: 1000,
      clock,
    })
    const outcomes: string[] = []
    ae.on('round', (r) => outcomes.push(r.outcome))
    cleanups.push(() => ae.close())
    ae.start()
    await until(() => f.locator.localGateways().length === 1, 'own gateway replicated back', 10_000)
    await until(() => outcomes.includes('skipped'), 'a skipped round', 10_000)
    expect(f.primary.store.get('dc2').state?.updatedAt).toBeGreaterThan(0)
    list = [...list, gateway({ name: 'b2', lan: '10.2.0.2' })]
    ae.notify()
    await until(
      () =>
        f.locator.localGateways().length === 2 &&
        outcomes.filter((o) => o === 'synced').length === 2,
      'second gateway',
      10_000,
    )
    expect(f.locator.localGateways()).toEqual(['10.2.0.1:8443', '10.2.0.2:8443'])
    expect(outcomes.filter((o) => o === 'synced')).toHaveLength(2)
  })
})
