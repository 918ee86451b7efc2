import { objectAt } from "./json.ts";
import type { Estate } from "./server.ts";
import { storageFailoverInProgress } from "./services/storage.ts";

/** Every resource with its ARM id and state, for `GET /_estate/state` (secret values are left out). */
export function snapshot(estate: Estate) {
  const s = estate.state;
  const flat = <T>(m: Map<string, Map<string, T>>) => [...m.values()].flatMap((inner) => [...inner.values()]);
  return {
    regions: Object.fromEntries([...s.regions].map(([name, r]) => [name, { ...r, healthUrl: safe(() => estate.regionUrl(name)) }])),
    // A login shows its name, state and when its password was set; never the password's hash.
    sqlServers: flat(s.sqlServers).map(({ logins, ...server }) => ({
      ...server,
      ...(logins ? { logins: logins.map((l) => ({ name: l.name, disabled: l.disabled, passwordSetAt: new Date(l.passwordSetAt).toISOString() })) } : {}),
    })),
    failoverGroups: s.failoverGroups.map((g) => ({
      ids: [`${g.primaryServerId}/failoverGroups/${g.name}`, `${g.secondaryServerId}/failoverGroups/${g.name}`],
      name: g.name,
      primaryServerId: g.primaryServerId,
      secondaryServerId: g.secondaryServerId,
      databases: g.databases,
      lagSeconds: g.lagSeconds,
      dataLossSeconds: g.dataLossSeconds,
    })),
    storageAccounts: flat(s.storageAccounts).map((a) => ({
      id: a.id,
      primaryLocation: a.primaryLocation,
      secondaryLocation: a.secondaryLocation ?? null,
      sku: a.sku,
      lagSeconds: a.lagSeconds,
      dataLossSeconds: a.dataLossSeconds,
      failoverInProgress: storageFailoverInProgress(estate.operations, a.id),
      keys: a.keys.map((k) => ({ keyName: k.keyName, creationTime: k.creationTime })),
    })),
    afdOrigins: [...s.afdOrigins.values()],
    frontDoors: [...s.frontDoors.values()].map((f) => ({ id: f.id, backendPools: objectAt(f.body, "properties")?.backendPools })),
    sites: [...s.sites.values()].map((site) => ({
      id: site.id,
      location: site.location,
      appSettingNames: Object.keys(site.appSettings),
      connectionStringNames: Object.keys(site.connectionStrings),
    })),
    vaults: [...s.vaults.values()].map((v) => ({
      name: v.name,
      secrets: [...v.secrets.values()].map((sec) => ({ name: sec.name, versions: sec.versions.map(({ value: _value, ...rest }) => rest) })),
    })),
    operations: estate.operations.list().map(({ completion: _completion, result: _result, ...op }) => op),
  };
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
