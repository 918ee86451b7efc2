import type { EstateSeed, SeedSecret, SeedVault } from "../../estate/seed.ts";
import { RotationTags } from "../core/rotation/model.ts";
import { sqlConnectionString, sqlLoginPassword } from "../azure/sqlLogins.ts";
import { randomSecret, sqlHostOf } from "../rotation/strategies.ts";
import { ancestorId, type Plan } from "../core/plan/index.ts";

/** Key Vault secrets seeded from a plan were created this many days before the seeding. */
const SECRET_AGE_DAYS = 30;

/**
 * The world a plan describes, as the local estate takes it (estate/seed.ts: Azure's resources by ARM
 * id, each in its region). The estate knows nothing of plans; this is where Switchyard's model meets it.
 * Plans that name the same resource are fine: the estate keeps the first copy it is given.
 */
export function seedFromPlans(plans: readonly Plan[]): EstateSeed {
  const seeds = plans.map(seedFromPlan);
  return {
    regions: seeds.flatMap((s) => s.regions ?? []),
    sqlServers: seeds.flatMap((s) => s.sqlServers ?? []),
    failoverGroups: seeds.flatMap((s) => s.failoverGroups ?? []),
    storageAccounts: seeds.flatMap((s) => s.storageAccounts ?? []),
    afdOriginGroups: seeds.flatMap((s) => s.afdOriginGroups ?? []),
    afdEndpoints: seeds.flatMap((s) => s.afdEndpoints ?? []),
    frontDoors: seeds.flatMap((s) => s.frontDoors ?? []),
    sites: seeds.flatMap((s) => s.sites ?? []),
    vaults: seeds.flatMap((s) => s.vaults ?? []),
  };
}

export function seedFromPlan(plan: Plan): EstateSeed {
  const primary = plan.regions.primary.name;
  const secondary = plan.regions.secondary.name;
  const regions = [plan.regions.primary, plan.regions.secondary];
  /** Priority 1 for what serves the primary region, 2 for the secondary's. */
  const priority = (region: string) => (region === primary ? 1 : 2);
  /** The host that serves a region's application: its first health endpoint's. */
  const hostOf = (region: string) => {
    const url = regions.find((r) => r.name === region)?.healthEndpoints[0]?.url;
    return url ? new URL(url).hostname : undefined;
  };
  /** Plans give no region for a vault (nor, optionally, a site): taken from its name or resource group, else the primary region. */
  const regionNamedIn = (...names: string[]) => [secondary, primary].find((r) => names.some((n) => n.toLowerCase().includes(r))) ?? primary;

  const vaults = new Map<string, SeedVault & { secrets: NonNullable<SeedVault["secrets"]>[number][] }>();
  /** SQL logins of the plan's SQL login secrets, by server id: the first login is in use, with the secret's password. */
  const logins = new Map<string, { name: string; password: string }[]>();
  for (const secret of plan.secrets) {
    // What the vaults hold to begin with: the storage account's key1, the first login's connection
    // string, or (generated) a random value; tagged with the credential, as a rotation tags its versions.
    const initial = initialValue(plan, secret);
    if (secret.source.kind === "sqlLogin") {
      for (const server of secret.source.servers) {
        const list = logins.get(server.id.toLowerCase()) ?? [];
        list.push({ name: secret.source.logins[0], password: initial.password! }, { name: secret.source.logins[1], password: sqlLoginPassword(secret.source.length) });
        logins.set(server.id.toLowerCase(), list);
      }
    }
    for (const v of secret.vaults) {
      const k = v.id.toLowerCase();
      const vault = vaults.get(k) ?? { id: v.id, location: regionNamedIn(v.name, v.resourceGroup), secrets: [] };
      vaults.set(k, vault);
      vault.secrets.push({ name: secret.name, createdDaysAgo: SECRET_AGE_DAYS, expiresInDays: secret.validityDays - SECRET_AGE_DAYS, ...initial.seed });
    }
  }
  /**
   * Each site references each of the plan's secrets (versionless, so that it follows rotations) in the
   * vault of its own resource group or region when there is one: a SQL login's as a connection string, others as app settings.
   */
  const references = (siteRegion: string, siteGroup: string) => {
    const settings: Record<string, string> = {};
    const strings: Record<string, { value: string; type: string }> = {};
    for (const secret of plan.secrets) {
      const vault =
        secret.vaults.find((v) => v.resourceGroup.toLowerCase() === siteGroup.toLowerCase()) ??
        secret.vaults.find((v) => regionNamedIn(v.name, v.resourceGroup) === siteRegion) ??
        secret.vaults[0]!;
      const reference = `@Microsoft.KeyVault(SecretUri=https://${vault.name}.vault.azure.net/secrets/${secret.name}/)`;
      const name = secret.name.toUpperCase().replace(/-/g, "_");
      if (secret.source.kind === "sqlLogin") strings[name] = { value: reference, type: "SQLAzure" };
      else settings[name] = reference;
    }
    return { settings, strings };
  };
  const sqlServerIds = new Set(plan.sql.flatMap((g) => [ancestorId(g.failoverGroup, 1).toLowerCase(), g.partnerServer.id.toLowerCase()]));
  const extraServers = plan.secrets.flatMap((s) => (s.source.kind === "sqlLogin" ? s.source.servers : [])).filter((server, i, all) => !sqlServerIds.has(server.id.toLowerCase()) && all.findIndex((o) => o.id.toLowerCase() === server.id.toLowerCase()) === i);
  const withLogins = <T extends { id: string }>(server: T) => {
    const list = logins.get(server.id.toLowerCase());
    return list ? { ...server, logins: list } : server;
  };

  return {
    regions: regions.map((r) => ({ name: r.name, applicationHosts: r.healthEndpoints.map((e) => new URL(e.url).host.toLowerCase()) })),
    sqlServers: [
      ...plan.sql.flatMap((g) => [withLogins({ id: ancestorId(g.failoverGroup, 1), location: primary }), withLogins({ id: g.partnerServer.id, location: secondary })]),
      ...extraServers.map((server) => withLogins({ id: server.id, location: regionNamedIn(server.name, server.resourceGroup) })),
    ],
    failoverGroups: plan.sql.map((g) => ({
      id: g.failoverGroup.id,
      partnerServerId: g.partnerServer.id,
      databases: g.databases ?? [`${g.failoverGroup.name}-db`],
      // A grace period is Azure's own automatic failover policy; without one the group fails over only when told.
      ...(g.gracePeriodMinutes !== undefined ? { readWriteEndpoint: { failoverPolicy: "Automatic" as const, failoverWithDataLossGracePeriodMinutes: g.gracePeriodMinutes } } : {}),
    })),
    storageAccounts: plan.storage.map((s) => ({ id: s.account.id, sku: s.sku, primaryLocation: primary, secondaryLocation: secondary })),
    afdOriginGroups: plan.frontDoor.standard.map((g) => ({
      id: g.originGroup.id,
      origins: Object.entries(g.origins).map(([region, name]) => ({ name, hostName: hostOf(region) ?? `${name}.azurewebsites.net`, priority: priority(region), region })),
    })),
    // Each origin group is served by one endpoint of its profile, named after it, through one `/*` route.
    afdEndpoints: plan.frontDoor.standard.map((g) => ({
      id: `${ancestorId(g.originGroup, 1)}/afdEndpoints/${g.originGroup.name}`,
      routes: [{ name: `${g.originGroup.name}-route`, originGroupId: g.originGroup.id, patternsToMatch: ["/*"] }],
    })),
    frontDoors: plan.frontDoor.classic.map((fd) => ({
      id: fd.frontDoor.id,
      backendPools: [{ name: fd.backendPool, backends: Object.entries(fd.backends).map(([region, address]) => ({ address, priority: priority(region), region })) }],
    })),
    // A site starts with the values its settings take while the primary region is primary.
    sites: plan.appService.map((s) => {
      const location = s.region ?? regionNamedIn(s.site.name, s.site.resourceGroup);
      const refs = references(location, s.site.resourceGroup);
      return {
        id: s.site.id,
        location,
        appSettings: { ...refs.settings, ...Object.fromEntries(s.appSettings.map((setting) => [setting.name, setting.values[primary] ?? ""])) },
        connectionStrings: { ...refs.strings, ...Object.fromEntries(s.connectionStrings.map((c) => [c.name, { value: c.values[primary] ?? "", type: c.type }])) },
      };
    }),
    vaults: [...vaults.values()],
  };
}

type PlanSecret = Plan["secrets"][number];

/** A secret's first value as the estate is seeded with it (and, for a SQL login, the login's password). */
function initialValue(plan: Plan, secret: PlanSecret): { seed: Partial<SeedSecret>; password?: string } {
  const source = secret.source;
  switch (source.kind) {
    case "storageAccountKey":
      return { seed: { valueFrom: { storageAccountKey: { account: source.account.id, keyName: "key1" } }, tags: { [RotationTags.credential]: "key1" } } };
    case "sqlLogin": {
      const password = sqlLoginPassword(source.length);
      const value = sqlConnectionString({ serverHost: sqlHostOf(plan, source), database: source.database ?? "master", login: source.logins[0], password });
      return { seed: { value, tags: { [RotationTags.credential]: source.logins[0] } }, password };
    }
    case "generated":
      // One value in every vault, as a rotation leaves it.
      return { seed: { value: randomSecret(source.length, source.alphabet), tags: { [RotationTags.credential]: "generated" } } };
  }
}
