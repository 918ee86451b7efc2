/**
 * What the estate holds for one plan's resources, in the plan's terms (per region), for e2e assertions.
 * Read from the estate's state directly: the tests check the world, not what Switchyard says about it.
 */
import { seedFromPlan } from "../../src/local/estateSeed.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import type { Estate } from "../../estate/server.ts";
import { key } from "../../estate/state.ts";

export interface Member {
  readonly priority: number;
  readonly enabledState: string;
}

export interface PlanState {
  readonly sql: { readonly group: string; readonly primaryRegion: string; readonly dataLossSeconds: number }[];
  readonly storage: { readonly account: string; readonly primaryLocation: string; readonly secondaryLocation: string | undefined; readonly sku: string; readonly dataLossSeconds: number }[];
  /** Origin (AFD) or backend (classic) state per plan region. */
  readonly afd: { readonly originGroup: string; readonly byRegion: Record<string, Member> }[];
  readonly classic: { readonly frontDoor: string; readonly byRegion: Record<string, Member> }[];
  readonly sites: { readonly site: string; readonly location: string; readonly appSettings: Record<string, string>; readonly connectionStrings: Record<string, string> }[];
}

export function planState(estate: Estate, plan: Plan): PlanState {
  const s = estate.state;
  estate.operations.settle();
  const serverRegion = (id: string) => {
    for (const servers of s.sqlServers.values()) {
      const found = servers.get(key(id));
      if (found) return found.location;
    }
    throw new Error(`no SQL server ${id} in the estate`);
  };
  const sql = plan.sql.map((spec) => {
    const partner = key(spec.partnerServer.id);
    const group = s.failoverGroups.find((g) => g.name.toLowerCase() === spec.failoverGroup.name.toLowerCase() && [g.primaryServerId, g.secondaryServerId].some((id) => key(id) === partner));
    if (!group) throw new Error(`no failover group ${spec.failoverGroup.id} in the estate`);
    return { group: spec.failoverGroup.name, primaryRegion: serverRegion(group.primaryServerId), dataLossSeconds: group.dataLossSeconds };
  });
  const storage = plan.storage.map((spec) => {
    const account = s.storageAccounts.get(spec.account.subscriptionId.toLowerCase())?.get(key(spec.account.id));
    if (!account) throw new Error(`no storage account ${spec.account.id} in the estate`);
    return { account: account.name, primaryLocation: account.primaryLocation, secondaryLocation: account.secondaryLocation, sku: account.sku, dataLossSeconds: account.dataLossSeconds };
  });
  const afd = plan.frontDoor.standard.map((spec) => ({
    originGroup: spec.originGroup.name,
    byRegion: Object.fromEntries(
      Object.entries(spec.origins).map(([region, origin]) => {
        const o = s.afdOrigins.get(key(`${spec.originGroup.id}/origins/${origin}`));
        if (!o) throw new Error(`no origin ${origin} in the estate`);
        return [region, { priority: o.priority, enabledState: o.enabledState }];
      }),
    ),
  }));
  const classic = plan.frontDoor.classic.map((spec) => {
    const fd = s.frontDoors.get(key(spec.frontDoor.id));
    const pools = (fd?.body.properties as { backendPools?: { name: string; properties: { backends: { address: string; priority: number; enabledState: string }[] } }[] } | undefined)?.backendPools ?? [];
    const pool = pools.find((p) => p.name.toLowerCase() === spec.backendPool.toLowerCase());
    if (!pool) throw new Error(`no backend pool ${spec.backendPool} in ${spec.frontDoor.id}`);
    return {
      frontDoor: spec.frontDoor.name,
      byRegion: Object.fromEntries(
        Object.entries(spec.backends).map(([region, address]) => {
          const b = pool.properties.backends.find((x) => x.address.toLowerCase() === address.toLowerCase());
          if (!b) throw new Error(`no backend ${address} in pool ${spec.backendPool}`);
          return [region, { priority: b.priority, enabledState: b.enabledState }];
        }),
      ),
    };
  });
  const sites = plan.appService.map((spec) => {
    const site = s.sites.get(key(spec.site.id));
    if (!site) throw new Error(`no site ${spec.site.id} in the estate`);
    return {
      site: site.name,
      location: site.location,
      appSettings: { ...site.appSettings },
      connectionStrings: Object.fromEntries(Object.entries(site.connectionStrings).map(([k, v]) => [k, v.value])),
    };
  });
  return { sql, storage, afd, classic, sites };
}

/** The plan's app settings and connection strings of site `index` with their values for `region`. */
export function expectedSettings(plan: Plan, index: number, region: string): { appSettings: Record<string, string>; connectionStrings: Record<string, string> } {
  const spec = plan.appService[index]!;
  // What the site was seeded with besides the plan's settings (Key Vault references to the plan's secrets) stays as it was.
  const seeded = seedFromPlan(plan).sites?.find((s) => s.id.toLowerCase() === spec.site.id.toLowerCase());
  const isReference = (value: string) => value.startsWith("@Microsoft.KeyVault(");
  const references = Object.fromEntries(Object.entries(seeded?.appSettings ?? {}).filter(([, v]) => isReference(v)));
  const referenceStrings = Object.fromEntries(Object.entries(seeded?.connectionStrings ?? {}).filter(([, v]) => isReference(v.value)).map(([k, v]) => [k, v.value]));
  return {
    appSettings: { ...references, ...Object.fromEntries(spec.appSettings.map((x) => [x.name, x.values[region] ?? ""])) },
    connectionStrings: { ...referenceStrings, ...Object.fromEntries(spec.connectionStrings.map((x) => [x.name, x.values[region] ?? ""])) },
  };
}
