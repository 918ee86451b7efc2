/**
 * A dry run of a failover or failback: what the run would write to Azure, resource by resource, read
 * from Azure now and decided as the run's activities decide (sql.ts, storage.ts, reprotect.ts,
 * frontdoor.ts, appService.ts), with no write and no journal entry of a run. It reads what the run
 * would read, where the run would read it: the failover group from the server in the target region,
 * the storage accounts by ARM, the Front Door origins and backends (global), the sites' settings (names
 * compared, values never shown). A site in a region that is down is not read, as the run does not.
 * A read that fails is reported for its resource as unknown, with the reason; the others are still read.
 */
import type { AFDOrigin } from "@azure/arm-cdn";
import type { Backend } from "@azure/arm-frontdoor";
import type { FailoverGroup } from "@azure/arm-sql";
import type { StorageAccount } from "@azure/arm-storage";
import type { ClientFactory } from "../azure/clients.ts";
import type { Logger } from "../core/logger.ts";
import type { Plan } from "../core/plan/index.ts";
import type { Probe } from "../core/probe.ts";
import type { RegionVerdict, RunKind } from "../core/run/model.ts";
import { azureCall, withoutSecrets } from "./azureCall.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import type { ActivityDeps } from "./deps.ts";
import { probeRegion, sameRegion } from "./health.ts";
import { sqlGroupIn } from "./sql.ts";
import { accountRef, isGeoRedundant, readAccount } from "./storage.ts";

export interface DryRunDeps {
  readonly clients: ClientFactory;
  readonly probe: Probe;
  readonly log: Logger;
}

export interface DryRunInput {
  readonly plan: Plan;
  readonly kind: RunKind;
  /** The failover mode the operator asked for (a failback is planned). */
  readonly mode: "planned" | "forced";
  readonly from: string;
  readonly to: string;
}

export type DryRunResourceKind = "sql-failover-group" | "storage-account" | "front-door-origin" | "front-door-classic" | "app-service";

/** Where in the run a write comes, in the run's order. */
export type DryRunPhase = "reprotect" | "data-tier" | "settings" | "traffic" | "standby-settings" | "restore-redundancy";

export interface DryRunWrite {
  readonly resourceId: string;
  readonly kind: DryRunResourceKind;
  readonly phase: DryRunPhase;
  /** The Azure operation, named as the run's journal names it. */
  readonly operation: string;
  readonly current: Record<string, unknown>;
  readonly target: Record<string, unknown>;
  /** When the write is made only once something else holds (an approval, a sync). */
  readonly condition?: string;
}

export interface DryRunReport {
  readonly regions: Record<string, RegionVerdict>;
  /** How the data tier would fail over: the data-loss gate as the run would decide it without a lag measurement. */
  readonly dataLoss: { readonly decision: "planned" | "forced" | "needs-approval"; readonly why: string };
  /** Set when the run would stop before its data tier (it then writes only what precedes: a failback's re-protection). */
  readonly refused?: string;
  readonly writes: DryRunWrite[];
  readonly unchanged: { resourceId: string; why: string }[];
  /** Resources whose write the run would refuse (PreconditionError), and why. */
  readonly blocked: { resourceId: string; reason: string }[];
  readonly unknown: { resourceId: string; reason: string }[];
}

const SQL = {
  planned: "FailoverGroups_Failover",
  tryPlanned: "FailoverGroups_TryPlannedBeforeForcedFailover",
} as const;
const STORAGE_PLANNED = "StorageAccounts_Failover (Planned)";
const STORAGE_UNPLANNED = "StorageAccounts_Failover (Unplanned)";
const STORAGE_UPDATE = "StorageAccounts_Update";
const STORAGE_MIGRATION = "StorageAccounts_CustomerInitiatedMigration";
const AFD_UPDATE = "AFDOrigins_Update";
const CLASSIC_PUT = "FrontDoors_CreateOrUpdate";
const APP_SETTINGS = "WebApps_UpdateApplicationSettings";
const CONNECTION_STRINGS = "WebApps_UpdateConnectionStrings";
const APPROVAL = "only if an operator approves the failover that may lose data";

/**
 * readAccount and probeRegion take ActivityDeps but use only its clients and probe: a dry run hands
 * them nothing else (no journal, so nothing it calls can record a run).
 */
const readsOnly = (deps: DryRunDeps) => ({ clients: deps.clients, probe: deps.probe, log: deps.log }) as Pick<ActivityDeps, "clients" | "probe" | "log"> as ActivityDeps;

/** What the run's traffic switch sets on the origin or backend of `region`. */
const trafficTarget = (region: string, to: string, disableOther: boolean) =>
  region === to ? { priority: 1, enabledState: "Enabled" } : { priority: 2, enabledState: disableOther ? "Disabled" : "Enabled" };

const differs = (current: { priority?: number; enabledState?: string }, target: { priority: number; enabledState: string }) =>
  current.priority !== target.priority || (current.enabledState ?? "Enabled") !== target.enabledState;

/** Standard SKU names: the SKU a re-protection sets (reprotect.ts: geo-redundancy by update, zone redundancy kept). */
const zoneRedundant = (sku: string) => /ZRS$/i.test(sku);
const readAccess = (sku: string) => /_RA/i.test(sku);
const skuWith = (zone: boolean, geo: boolean, ra: boolean) => `Standard_${geo ? `${ra ? "RA" : ""}${zone ? "GZRS" : "GRS"}` : zone ? "ZRS" : "LRS"}`;

export async function planDryRun(input: DryRunInput, deps: DryRunDeps): Promise<DryRunReport> {
  const { plan, kind, from, to } = input;
  const report: DryRunReport = { regions: {}, dataLoss: { decision: "planned", why: "" }, writes: [], unchanged: [], blocked: [], unknown: [] };
  const unknown = (resourceId: string, error: unknown, secrets: readonly string[] = []) => {
    const normalised = withoutSecrets(normaliseAzureError(error, "read", resourceId), secrets);
    report.unknown.push({ resourceId, reason: `unknown: ${normalised.message.split("\n")[0]}` });
  };

  // ---- the regions, as the run assesses them (health endpoints; no Azure request)
  const [fromHealth, toHealth] = await Promise.all([probeRegion(plan, from, readsOnly(deps)), probeRegion(plan, to, readsOnly(deps))]);
  for (const [region, health] of [[from, fromHealth], [to, toHealth]] as const) {
    const answering = health.probes.filter((p) => p.ok).length;
    report.regions[region] = { healthy: health.healthy, answering, endpoints: health.probes.length };
  }
  const primaryHealthy = fromHealth.healthy;
  const disableOther = !primaryHealthy;
  const dataLoss: DryRunReport["dataLoss"] =
    kind === "failback"
      ? { decision: "planned", why: "a failback never fails over with data loss" }
      : primaryHealthy
        ? { decision: "planned", why: `${from} answers healthy: a planned failover loses no data` }
        : input.mode === "forced"
          ? { decision: "forced", why: `${from} does not answer healthy and the failover is forced: planned first, forced where the partner does not answer` }
          : { decision: "needs-approval", why: `${from} does not answer healthy: the run would ask for approval before a failover that may lose data` };
  Object.assign(report, { dataLoss });
  const allowDataLoss = dataLoss.decision !== "planned";
  const dataCondition = dataLoss.decision === "needs-approval" ? { condition: APPROVAL } : {};

  // ---- storage accounts: read once, for a failback's re-protection and the data tier
  const accounts = await Promise.all(
    plan.storage.map(async (_, index) => {
      const ref = accountRef(plan, index);
      try {
        return { ref, account: await readAccount(readsOnly(deps), ref, true) };
      } catch (error) {
        unknown(ref.id, error);
        return { ref, account: undefined };
      }
    }),
  );

  /** After a failback's re-protection: the SKU it sets, and what the failover then waits for. */
  const afterReprotect = new Map<string, { sku: string; waitsFor?: string }>();
  if (kind === "failback") {
    for (const { ref, account } of accounts) {
      if (!account) continue;
      const sku = account.sku?.name ?? "unknown";
      const current = storageState(account);
      if (!sku.startsWith("Standard_")) {
        report.blocked.push({ resourceId: ref.id, reason: `SKU ${sku}: only Standard accounts replicate to a second region` });
        continue;
      }
      if (account.failoverInProgress || account.accountMigrationInProgress === true) {
        afterReprotect.set(ref.id, { sku, waitsFor: "the operation in progress on the account to end" });
        continue;
      }
      if (!isGeoRedundant(sku)) {
        const target = skuWith(zoneRedundant(sku), true, readAccess(ref.sku));
        report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "reprotect", operation: STORAGE_UPDATE, current, target: { sku: target } });
        afterReprotect.set(ref.id, { sku: target, waitsFor: "Azure's first geo copy after re-protection (hours)" });
        continue;
      }
      const status = account.geoReplicationStats?.status;
      if (status !== "Live") {
        afterReprotect.set(ref.id, { sku, waitsFor: `geo-replication to be Live (it is ${status ?? "not reported"})` });
        continue;
      }
      if (sku !== ref.sku && readAccess(sku) !== readAccess(ref.sku)) {
        const target = skuWith(zoneRedundant(sku), true, readAccess(ref.sku));
        report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "reprotect", operation: STORAGE_UPDATE, current, target: { sku: target } });
        afterReprotect.set(ref.id, { sku: target });
        continue;
      }
      afterReprotect.set(ref.id, { sku });
    }
  }

  if (!toHealth.healthy) {
    Object.assign(report, { refused: `${to} does not answer healthy: the run would stop before failing anything over into it` });
    return report;
  }

  // ---- data tier: SQL failover groups, read from the server in the target region
  await Promise.all(
    plan.sql.map(async (_, index) => {
      const group = sqlGroupIn(plan, index, to);
      let fg: FailoverGroup;
      try {
        fg = await azureCall("FailoverGroups_Get", group.groupId, () => deps.clients.sql(group.subscriptionId).failoverGroups.get(group.resourceGroup, group.server, group.name));
      } catch (error) {
        unknown(group.groupId, error);
        return;
      }
      const partnerPrimary = fg.partnerServers?.find((p) => p.replicationRole === "Primary");
      const current = {
        serverIn: { region: to, server: group.server, replicationRole: fg.replicationRole },
        primaryServer: fg.replicationRole === "Primary" ? group.server : (partnerPrimary?.id?.split("/").pop() ?? "unknown"),
        replicationState: fg.replicationState,
      };
      if (fg.replicationRole === "Primary") {
        report.unchanged.push({ resourceId: group.groupId, why: `already primary on ${group.server} in ${to}` });
        return;
      }
      report.writes.push({
        resourceId: group.groupId,
        kind: "sql-failover-group",
        phase: "data-tier",
        operation: allowDataLoss ? SQL.tryPlanned : SQL.planned,
        current,
        target: { primaryServer: group.server, region: to, allowDataLoss },
        ...dataCondition,
      });
    }),
  );

  // ---- data tier: storage accounts
  for (const { ref, account } of accounts) {
    if (!account) continue;
    const current = storageState(account);
    const reprotect = afterReprotect.get(ref.id);
    if (kind === "failback" && !reprotect) continue; // blocked above
    if (sameRegion(account.primaryLocation, to)) {
      report.unchanged.push({ resourceId: ref.id, why: `primary already in ${to}` });
    } else if (reprotect?.waitsFor) {
      report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "data-tier", operation: STORAGE_PLANNED, current, target: { primaryLocation: to }, condition: `after ${reprotect.waitsFor}` });
    } else if (account.failoverInProgress) {
      report.unchanged.push({ resourceId: ref.id, why: "a failover is already in progress: the run watches it instead of sending another" });
    } else if (!sameRegion(account.secondaryLocation, to)) {
      report.blocked.push({ resourceId: ref.id, reason: account.secondaryLocation ? `its secondary is ${account.secondaryLocation}, not ${to}` : `it has no secondary (${account.sku?.name ?? "unknown SKU"}): re-protect it first` });
    } else if (account.geoReplicationStats?.canPlannedFailover === true) {
      report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "data-tier", operation: STORAGE_PLANNED, current, target: { primaryLocation: to, failoverType: "Planned" }, ...dataCondition });
    } else if (!allowDataLoss) {
      report.blocked.push({ resourceId: ref.id, reason: `a planned failover is impossible (canPlannedFailover=${String(account.geoReplicationStats?.canPlannedFailover)}) and this run may not lose data` });
    } else if (account.geoReplicationStats?.canFailover !== true) {
      report.blocked.push({ resourceId: ref.id, reason: `Azure reports canFailover=${String(account.geoReplicationStats?.canFailover)}` });
    } else {
      report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "data-tier", operation: STORAGE_UNPLANNED, current, target: { primaryLocation: to, failoverType: "Unplanned", sku: "LRS after the failover" }, ...dataCondition });
    }
  }

  // ---- settings of the sites in the target region, traffic, then the other sites' settings
  const sites = plan.appService.map((spec, index) => ({ spec, index, phase: (spec.region === to ? "settings" : "standby-settings") as DryRunPhase }));
  const siteResults = await Promise.all(sites.map((site) => siteWrites(plan, site.spec, site.phase, to, disableOther, deps, report, unknown)));
  const traffic = await Promise.all([
    ...plan.frontDoor.standard.map((spec) => originWrites(spec, to, disableOther, deps, report, unknown)),
    ...plan.frontDoor.classic.map((spec) => classicWrites(spec, to, disableOther, deps, report, unknown)),
  ]);
  report.writes.push(...siteResults.filter((_, i) => sites[i]!.phase === "settings").flat(), ...traffic.flat(), ...siteResults.filter((_, i) => sites[i]!.phase === "standby-settings").flat());

  // ---- a failback's zone redundancy, restored once home (reprotect.ts: Azure converts only then)
  if (kind === "failback") {
    for (const { ref } of accounts) {
      const sku = afterReprotect.get(ref.id)?.sku;
      if (sku === undefined || sku === ref.sku || readAccess(sku) !== readAccess(ref.sku)) continue;
      report.writes.push({ resourceId: ref.id, kind: "storage-account", phase: "restore-redundancy", operation: STORAGE_MIGRATION, current: { sku }, target: { sku: ref.sku }, condition: "after the failback is verified, unless a conversion is already running" });
    }
  }
  deps.log.info(`dry run of a ${kind} of ${plan.name}: ${report.writes.length} write(s), ${report.unknown.length} unknown`, { plan: plan.name, from, to });
  return report;
}

function storageState(account: StorageAccount) {
  const stats = account.geoReplicationStats;
  return {
    primaryLocation: account.primaryLocation,
    secondaryLocation: account.secondaryLocation,
    sku: account.sku?.name,
    failoverInProgress: account.failoverInProgress === true,
    ...(stats ? { geoReplication: stats.status, canPlannedFailover: stats.canPlannedFailover, canFailover: stats.canFailover, lastSyncTime: stats.lastSyncTime } : {}),
  };
}

type Unknown = (resourceId: string, error: unknown, secrets?: readonly string[]) => void;

async function originWrites(spec: Plan["frontDoor"]["standard"][number], to: string, disableOther: boolean, deps: DryRunDeps, report: DryRunReport, unknown: Unknown): Promise<DryRunWrite[]> {
  const group = spec.originGroup;
  const client = deps.clients.cdn(group.subscriptionId);
  let origins: AFDOrigin[];
  try {
    origins = await azureCall("AFDOrigins_ListByOriginGroup", group.id, async () => {
      const list: AFDOrigin[] = [];
      for await (const origin of client.afdOrigins.listByOriginGroup(group.resourceGroup, group.names[0]!, group.name)) list.push(origin);
      return list;
    });
  } catch (error) {
    unknown(group.id, error);
    return [];
  }
  const out: DryRunWrite[] = [];
  for (const [region, name] of Object.entries(spec.origins)) {
    const id = `${group.id}/origins/${name}`;
    const origin = origins.find((o) => o.name?.toLowerCase() === name.toLowerCase());
    if (!origin) {
      report.blocked.push({ resourceId: id, reason: `origin group ${group.name} has no origin '${name}'` });
      continue;
    }
    const target = trafficTarget(region, to, disableOther);
    const current = { region, priority: origin.priority, enabledState: origin.enabledState ?? "Enabled" };
    if (!differs(origin, target)) report.unchanged.push({ resourceId: id, why: `already priority ${target.priority}, ${target.enabledState}` });
    else out.push({ resourceId: id, kind: "front-door-origin", phase: "traffic", operation: AFD_UPDATE, current, target: { region, ...target } });
  }
  return out;
}

async function classicWrites(spec: Plan["frontDoor"]["classic"][number], to: string, disableOther: boolean, deps: DryRunDeps, report: DryRunReport, unknown: Unknown): Promise<DryRunWrite[]> {
  const ref = spec.frontDoor;
  let backends: Backend[];
  try {
    const fd = await azureCall("FrontDoors_Get", ref.id, () => deps.clients.frontDoor(ref.subscriptionId).frontDoors.get(ref.resourceGroup, ref.name));
    const pool = fd.backendPools?.find((p) => p.name?.toLowerCase() === spec.backendPool.toLowerCase());
    if (!pool) {
      report.blocked.push({ resourceId: ref.id, reason: `no backend pool '${spec.backendPool}'` });
      return [];
    }
    backends = pool.backends ?? [];
  } catch (error) {
    unknown(ref.id, error);
    return [];
  }
  const current: Record<string, unknown> = {};
  const target: Record<string, unknown> = {};
  for (const [region, address] of Object.entries(spec.backends)) {
    const backend = backends.find((b) => b.address?.toLowerCase() === address.toLowerCase());
    if (!backend) {
      report.blocked.push({ resourceId: ref.id, reason: `backend pool '${spec.backendPool}' has no backend '${address}'` });
      return [];
    }
    const wanted = trafficTarget(region, to, disableOther);
    if (!differs(backend, wanted)) continue;
    current[address] = { region, priority: backend.priority, enabledState: backend.enabledState ?? "Enabled" };
    target[address] = { region, ...wanted };
  }
  if (Object.keys(target).length === 0) {
    report.unchanged.push({ resourceId: ref.id, why: `backend pool ${spec.backendPool} already sends traffic to ${to}` });
    return [];
  }
  // One PUT of the whole Front Door for the pool's backends.
  return [{ resourceId: ref.id, kind: "front-door-classic", phase: "traffic", operation: CLASSIC_PUT, current: { backendPool: spec.backendPool, backends: current }, target: { backendPool: spec.backendPool, backends: target } }];
}

/**
 * The settings writes of one site: the names whose stored value differs from the plan's value for
 * `to`. Values are never shown: a name's current state is which of the plan's values it holds.
 */
async function siteWrites(plan: Plan, spec: Plan["appService"][number], phase: DryRunPhase, to: string, disableOther: boolean, deps: DryRunDeps, report: DryRunReport, unknown: Unknown): Promise<DryRunWrite[]> {
  const site = spec.site;
  if (spec.appSettings.length + spec.connectionStrings.length === 0) return [];
  const leaving = to === plan.regions.primary.name ? plan.regions.secondary.name : plan.regions.primary.name;
  if (disableOther && sameRegion(spec.region, leaving)) {
    report.unchanged.push({ resourceId: site.id, why: `the site is in ${leaving}, which does not answer healthy: its settings stay as they are until failback` });
    return [];
  }
  const client = deps.clients.web(site.subscriptionId);
  // Values to cut out of a read's error: the plan's values, except those that are the site's id or a
  // region's name (not secret, and cutting them would hide which site and region failed). Longest first.
  const regions = [plan.regions.primary.name, plan.regions.secondary.name];
  const secrets = [...new Set([...spec.appSettings, ...spec.connectionStrings].flatMap((s) => Object.values(s.values)))]
    .filter((v) => v.length >= 4 && !regions.includes(v) && !site.id.includes(v))
    .sort((a, b) => b.length - a.length);
  /** Which of the plan's values `stored` is (by region), never the value itself. */
  const describe = (stored: string | undefined, values: Readonly<Record<string, string>>) => {
      if (stored === undefined) return "absent";
      const region = Object.entries(values).find(([, v]) => v === stored)?.[0];
      return region ? `the value for ${region}` : "another value";
    };
  const lookup = <T>(stored: Readonly<Record<string, T>>, name: string) => {
    const key = name in stored ? name : Object.keys(stored).find((k) => k.toLowerCase() === name.toLowerCase());
    return { key, value: key === undefined ? undefined : stored[key] };
  };
  const out: DryRunWrite[] = [];
  try {
    if (spec.appSettings.length > 0) {
      const stored = (await azureCall("WebApps_ListApplicationSettings", site.id, () => client.webApps.listApplicationSettings(site.resourceGroup, site.name))).properties ?? {};
      const current: Record<string, string> = {};
      const target: Record<string, string> = {};
      for (const s of spec.appSettings) {
        const { key, value } = lookup(stored, s.name);
        if (key === s.name && value === s.values[to]) continue;
        current[s.name] = describe(value, s.values);
        target[s.name] = `the value for ${to}`;
      }
      if (Object.keys(target).length > 0) out.push({ resourceId: site.id, kind: "app-service", phase, operation: APP_SETTINGS, current: { appSettings: current }, target: { appSettings: target } });
    }
    if (spec.connectionStrings.length > 0) {
      const stored = (await azureCall("WebApps_ListConnectionStrings", site.id, () => client.webApps.listConnectionStrings(site.resourceGroup, site.name))).properties ?? {};
      const current: Record<string, string> = {};
      const target: Record<string, string> = {};
      for (const s of spec.connectionStrings) {
        const { key, value } = lookup(stored, s.name);
        if (key === s.name && value?.value === s.values[to] && value?.type?.toLowerCase() === s.type.toLowerCase()) continue;
        current[s.name] = `${describe(value?.value, s.values)}${value && value.type?.toLowerCase() !== s.type.toLowerCase() ? ` (type ${value.type})` : ""}`;
        target[s.name] = `the value for ${to} (type ${s.type})`;
      }
      if (Object.keys(target).length > 0) out.push({ resourceId: site.id, kind: "app-service", phase, operation: CONNECTION_STRINGS, current: { connectionStrings: current }, target: { connectionStrings: target } });
    }
  } catch (error) {
    unknown(site.id, error, secrets);
    return [];
  }
  if (out.length === 0) report.unchanged.push({ resourceId: site.id, why: `settings already hold their values for ${to}` });
  return out;
}
