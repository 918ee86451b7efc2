import type { AFDOrigin } from "@azure/arm-cdn";
import { ancestorId, type Plan } from "../core/plan/index.ts";
import type { CheckResult, RegionHealth, RegionInput } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { withoutSecrets } from "./azureCall.ts";
import type { ActivityDeps } from "./deps.ts";
import { otherRegion, planRegion, probeRegion, sameRegion } from "./health.ts";

/*
 * Read-only checks. Each check reads Azure and says what it saw; a read that fails for good (404, 400)
 * is a failed check with the error's summary, while a transient failure (429, 5xx, no answer) throws
 * a retryable error so that the orchestrator retries the whole activity (honouring Retry-After).
 * Setting values are compared, never shown: a check names the settings that differ.
 */

type Check = CheckResult["checks"][number];


/** Runs one check; permanent read failures become a failed check, transient ones throw. */
async function check(what: string, operation: string, resourceId: string, run: () => Promise<Omit<Check, "what">>, secrets: readonly string[] = []): Promise<Check> {
  try {
    return { what, ...(await run()) };
  } catch (error) {
    const normalised = withoutSecrets(normaliseAzureError(error, operation, resourceId), secrets);
    if (normalised.retryable) throw normalised;
    return { what, ok: false, detail: normalised.message };
  }
}

function result(checks: Check[]): CheckResult {
  return { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
}

function healthCheck(region: string, health: RegionHealth): Check {
  const answering = health.probes.filter((p) => p.ok).length;
  const failures = health.probes.filter((p) => !p.ok).map((p) => `${p.url}: ${p.error ?? `status ${p.status}`}`);
  return {
    what: `health endpoints of ${region}`,
    ok: health.healthy,
    detail: `${answering} of ${health.probes.length} answer${failures.length > 0 ? `; ${failures.join("; ")}` : ""}`,
  };
}

/** The SQL server of a plan failover group in `region`: the group's own server in the primary region, the partner in the secondary. */
export function sqlServerIn(plan: Plan, spec: Plan["sql"][number], region: string): { id: string; resourceGroup: string; name: string; subscriptionId: string } {
  planRegion(plan, region);
  if (region === plan.regions.primary.name) {
    const fog = spec.failoverGroup;
    return { id: ancestorId(fog, 1), resourceGroup: fog.resourceGroup, name: fog.names[0]!, subscriptionId: fog.subscriptionId };
  }
  const partner = spec.partnerServer;
  return { id: partner.id, resourceGroup: partner.resourceGroup, name: partner.name, subscriptionId: partner.subscriptionId };
}

/** Is `mine` enabled, with a priority below every other enabled member's? */
function servesFirst(members: readonly { key: string; priority?: number; enabledState?: string }[], mine: string): { ok: boolean; detail: string } {
  const enabled = (m: { enabledState?: string }) => (m.enabledState ?? "Enabled") === "Enabled";
  const self = members.find((m) => m.key.toLowerCase() === mine.toLowerCase());
  const describe = members.map((m) => `${m.key}: priority ${m.priority ?? "?"}, ${m.enabledState ?? "Enabled"}`).join("; ");
  if (!self) return { ok: false, detail: `no member '${mine}' (${describe})` };
  const rivals = members.filter((m) => m !== self && enabled(m));
  const ok = enabled(self) && rivals.every((m) => (self.priority ?? 1) < (m.priority ?? 1));
  return { ok, detail: describe };
}

// ---- the checks, one per resource ---------------------------------------------------------------

function sqlChecks(plan: Plan, region: string, judge: (group: { replicationRole?: string; replicationState?: string }) => { ok: boolean; detail: string }, deps: ActivityDeps): Promise<Check>[] {
  return plan.sql.map((spec) => {
    const server = sqlServerIn(plan, spec, region);
    const groupId = `${server.id}/failoverGroups/${spec.failoverGroup.name}`;
    return check(`SQL failover group ${spec.failoverGroup.name} on ${server.name}`, "FailoverGroups_Get", groupId, async () => {
      const group = await deps.clients.sql(server.subscriptionId).failoverGroups.get(server.resourceGroup, server.name, spec.failoverGroup.name);
      return judge(group);
    });
  });
}

function frontDoorChecks(plan: Plan, region: string, deps: ActivityDeps): Promise<Check>[] {
  const standard = plan.frontDoor.standard.map((spec) => {
    const group = spec.originGroup;
    return check(`Front Door origin group ${group.names[0]}/${group.name}`, "AFDOrigins_ListByOriginGroup", group.id, async () => {
      const mine = spec.origins[region];
      if (mine === undefined) return { ok: false, detail: `the plan names no origin for ${region}` };
      const origins: AFDOrigin[] = [];
      for await (const o of deps.clients.cdn(group.subscriptionId).afdOrigins.listByOriginGroup(group.resourceGroup, group.names[0]!, group.name)) origins.push(o);
      return servesFirst(origins.map((o) => ({ key: o.name ?? "", priority: o.priority, enabledState: o.enabledState })), mine);
    });
  });
  const classic = plan.frontDoor.classic.map((spec) => {
    const fdRef = spec.frontDoor;
    return check(`Front Door (classic) ${fdRef.name} backend pool ${spec.backendPool}`, "FrontDoors_Get", fdRef.id, async () => {
      const mine = spec.backends[region];
      if (mine === undefined) return { ok: false, detail: `the plan names no backend for ${region}` };
      const fd = await deps.clients.frontDoor(fdRef.subscriptionId).frontDoors.get(fdRef.resourceGroup, fdRef.name);
      const pool = fd.backendPools?.find((p) => p.name?.toLowerCase() === spec.backendPool.toLowerCase());
      if (!pool) return { ok: false, detail: `no backend pool '${spec.backendPool}'` };
      return servesFirst((pool.backends ?? []).map((b) => ({ key: b.address ?? "", priority: b.priority, enabledState: b.enabledState })), mine);
    });
  });
  return [...standard, ...classic];
}

/** Compares the names' stored values with the plan's, and says only which names differ. */
function compareNames(expected: ReadonlyMap<string, string>, stored: Readonly<Record<string, string | undefined>>, what: string): { ok: boolean; detail: string } {
  const lower = new Map(Object.entries(stored).map(([k, v]) => [k.toLowerCase(), v] as const));
  const missing = [...expected.keys()].filter((name) => lower.get(name.toLowerCase()) === undefined);
  const differ = [...expected.entries()].filter(([name, value]) => !missing.includes(name) && lower.get(name.toLowerCase()) !== value).map(([name]) => name);
  const ok = missing.length === 0 && differ.length === 0;
  const parts = [...(missing.length > 0 ? [`missing: ${missing.join(", ")}`] : []), ...(differ.length > 0 ? [`not the region's value: ${differ.join(", ")}`] : [])];
  return { ok, detail: ok ? `all ${expected.size} ${what} have the region's value` : parts.join("; ") };
}

/**
 * The settings checks of every plan site. A site located in the other region while that region is
 * down is not checked: the switch leaves it alone (it cannot be written, and takes no traffic), and
 * the failback brings it in line. Its check passes and says so.
 */
function appServiceChecks(plan: Plan, region: string, deps: ActivityDeps): Promise<Check>[] {
  if (plan.appService.length === 0) return [];
  const other = otherRegion(plan, region);
  let otherHealth: Promise<RegionHealth> | undefined;
  const otherDown = async () => !(await (otherHealth ??= probeRegion(plan, other, deps))).healthy;
  return plan.appService.flatMap((spec) => {
    const site = spec.site;
    const client = () => deps.clients.web(site.subscriptionId).webApps;
    const secrets = [...spec.appSettings, ...spec.connectionStrings].flatMap((s) => Object.values(s.values)).filter((v) => v.length >= 4);
    let skipped: Promise<string | undefined> | undefined;
    /** Why the site is not checked, if it is not. */
    const skip = () =>
      (skipped ??= (async () => {
        if (!(await otherDown())) return undefined;
        const location = (await client().get(site.resourceGroup, site.name)).location;
        return sameRegion(location, other) ? `not checked: the site is in ${other}, which is down; its settings are brought in line at failback` : undefined;
      })());
    const checks: Promise<Check>[] = [];
    if (spec.appSettings.length > 0) {
      const expected = new Map(spec.appSettings.map((s) => [s.name, s.values[region] ?? ""] as const));
      checks.push(
        check(`app settings of ${site.name}`, "WebApps_ListApplicationSettings", site.id, async () => {
          const why = await skip();
          if (why) return { ok: true, detail: why };
          const stored = (await client().listApplicationSettings(site.resourceGroup, site.name)).properties ?? {};
          return compareNames(expected, stored, "app settings");
        }, secrets),
      );
    }
    if (spec.connectionStrings.length > 0) {
      // Value and type compared together; the joined strings never leave this function.
      const expected = new Map(spec.connectionStrings.map((s) => [s.name, `${s.values[region] ?? ""}\u0000${s.type.toLowerCase()}`] as const));
      checks.push(
        check(`connection strings of ${site.name}`, "WebApps_ListConnectionStrings", site.id, async () => {
          const why = await skip();
          if (why) return { ok: true, detail: why };
          const stored = (await client().listConnectionStrings(site.resourceGroup, site.name)).properties ?? {};
          const flat = Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, `${v.value}\u0000${String(v.type).toLowerCase()}`]));
          return compareNames(expected, flat, "connection strings");
        }, secrets),
      );
    }
    return checks;
  });
}

// ---- activities ---------------------------------------------------------------------------------

/**
 * Activity: is `input.region` the working primary, end to end? Its health endpoints answer; every SQL
 * failover group is Primary on the region's server; every storage account's primary is there; every
 * Front Door origin group / classic pool sends traffic first to the region's origin / backend; every
 * plan app setting and connection string has the region's value (sites in the other region while it is
 * down excepted, as the switch leaves them alone). Read-only.
 */
export async function verifyPrimary(input: RegionInput, deps: ActivityDeps): Promise<CheckResult> {
  const { plan, region } = input;
  planRegion(plan, region);
  const checks = await Promise.all([
    probeRegion(plan, region, deps).then((health) => healthCheck(region, health)),
    ...sqlChecks(plan, region, (g) => ({ ok: g.replicationRole === "Primary", detail: `role ${g.replicationRole ?? "unknown"}, replication ${g.replicationState ?? "unknown"}` }), deps),
    ...plan.storage.map((spec) => {
      const account = spec.account;
      return check(`storage account ${account.name}`, "StorageAccounts_GetProperties", account.id, async () => {
        const props = await deps.clients.storage(account.subscriptionId).storageAccounts.getProperties(account.resourceGroup, account.name);
        return { ok: sameRegion(props.primaryLocation, region), detail: `primary ${props.primaryLocation ?? "unknown"}, secondary ${props.secondaryLocation ?? "none"}` };
      });
    }),
    ...frontDoorChecks(plan, region, deps),
    ...appServiceChecks(plan, region, deps),
  ]);
  const outcome = result(checks);
  deps.log.info(`verify ${region} as primary: ${outcome.ok ? "ok" : "FAILED"}`, { runId: input.runId, region, failed: checks.filter((c) => !c.ok).map((c) => c.what) });
  return outcome;
}

/**
 * Activity: may the run fail back into `input.region` (the original primary, secondary now)? Its
 * health endpoints answer; every storage account is geo-redundant again with the region as one of its
 * two locations (normally the secondary; already primary there counts too) and replication Live; every
 * SQL failover group answers from the region's server with replication not SUSPENDED. Read-only.
 */
export async function checkReprotection(input: RegionInput, deps: ActivityDeps): Promise<CheckResult> {
  const { plan, region } = input;
  planRegion(plan, region);
  const checks = await Promise.all([
    probeRegion(plan, region, deps).then((health) => healthCheck(region, health)),
    ...plan.storage.map((spec) => {
      const account = spec.account;
      return check(`storage account ${account.name} geo-redundant with ${region}`, "StorageAccounts_GetProperties", account.id, async () => {
        const client = deps.clients.storage(account.subscriptionId).storageAccounts;
        const props = await client.getProperties(account.resourceGroup, account.name);
        const where = `sku ${props.sku?.name ?? "unknown"}, primary ${props.primaryLocation ?? "unknown"}, secondary ${props.secondaryLocation ?? "none"}`;
        if (!props.secondaryLocation) return { ok: false, detail: `not geo-redundant (${where}): geo-redundancy must be re-enabled first` };
        const inRegion = sameRegion(props.secondaryLocation, region) || sameRegion(props.primaryLocation, region);
        if (!inRegion) return { ok: false, detail: `${region} is neither location (${where})` };
        const stats = (await client.getProperties(account.resourceGroup, account.name, { expand: "geoReplicationStats" })).geoReplicationStats;
        const live = stats?.status === "Live";
        return { ok: live, detail: `${where}, replication ${stats?.status ?? "unknown"}${sameRegion(props.primaryLocation, region) ? ` (already primary in ${region})` : ""}` };
      });
    }),
    ...sqlChecks(plan, region, (g) => ({ ok: g.replicationState !== undefined && g.replicationState !== "SUSPENDED", detail: `reachable, role ${g.replicationRole ?? "unknown"}, replication ${g.replicationState ?? "unknown"}` }), deps),
  ]);
  const outcome = result(checks);
  deps.log.info(`re-protection of ${region}: ${outcome.ok ? "ok" : "not yet"}`, { runId: input.runId, region, failed: checks.filter((c) => !c.ok).map((c) => c.what) });
  return outcome;
}
