/**
 * A readiness evaluation of one plan (core/readiness.ts): reads only — ARM GETs and the list actions
 * the run itself reads with (app settings), Key Vault metadata (never a secret's value), the
 * permissions Azure reports for Switchyard's identity on each resource, the health endpoints, Front
 * Door's origin health metrics, the databases' replication DMV over TDS. Nothing is written, nothing is
 * journaled as a run; every read that fails makes its check `unknown` with the reason.
 */
import type { ClientFactory } from "../azure/clients.ts";
import type { TokenCredential } from "@azure/core-auth";
import type { Permission } from "@azure/arm-authorization";
import type { AFDOrigin } from "@azure/arm-cdn";
import { normaliseAzureError } from "../activities/azureErrors.ts";
import { accountRef, isGeoRedundant, readAccount } from "../activities/storage.ts";
import { readFailoverGroup, sqlGroupIn } from "../activities/sql.ts";
import { sameRegion } from "../activities/health.ts";
import { collectSignals } from "../detection/collect.ts";
import { measureLag } from "../lag/measure.ts";
import type { Logger } from "../core/logger.ts";
import type { Plan } from "../core/plan/index.ts";
import type { Probe } from "../core/probe.ts";
import { planNeeds, permissionsGrant, planRoles, type ResourceNeeds } from "../core/roles.ts";
import { DRILL_MAX_AGE_DAYS, isReady, SECRET_EXPIRY_MARGIN_DAYS, type ReadinessCheck, type ReadinessResult } from "../core/readiness.ts";
import { parseArmId } from "../core/plan/armId.ts";
import { settleEach } from "../core/concurrency.ts";
import { RotationTags } from "../core/rotation/model.ts";

export interface ReadinessDeps {
  readonly clients: ClientFactory;
  readonly probe: Probe;
  readonly clock: () => Date;
  readonly log?: Logger;
  /** Overrides the factory's credential for TDS (tests). */
  readonly sqlCredential?: TokenCredential;
  /** When the plan's last planned drill passed (ISO), or undefined when none is on record. */
  readonly lastDrill?: (plan: string) => Promise<string | undefined>;
}

export interface ReadinessOptions {
  /** The region serving now (default the plan's primary): the other is the one a failover would use. */
  readonly primary?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const PERMISSIONS_READ = "Microsoft.Authorization/permissions/read";
const SECRETS_READ_METADATA = "Microsoft.KeyVault/vaults/secrets/readMetadata/action";
const firstLine = (text: string) => text.split("\n")[0]!.slice(0, 400);
const reason = (error: unknown, operation: string, resourceId: string) => firstLine(normaliseAzureError(error, operation, resourceId).message);
/** The HTTP status of a failed read, as the SDK or normaliseAzureError carries it. */
function statusOf(error: unknown): number | undefined {
  const e = error as { statusCode?: unknown; details?: { status?: unknown }; cause?: unknown } | undefined;
  if (typeof e?.statusCode === "number") return e.statusCode;
  if (typeof e?.details?.status === "number") return e.details.status;
  return e?.cause !== undefined && e.cause !== error ? statusOf(e.cause) : undefined;
}
const nameOf = (id: string) => id.split("/").at(-1) ?? id;

/** Evaluates every readiness check of a plan; never throws for a read that fails. */
export async function evaluateReadiness(plan: Plan, deps: ReadinessDeps, options: ReadinessOptions = {}): Promise<ReadinessResult> {
  const evaluatedAt = deps.clock();
  const primary = options.primary ?? plan.regions.primary.name;
  const standby = sameRegion(primary, plan.regions.primary.name) ? plan.regions.secondary.name : plan.regions.primary.name;
  const parts = await Promise.all([
    regionAndFrontDoorHealth(plan, deps, standby),
    sqlChecks(plan, deps, primary, standby),
    storageChecks(plan, deps, primary, standby),
    lagChecks(plan, deps),
    frontDoorConfig(plan, deps, standby),
    settingsChecks(plan, deps),
    secretChecks(plan, deps, evaluatedAt),
    permissionChecks(plan, deps),
    drillCheck(plan, deps, evaluatedAt),
  ]);
  const checks = parts.flat();
  return { plan: plan.name, evaluatedAt: evaluatedAt.toISOString(), primary, standby, ready: isReady(checks), checks };
}

// ---- regions and Front Door health: the same observations detection makes --------------------------

async function regionAndFrontDoorHealth(plan: Plan, deps: ReadinessDeps, standby: string): Promise<ReadinessCheck[]> {
  const signals = await collectSignals(plan, { probe: deps.probe, clients: deps.clients, clock: deps.clock, ...(deps.log ? { log: deps.log } : {}) });
  const checks: ReadinessCheck[] = [];
  const probes = signals.filter((s) => s.source === "probe" && sameRegion(s.region, standby));
  const up = probes.filter((s) => s.status === "up").length;
  checks.push({
    area: "regions",
    subject: `standby region ${standby}`,
    result: probes.length > 0 && up * 2 > probes.length ? "pass" : "fail",
    detail: `${up} of ${probes.length} health endpoint(s) answered${probes.length > up ? `; not answering: ${probes.filter((s) => s.status !== "up").map((s) => `${s.name} (${s.detail ?? s.status})`).join(", ")}` : ""}`,
  });
  for (const s of signals.filter((x) => x.source === "frontdoor" && sameRegion(x.region, standby))) {
    checks.push({
      area: "front-door",
      subject: `standby origin health ${s.name}`,
      result: s.status === "up" ? "pass" : s.status === "down" ? "fail" : "unknown",
      detail: s.detail ?? s.status,
    });
  }
  return checks;
}

// ---- SQL failover groups: present on both servers, primary where the plan says, able to fail over --

async function sqlChecks(plan: Plan, deps: ReadinessDeps, primary: string, standby: string): Promise<ReadinessCheck[]> {
  return Promise.all(
    plan.sql.map(async (entry, index): Promise<ReadinessCheck> => {
      const group = sqlGroupIn(plan, index, standby);
      const subject = `SQL failover group ${group.name}`;
      try {
        const fg = await readFailoverGroup(deps, group);
        const problems: string[] = [];
        // As the standby's server sees it, the group is secondary there: primary on the serving region's server.
        if (fg.replicationRole !== "Secondary") problems.push(`the group is ${fg.replicationRole ?? "in no role"} on ${group.server} in ${standby}: it has already failed over out of ${primary}`);
        // The partner must be the plan's server in the serving region, primary there: a group partnered
        // with another server would fail over somewhere the plan does not know, and fail back nowhere.
        const expected = sqlGroupIn(plan, index, primary);
        const partner = fg.partnerServers?.find((p) => nameOf(p.id ?? "").toLowerCase() === expected.server.toLowerCase());
        if (!partner) problems.push(`its partner is ${fg.partnerServers?.map((p) => nameOf(p.id ?? "")).join(", ") || "no server"}, not the plan's ${expected.server} in ${primary}`);
        else if (partner.replicationRole && partner.replicationRole !== "Primary") problems.push(`its partner ${expected.server} is ${partner.replicationRole}`);
        else if (partner.location && !sameRegion(partner.location, primary)) problems.push(`its partner ${expected.server} is in ${partner.location}, not ${primary}`);
        const listed = new Set((fg.databases ?? []).map((d) => nameOf(d).toLowerCase()));
        const missing = (entry.databases ?? []).filter((d) => !listed.has(d.toLowerCase()));
        if (missing.length > 0) problems.push(`database(s) ${missing.join(", ")} not in the group`);
        if (fg.replicationState && !/^CATCH_UP$/i.test(fg.replicationState)) problems.push(`replication state ${fg.replicationState}, not CATCH_UP`);
        return {
          area: "resources",
          subject,
          resourceId: group.groupId,
          result: problems.length === 0 ? "pass" : "fail",
          detail: problems.length === 0 ? `secondary on ${group.server} (${standby}), primary in ${primary}; databases ${(entry.databases ?? []).join(", ") || "(none named)"}` : problems.join("; "),
        };
      } catch (error) {
        return { area: "resources", subject, resourceId: group.groupId, result: statusOf(error) === 404 ? "fail" : "unknown", detail: statusOf(error) === 404 ? `not found on ${group.server} in ${standby}` : reason(error, "FailoverGroups_Get", group.groupId) };
      }
    }),
  );
}

// ---- storage accounts: primary where the plan serves, geo-redundant, geo-replication Live ---------

async function storageChecks(plan: Plan, deps: ReadinessDeps, primary: string, standby: string): Promise<ReadinessCheck[]> {
  return Promise.all(
    plan.storage.map(async (_, index): Promise<ReadinessCheck> => {
      const ref = accountRef(plan, index);
      const subject = `storage account ${ref.name}`;
      try {
        const account = await readAccount(deps, ref, true);
        const problems: string[] = [];
        if (!sameRegion(account.primaryLocation, primary)) problems.push(`primary in ${account.primaryLocation ?? "an unknown region"}, not ${primary}`);
        if (!isGeoRedundant(account.sku?.name)) problems.push(`SKU ${account.sku?.name ?? "unknown"} is not geo-redundant: it cannot fail over`);
        else if (!sameRegion(account.secondaryLocation, standby)) problems.push(`its secondary is ${account.secondaryLocation ?? "none"}, not ${standby}: it cannot fail over there`);
        const stats = account.geoReplicationStats;
        if (isGeoRedundant(account.sku?.name)) {
          if (stats?.status !== "Live") problems.push(`geo-replication ${stats?.status ?? "status unknown"}, not Live`);
          if (stats?.canFailover === false) problems.push("Azure reports it cannot fail over now");
        }
        return {
          area: "resources",
          subject,
          resourceId: ref.id,
          result: problems.length === 0 ? "pass" : "fail",
          detail: problems.length === 0 ? `${account.sku?.name}, primary ${account.primaryLocation}, secondary ${account.secondaryLocation}, geo-replication Live` : problems.join("; "),
        };
      } catch (error) {
        return { area: "resources", subject, resourceId: ref.id, result: statusOf(error) === 404 ? "fail" : "unknown", detail: reason(error, "StorageAccounts_GetProperties", ref.id) };
      }
    }),
  );
}

// ---- replication lag within the RPO ----------------------------------------------------------------

async function lagChecks(plan: Plan, deps: ReadinessDeps): Promise<ReadinessCheck[]> {
  if (plan.sql.length === 0 && plan.storage.length === 0) return [];
  const rpo = plan.objectives.rpoSeconds;
  try {
    const round = await measureLag(plan, { clients: deps.clients, clock: deps.clock, ...(deps.sqlCredential ? { sqlCredential: deps.sqlCredential } : {}) });
    const checks: ReadinessCheck[] = round.samples.map((s) => ({
      area: "replication",
      subject: `${s.kind === "sqlDatabase" ? "database" : "storage account"} ${s.name}`,
      resourceId: s.resourceId,
      result: s.lagSeconds === null ? "unknown" : s.lagSeconds <= rpo ? "pass" : "fail",
      detail: s.lagSeconds === null ? `lag not measurable: ${s.error ?? s.state}` : `lag ${s.lagSeconds} s ${s.lagSeconds <= rpo ? "within" : "over"} the RPO of ${rpo} s (${s.state})`,
    }));
    for (const f of round.failures) checks.push({ area: "replication", subject: `failover group ${nameOf(f.resourceId)}`, resourceId: f.resourceId, result: "unknown", detail: firstLine(f.error) });
    return checks;
  } catch (error) {
    return [{ area: "replication", subject: "replication lag", result: "unknown", detail: firstLine(error instanceof Error ? error.message : String(error)) }];
  }
}

// ---- Front Door: the standby's origin or backend configured and able to take traffic ---------------

async function frontDoorConfig(plan: Plan, deps: ReadinessDeps, standby: string): Promise<ReadinessCheck[]> {
  const standard = plan.frontDoor.standard.map(async (entry): Promise<ReadinessCheck> => {
    const id = entry.originGroup;
    const subject = `origin group ${id.name}`;
    const origin = Object.entries(entry.origins).find(([region]) => sameRegion(region, standby))?.[1];
    try {
      const origins: AFDOrigin[] = [];
      for await (const o of deps.clients.cdn(id.subscriptionId).afdOrigins.listByOriginGroup(id.resourceGroup, id.names[0]!, id.name)) origins.push(o);
      const names = new Set(origins.map((o) => o.name?.toLowerCase()));
      const missing = Object.values(entry.origins).filter((n) => !names.has(n.toLowerCase()));
      const found = origins.find((o) => o.name?.toLowerCase() === origin?.toLowerCase());
      // The standby's origin must lead somewhere of its own: one with another plan origin's host name
      // would send the failed-over traffic back to the region it left.
      const sharing = found?.hostName
        ? Object.entries(entry.origins).filter(([region, name]) => !sameRegion(region, standby) && origins.some((o) => o.name?.toLowerCase() === name.toLowerCase() && o.hostName?.toLowerCase() === found.hostName!.toLowerCase()))
        : [];
      const problems = [
        ...(missing.length > 0 ? [`origin(s) ${missing.join(", ")} missing`] : []),
        ...(found && found.enabledState === "Disabled" ? [`the standby's origin ${origin} is disabled`] : []),
        ...sharing.map(([region, name]) => `the standby's origin ${origin} has the host name of ${region}'s origin ${name} (${found!.hostName})`),
      ];
      return { area: "front-door", subject, resourceId: id.id, result: problems.length === 0 ? "pass" : "fail", detail: problems.length === 0 ? `standby origin ${origin} configured (${found?.hostName ?? "no host name"}, priority ${found?.priority ?? "?"}, ${found?.enabledState ?? "Enabled"})` : problems.join("; ") };
    } catch (error) {
      return { area: "front-door", subject, resourceId: id.id, result: statusOf(error) === 404 ? "fail" : "unknown", detail: reason(error, "AFDOrigins_ListByOriginGroup", id.id) };
    }
  });
  const classic = plan.frontDoor.classic.map(async (entry): Promise<ReadinessCheck> => {
    const id = entry.frontDoor;
    const subject = `Front Door (classic) ${id.name} pool ${entry.backendPool}`;
    const address = Object.entries(entry.backends).find(([region]) => sameRegion(region, standby))?.[1];
    try {
      const fd = await deps.clients.frontDoor(id.subscriptionId).frontDoors.get(id.resourceGroup, id.name);
      const pool = fd.backendPools?.find((p) => p.name?.toLowerCase() === entry.backendPool.toLowerCase());
      if (!pool) return { area: "front-door", subject, resourceId: id.id, result: "fail", detail: `backend pool ${entry.backendPool} missing` };
      const addresses = new Set((pool.backends ?? []).map((b) => b.address?.toLowerCase()));
      const missing = Object.values(entry.backends).filter((a) => !addresses.has(a.toLowerCase()));
      const backend = pool.backends?.find((b) => b.address?.toLowerCase() === address?.toLowerCase());
      const problems = [...(missing.length > 0 ? [`backend(s) ${missing.join(", ")} missing`] : []), ...(backend && backend.enabledState === "Disabled" ? [`the standby's backend ${address} is disabled`] : [])];
      return { area: "front-door", subject, resourceId: id.id, result: problems.length === 0 ? "pass" : "fail", detail: problems.length === 0 ? `standby backend ${address} configured (priority ${backend?.priority ?? "?"}, ${backend?.enabledState ?? "Enabled"})` : problems.join("; ") };
    } catch (error) {
      return { area: "front-door", subject, resourceId: id.id, result: statusOf(error) === 404 ? "fail" : "unknown", detail: reason(error, "FrontDoors_Get", id.id) };
    }
  });
  return Promise.all([...standard, ...classic]);
}

// ---- sites: the settings the plan switches exist (names only; values are never read out) -----------

async function settingsChecks(plan: Plan, deps: ReadinessDeps): Promise<ReadinessCheck[]> {
  return Promise.all(
    plan.appService.map(async (site): Promise<ReadinessCheck> => {
      const id = site.site;
      const subject = `site ${id.name} (${site.region})`;
      const web = deps.clients.web(id.subscriptionId);
      try {
        const problems: string[] = [];
        if (site.appSettings.length > 0) {
          const settings = await web.webApps.listApplicationSettings(id.resourceGroup, id.name);
          const names = new Set(Object.keys(settings.properties ?? {}));
          const missing = site.appSettings.filter((s) => !names.has(s.name)).map((s) => s.name);
          if (missing.length > 0) problems.push(`app setting(s) ${missing.join(", ")} missing`);
        }
        if (site.connectionStrings.length > 0) {
          const strings = await web.webApps.listConnectionStrings(id.resourceGroup, id.name);
          const names = new Set(Object.keys(strings.properties ?? {}));
          const missing = site.connectionStrings.filter((s) => !names.has(s.name)).map((s) => s.name);
          if (missing.length > 0) problems.push(`connection string(s) ${missing.join(", ")} missing`);
        }
        const count = site.appSettings.length + site.connectionStrings.length;
        return { area: "settings", subject, resourceId: id.id, result: problems.length === 0 ? "pass" : "fail", detail: problems.length === 0 ? `${count} setting(s) the plan switches present` : problems.join("; ") };
      } catch (error) {
        return { area: "settings", subject, resourceId: id.id, result: statusOf(error) === 404 ? "fail" : "unknown", detail: reason(error, "WebApps_ListApplicationSettings", id.id) };
      }
    }),
  );
}

// ---- secrets: in every vault, current version enabled and not about to expire (metadata only) ------

async function secretChecks(plan: Plan, deps: ReadinessDeps, now: Date): Promise<ReadinessCheck[]> {
  const margin = SECRET_EXPIRY_MARGIN_DAYS * DAY_MS;
  const checks = await Promise.all(
    plan.secrets.map(async (secret) => {
      const read = await Promise.all(secret.vaults.map((vault) => currentVersion(deps, vault.name, secret.name).then((current) => ({ vault, current }), (error: unknown) => ({ vault, error }))));
      const perVault = read.map((r): ReadinessCheck => {
        const subject = `secret ${secret.name} in ${r.vault.name}`;
        if ("error" in r) {
          const status = statusOf(r.error);
          // The SDK's paging error drops Key Vault's body, which names the action: listing versions needs readMetadata.
          const refused = status === 403 ? ` (listing a secret's versions needs ${SECRETS_READ_METADATA})` : "";
          return { area: "secrets", subject, resourceId: r.vault.id, result: status === 404 ? "fail" : "unknown", detail: status === 404 ? "not in the vault" : `${reason(r.error, "GetSecretVersions", r.vault.id)}${refused}` };
        }
        const current = r.current;
        if (!current) return { area: "secrets", subject, resourceId: r.vault.id, result: "fail", detail: "no version" };
        const problems: string[] = [];
        if (current.enabled === false) problems.push(`current version ${current.version} is disabled`);
        if (current.expiresOn) {
          const left = current.expiresOn.getTime() - now.getTime();
          if (left <= 0) problems.push(`current version expired ${current.expiresOn.toISOString()}`);
          else if (left <= margin) problems.push(`current version expires ${current.expiresOn.toISOString()}, within ${SECRET_EXPIRY_MARGIN_DAYS} days: its rotation has not happened`);
        }
        const expiry = current.expiresOn ? `expires ${current.expiresOn.toISOString()}` : "no expiry";
        return { area: "secrets", subject, resourceId: r.vault.id, result: problems.length === 0 ? "pass" : "fail", detail: problems.length === 0 ? `current version ${current.version}, ${expiry}` : problems.join("; ") };
      });
      // Every vault on the same rotation: a rotation that stopped between vaults leaves the regions'
      // apps on different credentials (told by Switchyard's own tag on each current version; metadata only).
      const rotations = read.map((r) => ("current" in r && r.current ? (r.current.tags?.[RotationTags.rotation] ?? "") : undefined));
      if (secret.vaults.length > 1 && rotations.every((t) => t !== undefined) && new Set(rotations).size > 1 && rotations.some((t) => t !== "")) {
        perVault.push({
          area: "secrets",
          subject: `secret ${secret.name} across its vaults`,
          result: "fail",
          detail: `the vaults' current versions come from different rotations (${read.map((r, i) => `${r.vault.name}: ${rotations[i] || "none"}`).join(", ")}): a rotation stopped part-way; rotate it again`,
        });
      }
      return perVault;
    }),
  );
  return checks.flat();
}

/** The newest version of a secret in a vault (Key Vault's current one), by its metadata: never its value. */
async function currentVersion(deps: ReadinessDeps, vault: string, name: string) {
  let current: { version?: string; enabled?: boolean; expiresOn?: Date; createdOn?: Date; tags?: Record<string, string> } | undefined;
  for await (const v of deps.clients.secrets(vault).listPropertiesOfSecretVersions(name)) {
    if (!current || (v.createdOn?.getTime() ?? 0) > (current.createdOn?.getTime() ?? 0)) current = v;
  }
  return current;
}

// ---- permissions: asked of Azure for each resource, not assumed ------------------------------------

async function permissionChecks(plan: Plan, deps: ReadinessDeps): Promise<ReadinessCheck[]> {
  const needs = planNeeds(plan);
  const assignments = planRoles(plan).assignments;
  // The plan's roles at a scope, those among them that grant any of `actions` when given.
  const rolesAt = (scope: string, actions?: readonly string[]) => [
    ...new Set(assignments.filter((a) => a.scope.toLowerCase() === scope.toLowerCase() && (!actions || a.actions.some((x) => actions.includes(x.action)))).map((a) => a.role)),
  ];
  const results = await settleEach(needs, 4, (need) => permissionCheck(need, deps));
  return results.map((r, i): ReadinessCheck => {
    const need = needs[i]!;
    const base = { area: "permissions" as const, subject: subjectOf(need), resourceId: need.scope };
    const grantedBy = (roles: string[]) => (roles.length > 0 ? ` (granted by ${roles.join(", ")})` : "");
    if (r.status === "fulfilled") {
      const missing = r.value;
      if (missing.length === 0) return { ...base, result: "pass", detail: `all ${need.actions.length} action(s) granted` };
      return { ...base, result: "fail", detail: `missing ${missing.join(", ")}${grantedBy(rolesAt(need.scope, missing))}`, missingActions: missing };
    }
    if (statusOf(r.reason) === 403) {
      // Refused the question itself: the identity lacks at least the permission to ask (every role the
      // plan lists on a resource grants it), so it holds none of them here — or not that one.
      return {
        ...base,
        result: "fail",
        detail: `Azure refused to list the identity's permissions here (403): missing at least ${PERMISSIONS_READ}; the plan needs ${need.actions.map((a) => a.action).join(", ")}${grantedBy(rolesAt(need.scope))}`,
        missingActions: [PERMISSIONS_READ],
      };
    }
    return { ...base, result: "unknown", detail: reason(r.reason, need.kind === "resource-group" ? "Permissions_ListForResourceGroup" : "Permissions_ListForResource", need.scope) };
  });
}

/** A resource as its provider path (`Microsoft.Sql/servers/x`), or `resource group x`. */
const subjectOf = (need: ResourceNeeds) => (need.kind === "resource-group" ? `resource group ${need.scope.split("/")[4]}` : (need.scope.split("/providers/")[1] ?? need.scope));

/** The needed actions on one resource that the identity's permissions there do not grant. */
async function permissionCheck(need: ResourceNeeds, deps: ReadinessDeps): Promise<string[]> {
  const permissions: Permission[] = [];
  if (need.kind === "resource-group") {
    const [, , subscriptionId, , resourceGroup] = need.scope.split("/");
    for await (const p of deps.clients.authorization(subscriptionId!).permissions.listForResourceGroup(resourceGroup!)) permissions.push(p);
  } else {
    const id = parseArmId(need.scope);
    const [namespace, type] = id.type.split("/");
    for await (const p of deps.clients.authorization(id.subscriptionId).permissions.listForResource(id.resourceGroup, namespace!, "", type!, id.names[0]!)) permissions.push(p);
  }
  return need.actions.filter((a) => !permissionsGrant(permissions, a.action, a.data === true)).map((a) => a.action);
}

// ---- drills --------------------------------------------------------------------------------------

async function drillCheck(plan: Plan, deps: ReadinessDeps, now: Date): Promise<ReadinessCheck[]> {
  if (!deps.lastDrill) return [];
  const subject = "last planned drill";
  try {
    const last = await deps.lastDrill(plan.name);
    if (!last) return [{ area: "drills", subject, result: "fail", advisory: true, detail: "no planned drill has passed on record" }];
    const ageDays = (now.getTime() - Date.parse(last)) / DAY_MS;
    return [{ area: "drills", subject, result: ageDays <= DRILL_MAX_AGE_DAYS ? "pass" : "fail", advisory: true, detail: `passed ${last} (${Math.floor(ageDays)} day(s) ago; at most ${DRILL_MAX_AGE_DAYS} expected)` }];
  } catch (error) {
    return [{ area: "drills", subject, result: "unknown", advisory: true, detail: firstLine(error instanceof Error ? error.message : String(error)) }];
  }
}
