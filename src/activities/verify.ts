import type { AFDEndpoint, AFDOrigin, Route } from "@azure/arm-cdn";
import { ancestorId, type Plan } from "../core/plan/index.ts";
import { Steps, type CheckResult, type RegionHealth, type RegionInput } from "../core/run/model.ts";
import { journalObservation } from "./writes.ts";
import { entriesOf } from "../core/journal.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { withoutSecrets } from "./azureCall.ts";
import type { ActivityDeps } from "./deps.ts";
import { requestThroughFrontDoor } from "./frontdoor.ts";
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

/**
 * Every check passed; or, when some failed, whether each of those settles by itself (check again
 * later). Every check is journaled (an observation of `step`); the result carries the failed ones.
 */
async function result(checks: Check[], observed: { runId: string; step: string; what: string }, deps: ActivityDeps): Promise<CheckResult> {
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  const failed = checks.filter((c) => !c.ok);
  const passed = checks.length - failed.length;
  await journalObservation(deps, {
    runId: observed.runId,
    step: observed.step,
    message: `${observed.what}: ${passed} of ${checks.length} checks pass${failed.length > 0 ? `; failing: ${failed.map((c) => c.what).join("; ")}` : ""}`,
    data: { checks },
  });
  return { ok, checks: failed, passed, ...(!ok && failed.length > 0 && failed.every((c) => c.settling === true) ? { settling: true } : {}) };
}

/**
 * The region's health endpoints. Endpoints that answer 503 while an app of the region restarts after
 * this run's settings writes (App Service restarts the app on every change of its settings) are a
 * failure that settles by itself.
 */
function healthCheck(region: string, health: RegionHealth, restarting = false): Check {
  const answering = health.probes.filter((p) => p.ok).length;
  const failed = health.probes.filter((p) => !p.ok);
  const failures = failed.map((p) => `${p.url}: ${p.error ?? `status ${p.status}`}`);
  const settling = !health.healthy && restarting && failed.every((p) => p.status === 503);
  return {
    what: `health endpoints of ${region}`,
    ok: health.healthy,
    detail: `${answering} of ${health.probes.length} answer${failures.length > 0 ? `; ${failures.join("; ")}` : ""}${settling ? " (restarting after this run's settings writes)" : ""}`,
    ...(settling ? { settling } : {}),
  };
}

/** Settings and connection strings writes: each restarts its site. */
const RESTARTING_WRITES = new Set(["WebApps_UpdateApplicationSettings", "WebApps_UpdateConnectionStrings"]);

/** Did this run write settings of a site the plan puts in `region` (so that its app restarted)? */
async function restartedByRun(plan: Plan, region: string, runId: string, deps: ActivityDeps): Promise<boolean> {
  const sites = new Set(plan.appService.filter((s) => sameRegion(s.region, region)).map((s) => s.site.id.toLowerCase()));
  if (sites.size === 0) return false;
  const entries = await deps.journal.read(runId);
  return entriesOf(entries, "write").some(({ data }) => RESTARTING_WRITES.has(data.operation) && sites.has(data.resourceId.toLowerCase()) && !data.result.startsWith("failed"));
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

/** Whether Azure shows the resource busy with an operation (Updating, Creating, ...). */
const busy = (r: { provisioningState?: string }) => r.provisioningState !== undefined && !["Succeeded", "Failed", "Canceled"].includes(r.provisioningState);

/** What users are sent through Front Door to check the region: the path of its first health endpoint. */
function edgeRequestOf(plan: Plan, region: string): { path: string; expectStatus: number; timeoutMs: number } {
  const endpoint = planRegion(plan, region).healthEndpoints[0];
  if (!endpoint) return { path: "/", expectStatus: 200, timeoutMs: 5000 };
  const url = new URL(endpoint.url);
  return { path: `${url.pathname}${url.search}`, expectStatus: endpoint.expectStatus, timeoutMs: endpoint.timeoutMs };
}

/**
 * A request through a Front Door host, as a user sends it: passes when it answers as the region's
 * health endpoint should and, when the answer names the region that served it, that is `region`.
 * With the Front Door's configuration already right (`configured`), a failure is Front Door's edge
 * catching up (propagation) or the app restarting: it settles by itself.
 */
async function edgeCheck(what: string, host: string, plan: Plan, region: string, configured: boolean, deps: ActivityDeps): Promise<Check> {
  const { path, expectStatus, timeoutMs } = edgeRequestOf(plan, region);
  const answer = await requestThroughFrontDoor(deps.clients, `https://${host}${path}`, timeoutMs);
  const served = answer.region === undefined || sameRegion(answer.region, region);
  const ok = answer.status === expectStatus && served;
  const detail =
    answer.status === undefined
      ? `no answer: ${answer.error ?? "unknown error"}`
      : `answers ${answer.status}${answer.region ? ` from ${answer.region}` : " (the answer does not say which region served it)"}${ok ? "" : `, expected ${expectStatus} from ${region}`}`;
  return { what, ok, detail: `${path}: ${detail}${!ok && configured ? " (the configuration is right: still propagating to the edge, or the app is restarting)" : ""}`, ...(!ok && configured ? { settling: true } : {}) };
}

/** Collects a pager, normalising its failure. */
async function collected<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * AFD Standard/Premium: the origin group sends traffic first to the region's origin (ARM), every change
 * has reached the edge (`deploymentStatus` not InProgress: Azure deploys a change for minutes after its
 * operation ends), and a request through each endpoint that routes to the group is served by the region.
 */
async function standardChecks(plan: Plan, region: string, spec: Plan["frontDoor"]["standard"][number], deps: ActivityDeps): Promise<Check[]> {
  const group = spec.originGroup;
  const [rg, profile] = [group.resourceGroup, group.names[0]!];
  const client = deps.clients.cdn(group.subscriptionId);
  const what = `Front Door origin group ${profile}/${group.name}`;
  const config = await check(what, "AFDOrigins_ListByOriginGroup", group.id, async () => {
    const mine = spec.origins[region];
    if (mine === undefined) return { ok: false, detail: `the plan names no origin for ${region}` };
    const [origins, g] = await Promise.all([collected<AFDOrigin>(client.afdOrigins.listByOriginGroup(rg, profile, group.name)), client.afdOriginGroups.get(rg, profile, group.name)]);
    const serves = servesFirst(origins.map((o) => ({ key: o.name ?? "", priority: o.priority, enabledState: o.enabledState })), mine);
    const inFlight = origins.filter(busy).map((o) => `${o.name} ${o.provisioningState}`);
    if (inFlight.length > 0) return { ok: false, settling: true, detail: `${serves.detail}; an update is in flight (${inFlight.join(", ")})` };
    if (!serves.ok) return serves;
    const resources = [g, ...origins];
    const failed = resources.filter((r) => r.deploymentStatus === "Failed").map((r) => r.name);
    if (failed.length > 0) return { ok: false, detail: `${serves.detail}; deploymentStatus Failed: ${failed.join(", ")}` };
    const deploying = resources.filter((r) => r.deploymentStatus === "InProgress").map((r) => r.name);
    if (deploying.length > 0) return { ok: false, settling: true, detail: `${serves.detail}; still deploying to the edge (deploymentStatus InProgress: ${deploying.join(", ")})` };
    return serves;
  });
  const configured = config.ok || config.settling === true;

  // The endpoints that route to the group (AFD endpoints and their routes are global, like the profile).
  let hosts: string[];
  try {
    const endpoints = await collected<AFDEndpoint>(client.afdEndpoints.listByProfile(rg, profile));
    const serving = await Promise.all(
      endpoints.map(async (e) => {
        const routes = await collected<Route>(client.routes.listByEndpoint(rg, profile, e.name ?? ""));
        return routes.some((r) => r.originGroup?.id?.toLowerCase() === group.id.toLowerCase()) ? [e.hostName ?? ""] : [];
      }),
    );
    hosts = serving.flat().filter((h) => h.length > 0);
  } catch (error) {
    const normalised = normaliseAzureError(error, "AFDEndpoints_ListByProfile", ancestorId(group, 1));
    if (normalised.retryable) throw normalised;
    return [config, { what: `Front Door endpoints routing to ${profile}/${group.name}`, ok: false, detail: normalised.message }];
  }
  const edge = await Promise.all(hosts.map((host) => edgeCheck(`Front Door endpoint ${host} (origin group ${group.name})`, host, plan, region, configured, deps)));
  return [config, ...edge];
}

/**
 * Front Door classic: the pool sends traffic first to the region's backend (ARM), no update is still on
 * its way (classic has no deploymentStatus: the Front Door's provisioningState), and a request through
 * each frontend host whose routing rules forward to the pool is served by the region.
 */
async function classicChecks(plan: Plan, region: string, spec: Plan["frontDoor"]["classic"][number], deps: ActivityDeps): Promise<Check[]> {
  const fdRef = spec.frontDoor;
  let hosts: string[] = [];
  const config = await check(`Front Door (classic) ${fdRef.name} backend pool ${spec.backendPool}`, "FrontDoors_Get", fdRef.id, async () => {
    const mine = spec.backends[region];
    if (mine === undefined) return { ok: false, detail: `the plan names no backend for ${region}` };
    const fd = await deps.clients.frontDoor(fdRef.subscriptionId).frontDoors.get(fdRef.resourceGroup, fdRef.name);
    const pool = fd.backendPools?.find((p) => p.name?.toLowerCase() === spec.backendPool.toLowerCase());
    if (!pool) return { ok: false, detail: `no backend pool '${spec.backendPool}'` };
    const rules = (fd.routingRules ?? []).filter((r) => (r.routeConfiguration as { backendPool?: { id?: string } } | undefined)?.backendPool?.id?.toLowerCase() === pool.id?.toLowerCase());
    const frontends = new Set(rules.flatMap((r) => (r.frontendEndpoints ?? []).map((f) => f.id?.toLowerCase() ?? "")));
    hosts = (fd.frontendEndpoints ?? []).filter((f) => frontends.has(f.id?.toLowerCase() ?? "")).map((f) => f.hostName ?? "").filter((h) => h.length > 0);
    const serves = servesFirst((pool.backends ?? []).map((b) => ({ key: b.address ?? "", priority: b.priority, enabledState: b.enabledState })), mine);
    if (busy(fd)) return { ok: false, settling: true, detail: `${serves.detail}; the Front Door is ${fd.provisioningState} (an update is still on its way)` };
    if (fd.provisioningState === "Failed") return { ok: false, detail: `${serves.detail}; the last update of the Front Door failed (provisioningState Failed)` };
    return serves;
  });
  const configured = config.ok || config.settling === true;
  const edge = await Promise.all(hosts.map((host) => edgeCheck(`Front Door (classic) ${fdRef.name} frontend ${host}`, host, plan, region, configured, deps)));
  return [config, ...edge];
}

function frontDoorChecks(plan: Plan, region: string, deps: ActivityDeps): Promise<Check[]>[] {
  return [...plan.frontDoor.standard.map((spec) => standardChecks(plan, region, spec, deps)), ...plan.frontDoor.classic.map((spec) => classicChecks(plan, region, spec, deps))];
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
 * the failback brings it in line. Its check passes and says so. Where a site runs comes from the plan
 * (`appService[].region`), never from reading the site: that read would go to the down region.
 */
function appServiceChecks(plan: Plan, region: string, deps: ActivityDeps, otherWasDown?: boolean): Promise<Check>[] {
  if (plan.appService.length === 0) return [];
  const other = otherRegion(plan, region);
  let otherHealth: Promise<RegionHealth> | undefined;
  // The run says whether it left the other region's sites alone (it decided once, when it switched
  // them); only without that word is the other region probed now.
  const otherDown = async () => otherWasDown ?? !(await (otherHealth ??= probeRegion(plan, other, deps))).healthy;
  return plan.appService.flatMap((spec) => {
    const site = spec.site;
    const client = () => deps.clients.web(site.subscriptionId).webApps;
    const secrets = [...spec.appSettings, ...spec.connectionStrings].flatMap((s) => Object.values(s.values)).filter((v) => v.length >= 4);
    let skipped: Promise<string | undefined> | undefined;
    /** Why the site is not checked, if it is not. */
    const skip = () =>
      (skipped ??= (async () => {
        if (!sameRegion(spec.region, other) || !(await otherDown())) return undefined;
        return `not checked: the site is in ${other}, which is down; its settings are brought in line at failback`;
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
 * Front Door origin group / classic pool sends traffic first to the region's origin / backend, the
 * change has reached the edge, and a request through each Front Door host that serves it (AFD
 * endpoints routing to the group, classic frontends routing to the pool) is served by the region; every
 * plan app setting and connection string has the region's value (sites in the other region while it is
 * down excepted, as the switch leaves them alone). Read-only.
 *
 * What settles by itself is said so (`settling`): a Front Door change still deploying, the edge not yet
 * serving a configuration that is right, the region's apps restarting after this run's settings writes.
 * When every failed check is of that kind, the result is `settling` and the run checks again later.
 */
export async function verifyPrimary(input: RegionInput, deps: ActivityDeps): Promise<CheckResult> {
  const { plan, region } = input;
  planRegion(plan, region);
  const checks = await Promise.all([
    probeRegion(plan, region, deps).then(async (health) => healthCheck(region, health, !health.healthy && (await restartedByRun(plan, region, input.runId, deps)))),
    ...sqlChecks(plan, region, (g) => ({ ok: g.replicationRole === "Primary", detail: `role ${g.replicationRole ?? "unknown"}, replication ${g.replicationState ?? "unknown"}` }), deps),
    ...plan.storage.map((spec) => {
      const account = spec.account;
      return check(`storage account ${account.name}`, "StorageAccounts_GetProperties", account.id, async () => {
        const props = await deps.clients.storage(account.subscriptionId).storageAccounts.getProperties(account.resourceGroup, account.name);
        return { ok: sameRegion(props.primaryLocation, region), detail: `primary ${props.primaryLocation ?? "unknown"}, secondary ${props.secondaryLocation ?? "none"}` };
      });
    }),
    ...frontDoorChecks(plan, region, deps),
    ...appServiceChecks(plan, region, deps, input.otherWasDown),
  ]);
  const outcome = await result(checks.flat(), { runId: input.runId, step: Steps.verify, what: `${region} as primary` }, deps);
  deps.log.info(`verify ${region} as primary: ${outcome.ok ? "ok" : outcome.settling ? "settling" : "FAILED"}`, { runId: input.runId, region, failed: outcome.checks.filter((c) => !c.ok).map((c) => c.what) });
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
  const outcome = await result(checks, { runId: input.runId, step: Steps.checkReprotection, what: `re-protection of ${region}` }, deps);
  deps.log.info(`re-protection of ${region}: ${outcome.ok ? "ok" : "not yet"}`, { runId: input.runId, region, failed: checks.filter((c) => !c.ok).map((c) => c.what) });
  return outcome;
}
