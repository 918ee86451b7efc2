import type { EstateSeed, SeedVault } from "../../estate/seed.ts";
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
  for (const secret of plan.secrets) {
    for (const v of secret.vaults) {
      const k = v.id.toLowerCase();
      const vault = vaults.get(k) ?? { id: v.id, location: regionNamedIn(v.name, v.resourceGroup), secrets: [] };
      vaults.set(k, vault);
      vault.secrets.push({ name: secret.name, createdDaysAgo: SECRET_AGE_DAYS, expiresInDays: secret.validityDays - SECRET_AGE_DAYS });
    }
  }

  return {
    regions: regions.map((r) => ({ name: r.name, applicationHosts: r.healthEndpoints.map((e) => new URL(e.url).host.toLowerCase()) })),
    sqlServers: plan.sql.flatMap((g) => [
      { id: ancestorId(g.failoverGroup, 1), location: primary },
      { id: g.partnerServer.id, location: secondary },
    ]),
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
    sites: plan.appService.map((s) => ({
      id: s.site.id,
      location: s.region ?? regionNamedIn(s.site.name, s.site.resourceGroup),
      appSettings: Object.fromEntries(s.appSettings.map((setting) => [setting.name, setting.values[primary] ?? ""])),
      connectionStrings: Object.fromEntries(s.connectionStrings.map((c) => [c.name, { value: c.values[primary] ?? "", type: c.type }])),
    })),
    vaults: [...vaults.values()],
  };
}
