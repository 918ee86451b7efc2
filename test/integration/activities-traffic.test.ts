import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { switchAppService } from "../../src/activities/appService.ts";
import { switchFrontDoorClassic, switchFrontDoorStandard } from "../../src/activities/frontdoor.ts";
import { assessRegions } from "../../src/activities/health.ts";
import { checkReprotection, verifyPrimary } from "../../src/activities/verify.ts";
import { AzureRequestError, PreconditionError, toEnvelope } from "../../src/core/errors.ts";
import { parseArmIdOfType, ResourceTypes, type Plan } from "../../src/core/plan/index.ts";
import type { SwitchInput } from "../../src/core/run/model.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { withAllChecks, withProbes, activityDeps, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { converge } from "../helpers/frontDoor.ts";

const RUN = "run-traffic";

const primary = (fx: EstateFixture) => fx.plan.regions.primary.name;
const secondary = (fx: EstateFixture) => fx.plan.regions.secondary.name;

function switchInput(fx: EstateFixture, to: string, disableOther: boolean, extra: Partial<SwitchInput> = {}): SwitchInput {
  return { runId: RUN, plan: fx.plan, index: 0, to, disableOther, ...extra };
}

function site(fx: EstateFixture, index: number) {
  const s = fx.plan.appService[index]!.site;
  const api = fx.clients.web(s.subscriptionId).webApps;
  return {
    api,
    settings: async () => (await api.listApplicationSettings(s.resourceGroup, s.name)).properties ?? {},
    strings: async () => (await api.listConnectionStrings(s.resourceGroup, s.name)).properties ?? {},
    putSettings: (properties: Record<string, string>) => api.updateApplicationSettings(s.resourceGroup, s.name, { properties }),
    putStrings: (properties: Record<string, { value: string; type: "Custom" | "RedisCache" | "SQLAzure" }>) => api.updateConnectionStrings(s.resourceGroup, s.name, { properties }),
  };
}

/** Entries of one kind in the run's journal. */
async function journaled(deps: TestDeps, kind: JournalEntry["kind"]) {
  return (await deps.journal.read(RUN)).filter((e) => e.kind === kind);
}

/** The data tier's part of a switch, done directly with the SDK (the data-tier activities are not under test here). */
async function failOverDataTier(fx: EstateFixture, to: string, forced: boolean) {
  for (const g of fx.plan.sql) {
    const server = to === primary(fx) ? { rg: g.failoverGroup.resourceGroup, name: g.failoverGroup.names[0]! } : { rg: g.partnerServer.resourceGroup, name: g.partnerServer.name };
    const sql = fx.clients.sql(g.failoverGroup.subscriptionId).failoverGroups;
    if (forced) await sql.beginForceFailoverAllowDataLossAndWait(server.rg, server.name, g.failoverGroup.name, FAST_POLL);
    else await sql.beginFailoverAndWait(server.rg, server.name, g.failoverGroup.name, FAST_POLL);
  }
  for (const s of fx.plan.storage) {
    const storage = fx.clients.storage(s.account.subscriptionId).storageAccounts;
    await storage.failover(s.account.resourceGroup, s.account.name, forced ? FAST_POLL : { ...FAST_POLL, failoverType: "Planned" });
  }
}

/** Every traffic and configuration switch of the plan, as the orchestrator runs them. */
async function switchAll(fx: EstateFixture, deps: TestDeps, to: string, disableOther: boolean, plan: Plan = fx.plan) {
  const inputs = (n: number) => Array.from({ length: n }, (_, index) => ({ runId: RUN, plan, index, to, disableOther }));
  // As the orchestration does: each Front Door switch is called again after what it started has ended.
  for (const i of inputs(plan.frontDoor.standard.length)) await converge(switchFrontDoorStandard, i, deps);
  for (const i of inputs(plan.frontDoor.classic.length)) await converge(switchFrontDoorClassic, i, deps);
  for (const i of inputs(plan.appService.length)) await switchAppService(i, deps);
}

// ---- health -----------------------------------------------------------------------------------

describe("assessRegions", () => {
  const fx = useEstate();

  it("finds both regions healthy when every endpoint answers, and sends no ARM request", async () => {
    const deps = activityDeps(fx);
    const mark = requestMark(fx);

    const result = await withProbes({ runId: RUN, plan: fx.plan, regions: [primary(fx), secondary(fx)] }, deps);

    expect(Object.keys(result.regions)).toEqual([primary(fx), secondary(fx)]);
    for (const region of [primary(fx), secondary(fx)]) {
      expect(result.regions[region]!.healthy).toBe(true);
      expect(result.regions[region]!.probes.map((p) => [p.ok, p.status])).toEqual([
        [true, 200],
        [true, 200],
      ]);
    }
    expect(new Date(result.at).toISOString()).toBe(result.at);
    expect(fx.estate.requests({ since: mark })).toEqual([]);
  });

  it("finds a region whose endpoints refuse connections unhealthy, with the probe errors, and leaves the other healthy", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(primary(fx), { down: true, healthWhenDown: "refused" });

    const result = await withProbes({ runId: RUN, plan: fx.plan, regions: [primary(fx), secondary(fx)] }, deps);

    const down = result.regions[primary(fx)]!;
    expect(down.healthy).toBe(false);
    expect(down.probes.map((p) => [p.url, p.ok, p.error])).toEqual(fx.plan.regions.primary.healthEndpoints.map((e) => [e.url, false, "ECONNREFUSED"]));
    expect(result.regions[secondary(fx)]!.healthy).toBe(true);
  });

  it("finds a region answering 503 unhealthy", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(secondary(fx), { down: true, healthWhenDown: "503" });

    const result = await withProbes({ runId: RUN, plan: fx.plan, regions: [secondary(fx)] }, deps);

    expect(Object.keys(result.regions)).toEqual([secondary(fx)]);
    expect(result.regions[secondary(fx)]).toMatchObject({ healthy: false });
    expect(result.regions[secondary(fx)]!.probes.map((p) => [p.status, p.error])).toEqual([
      [503, "expected 200, got 503"],
      [503, "expected 200, got 503"],
    ]);
  });

  it("needs a strict majority: one of two endpoints is a tie (unhealthy), two of three is healthy", async () => {
    const deps = activityDeps(fx);
    const [first, second] = fx.plan.regions.primary.healthEndpoints;
    const withEndpoints = (endpoints: Plan["regions"]["primary"]["healthEndpoints"]): Plan => ({
      ...fx.plan,
      regions: { ...fx.plan.regions, primary: { ...fx.plan.regions.primary, healthEndpoints: endpoints } },
    });
    // The estate answers 200: an endpoint that expects 204 fails.
    const failing = { ...second!, expectStatus: 204 };

    const tie = await withProbes({ runId: RUN, plan: withEndpoints([first!, failing]), regions: [primary(fx)] }, deps);
    const majority = await withProbes({ runId: RUN, plan: withEndpoints([first!, second!, failing]), regions: [primary(fx)] }, deps);

    expect(tie.regions[primary(fx)]!.probes.map((p) => p.ok)).toEqual([true, false]);
    expect(tie.regions[primary(fx)]!.healthy).toBe(false);
    expect(majority.regions[primary(fx)]!.probes.map((p) => p.ok)).toEqual([true, true, false]);
    expect(majority.regions[primary(fx)]!.healthy).toBe(true);
  });

  it("counts an endpoint that cannot be probed at all as a failed probe instead of failing the activity", async () => {
    const deps = activityDeps(fx);
    const plan: Plan = {
      ...fx.plan,
      regions: { ...fx.plan.regions, primary: { ...fx.plan.regions.primary, healthEndpoints: [{ url: "https://unknown-host.example.com/healthz", expectStatus: 200, timeoutMs: 1000 }] } },
    };

    const result = await withProbes({ runId: RUN, plan, regions: [primary(fx)] }, deps);

    expect(result.regions[primary(fx)]).toMatchObject({ healthy: false, probes: [{ ok: false, error: expect.stringContaining("unknown-host.example.com") }] });
  });

  it("refuses a region that is not one of the plan's", async () => {
    const attempt = assessRegions({ runId: RUN, plan: fx.plan, regions: ["westeurope"] }, activityDeps(fx));

    await expect(attempt).rejects.toBeInstanceOf(PreconditionError);
    await expect(attempt).rejects.toMatchObject({ code: "UnknownRegion", retryable: false });
  });
});

// ---- App Service -------------------------------------------------------------------------------

describe("switchAppService", () => {
  const fx = useEstate();

  it("sets the plan's settings and connection strings to the target's values, merged; a second call writes nothing", async () => {
    const deps = activityDeps(fx);
    const east = site(fx, 0);
    await east.putSettings({ ...(await east.settings()), UNRELATED: "keep-me" });
    await east.putStrings({ ...(await east.strings()), Other: { value: "keep-this-string", type: "Custom" } } as never);
    const seeded = await east.settings();
    const mark = requestMark(fx);

    const first = await switchAppService(switchInput(fx, secondary(fx), false), deps);
    const afterFirst = requestMark(fx);
    const second = await switchAppService(switchInput(fx, secondary(fx), false), deps);

    const spec = fx.plan.appService[0]!;
    const values = (list: { name: string; values: Record<string, string> }[]) => Object.fromEntries(list.map((s) => [s.name, s.values[secondary(fx)]]));
    expect(await east.settings()).toEqual({ ...seeded, ...values(spec.appSettings), UNRELATED: "keep-me" });
    expect(await east.strings()).toEqual({
      Cache: { value: spec.connectionStrings[0]!.values[secondary(fx)], type: "RedisCache" },
      Other: { value: "keep-this-string", type: "Custom" },
    });
    expect(writesSince(fx, mark)).toEqual(["PUT WebApps_UpdateApplicationSettings", "PUT WebApps_UpdateConnectionStrings"]);
    expect(first).toMatchObject({ resourceId: spec.site.id, changed: true });
    expect(first.requestIds).toHaveLength(2);
    expect(second).toEqual({ resourceId: spec.site.id, changed: false, requestIds: [] });
    expect(writesSince(fx, afterFirst)).toEqual([]);
    expect((await journaled(deps, "write")).map((w) => [w.data?.operation, w.data?.names])).toEqual([
      ["WebApps_UpdateApplicationSettings", ["ORDERS_ACTIVE_REGION", "ORDERS_EVENTS_NAMESPACE"]],
      ["WebApps_UpdateConnectionStrings", ["Cache"]],
    ]);
  });

  it("writes only the set that differs, and nothing for a site without connection strings", async () => {
    const deps = activityDeps(fx);
    const east = site(fx, 0);
    const spec = fx.plan.appService[0]!;
    await east.putSettings(Object.fromEntries(spec.appSettings.map((s) => [s.name, s.values[secondary(fx)]!])));
    const mark = requestMark(fx);

    await switchAppService(switchInput(fx, secondary(fx), false), deps);
    const central = await switchAppService(switchInput(fx, secondary(fx), false, { index: 1 }), deps);

    expect(writesSince(fx, mark)).toEqual(["PUT WebApps_UpdateConnectionStrings", "PUT WebApps_UpdateApplicationSettings"]);
    expect(fx.estate.requests({ since: mark }).filter((r) => r.path.includes(fx.plan.appService[1]!.site.name)).map((r) => r.operationId)).toEqual([
      "WebApps_ListApplicationSettings",
      "WebApps_UpdateApplicationSettings",
    ]);
    expect(central.changed).toBe(true);
    expect((await site(fx, 1).settings()).ORDERS_ACTIVE_REGION).toBe(secondary(fx));
  });

  it("leaves a site in the region being left alone while that region is down, and still switches the others", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(primary(fx), { down: true });
    const before = await site(fx, 0).settings();
    const mark = requestMark(fx);

    const east = await switchAppService(switchInput(fx, secondary(fx), true), deps);
    const central = await switchAppService(switchInput(fx, secondary(fx), true, { index: 1 }), deps);

    expect(east).toEqual({ resourceId: fx.plan.appService[0]!.site.id, changed: false, requestIds: [] });
    expect(central.changed).toBe(true);
    expect(writesSince(fx, mark)).toEqual(["PUT WebApps_UpdateApplicationSettings"]);
    expect(await site(fx, 0).settings()).toEqual(before);
    expect((await journaled(deps, "decision")).map((d) => [d.data?.resourceId, d.data?.skipped])).toEqual([[fx.plan.appService[0]!.site.id, true]]);
  });

  it("reports a site that refuses the write (its region down, but not declared so) as a retryable error", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(primary(fx), { down: true });

    const attempt = switchAppService(switchInput(fx, secondary(fx), false), deps);

    await expect(attempt).rejects.toMatchObject({ retryable: true, details: { status: 503, operation: "WebApps_UpdateApplicationSettings" } });
  });

  it("turns a 429 on the read into a retryable error before any write", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "WebApps_ListApplicationSettings", count: 1, retryAfterSeconds: 2 });
    const mark = requestMark(fx);

    await expect(switchAppService(switchInput(fx, secondary(fx), false), deps)).rejects.toMatchObject({ retryable: true, retryAfterSeconds: 2 });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  describe("with secret values", () => {
    const SECRET_STRING = "Server=tcp:orders;Password=Zq9-s3cr3t-CS-7781";
    const SECRET_SETTING = "https://media.example.net/?sig=SECRETSIG-4471";
    const UNRELATED_SECRET = "sk-live-UNRELATED-SECRET-9932";
    const SECRETS = [SECRET_STRING, SECRET_SETTING, UNRELATED_SECRET];

    function secretPlan(): Plan {
      const spec = fx.plan.appService[0]!;
      const to = secondary(fx);
      return {
        ...fx.plan,
        appService: [
          {
            ...spec,
            appSettings: spec.appSettings.map((s) => (s.name === "ORDERS_EVENTS_NAMESPACE" ? { ...s, values: { ...s.values, [to]: SECRET_SETTING } } : s)),
            connectionStrings: spec.connectionStrings.map((s) => ({ ...s, values: { ...s.values, [to]: SECRET_STRING } })),
          },
          ...fx.plan.appService.slice(1),
        ],
      };
    }

    function expectNoSecret(text: string) {
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    }

    it("never puts a value in the journal, the log, the result or a verification", async () => {
      const deps = activityDeps(fx);
      const plan = secretPlan();
      const east = site(fx, 0);
      await east.putSettings({ ...(await east.settings()), API_KEY: UNRELATED_SECRET });

      const result = await switchAppService({ ...switchInput(fx, secondary(fx), false), plan }, deps);
      const stored = { strings: await east.strings(), settings: await east.settings() };
      const verified = await withAllChecks(verifyPrimary, { runId: RUN, plan, region: secondary(fx) }, deps);
      await east.putStrings({ Cache: { value: `${SECRET_STRING}-changed`, type: "RedisCache" } });
      const mismatch = await withAllChecks(verifyPrimary, { runId: RUN, plan, region: secondary(fx) }, deps);

      expect(stored.strings.Cache?.value).toBe(SECRET_STRING);
      expect(stored.settings).toMatchObject({ API_KEY: UNRELATED_SECRET, ORDERS_EVENTS_NAMESPACE: SECRET_SETTING });
      expect(verified.checks.find((c) => c.what === `connection strings of ${plan.appService[0]!.site.name}`)).toMatchObject({ ok: true });
      const failed = mismatch.checks.find((c) => c.what === `connection strings of ${plan.appService[0]!.site.name}`)!;
      expect(failed).toMatchObject({ ok: false, detail: "not the region's value: Cache" });
      expectNoSecret(JSON.stringify(await deps.journal.read(RUN)));
      expectNoSecret(JSON.stringify(deps.logged));
      expectNoSecret(JSON.stringify(result));
      expectNoSecret(JSON.stringify([verified, mismatch]));
    });

    it("never puts a value in an error, its envelope or its inspected form", async () => {
      const deps = activityDeps(fx);
      const plan = secretPlan();
      const east = site(fx, 0);
      await east.putSettings({ ...(await east.settings()), API_KEY: UNRELATED_SECRET });
      fx.estate.addFault({ kind: "serverError", operationId: "WebApps_UpdateConnectionStrings", count: 1, status: 500 });

      const error = await switchAppService({ ...switchInput(fx, secondary(fx), false), plan }, deps).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(AzureRequestError);
      expect(error).toMatchObject({ retryable: true, details: { status: 500, operation: "WebApps_UpdateConnectionStrings" } });
      expect((error as Error).cause).toBeUndefined();
      expectNoSecret(inspect(error, { depth: 20 }));
      expectNoSecret(JSON.stringify(toEnvelope(error)));
      expectNoSecret(JSON.stringify(await deps.journal.read(RUN)));
      expectNoSecret(JSON.stringify(deps.logged));
      expect((await journaled(deps, "write")).map((w) => [w.data?.operation, w.data?.result])).toEqual([
        ["WebApps_UpdateApplicationSettings", "succeeded"],
        ["WebApps_UpdateConnectionStrings", "failed: AzureRequestFailed"],
      ]);
    });
  });
});

// ---- verification --------------------------------------------------------------------------------

describe("verifyPrimary", () => {
  const fx = useEstate();

  it("passes for the primary on a fresh estate and fails for the secondary, naming every resource not switched", async () => {
    const deps = activityDeps(fx);
    const mark = requestMark(fx);

    const asPrimary = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: primary(fx) }, deps);
    const asSecondary = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    expect(asPrimary.ok).toBe(true);
    expect(asPrimary.checks.every((c) => c.ok)).toBe(true);
    expect(asSecondary.ok).toBe(false);
    const failed = asSecondary.checks.filter((c) => !c.ok).map((c) => c.what);
    const afd = fx.plan.frontDoor.standard[0]!.originGroup;
    const endpoint = await fx.clients.cdn(afd.subscriptionId).afdEndpoints.get(afd.resourceGroup, afd.names[0]!, afd.name);
    const legacy = fx.plan.frontDoor.classic[0]!;
    expect(failed).toEqual([
      ...fx.plan.sql.map((g) => `SQL failover group ${g.failoverGroup.name} on ${g.partnerServer.name}`),
      ...fx.plan.storage.map((s) => `storage account ${s.account.name}`),
      `Front Door origin group ${afd.names[0]}/${afd.name}`,
      // Where users are: each Front Door host is still served by the primary region.
      `Front Door endpoint ${endpoint.hostName} (origin group ${afd.name})`,
      `Front Door (classic) ${legacy.frontDoor.name} backend pool ${legacy.backendPool}`,
      `Front Door (classic) ${legacy.frontDoor.name} frontend ${legacy.frontDoor.name}.azurefd.net`,
      `app settings of ${fx.plan.appService[0]!.site.name}`,
      `connection strings of ${fx.plan.appService[0]!.site.name}`,
      `app settings of ${fx.plan.appService[1]!.site.name}`,
    ]);
    expect(asSecondary.checks.find((c) => c.what === `health endpoints of ${secondary(fx)}`)).toMatchObject({ ok: true, detail: "2 of 2 answer" });
    expect(asSecondary.checks.find((c) => c.what.startsWith("Front Door endpoint"))).toMatchObject({ detail: `/healthz: answers 200 from ${primary(fx)}, expected 200 from ${secondary(fx)}` });
    // Nothing settles by itself here: the configuration itself is not switched.
    expect(asSecondary.settling).toBeUndefined();
    expect(asPrimary.checks.filter((c) => c.what.startsWith("Front Door endpoint") || c.what.includes(" frontend ")).map((c) => c.detail)).toEqual([`/healthz: answers 200 from ${primary(fx)}`, `/healthz: answers 200 from ${primary(fx)}`]);
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("passes for the secondary after a planned switch of every part, and then fails for the primary", async () => {
    const deps = activityDeps(fx);
    await failOverDataTier(fx, secondary(fx), false);
    const traffic = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    await switchAll(fx, deps, secondary(fx), false);
    const after = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);
    const old = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

    // With only the data tier moved, traffic and settings still point at the primary.
    expect(traffic.ok).toBe(false);
    expect(traffic.checks.filter((c) => c.what.startsWith("SQL") || c.what.startsWith("storage")).every((c) => c.ok)).toBe(true);
    expect(after).toMatchObject({ ok: true });
    expect(old.ok).toBe(false);
  });

  it("passes for the secondary after an unplanned switch with the primary down, the down region's site excepted and said so", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(primary(fx), { down: true, healthWhenDown: "refused" });
    await failOverDataTier(fx, secondary(fx), true);
    await switchAll(fx, deps, secondary(fx), true);

    const result = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    expect(result.ok).toBe(true);
    expect(result.checks.find((c) => c.what === `app settings of ${fx.plan.appService[0]!.site.name}`)!.detail).toMatch(/^not checked: the site is in eastus2, which is down/);
    expect(result.checks.find((c) => c.what === `app settings of ${fx.plan.appService[1]!.site.name}`)).toMatchObject({ ok: true, detail: "all 1 app settings have the region's value" });
  });

  it("fails a Front Door check when the region's origin is enabled but shares the lowest priority", async () => {
    const deps = activityDeps(fx);
    const g = fx.plan.frontDoor.standard[0]!;
    await fx.clients.cdn(g.originGroup.subscriptionId).afdOrigins.beginUpdateAndWait(g.originGroup.resourceGroup, g.originGroup.names[0]!, g.originGroup.name, g.origins[secondary(fx)]!, { priority: 1 }, FAST_POLL);

    const result = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

    expect(result.ok).toBe(false);
    expect(result.checks.filter((c) => !c.ok).map((c) => c.what)).toEqual([`Front Door origin group ${g.originGroup.names[0]}/${g.originGroup.name}`]);
  });

  it("throws a retryable error when a read is throttled, and records a permanent read failure as a failed check", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_GetProperties", count: 1 });
    const throttled = verifyPrimary({ runId: RUN, plan: fx.plan, region: primary(fx) }, deps);
    await expect(throttled).rejects.toMatchObject({ retryable: true, details: { status: 429 } });

    const spec = fx.plan.storage[0]!;
    const missing = parseArmIdOfType(spec.account.id.replace(/[^/]+$/, "nosuchaccount"), ResourceTypes.storageAccount);
    const plan: Plan = { ...fx.plan, storage: [{ ...spec, account: missing }] };
    const result = await withAllChecks(verifyPrimary, { runId: RUN, plan, region: primary(fx) }, deps);

    expect(result.ok).toBe(false);
    expect(result.checks.find((c) => c.what === "storage account nosuchaccount")).toMatchObject({ ok: false, detail: expect.stringContaining("404") });
  });
});

describe("checkReprotection", () => {
  const fx = useEstate();

  it("passes on a fresh estate for both regions: the secondary holds live replicas, the primary already is primary", async () => {
    const deps = activityDeps(fx);

    const intoSecondary = await withAllChecks(checkReprotection, { runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);
    const intoPrimary = await withAllChecks(checkReprotection, { runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

    expect(intoSecondary.ok).toBe(true);
    expect(intoPrimary.ok).toBe(true);
    expect(intoPrimary.checks.filter((c) => c.what.startsWith("storage")).every((c) => c.detail.includes(`already primary in ${primary(fx)}`))).toBe(true);
    expect(intoSecondary.checks.map((c) => c.what)).toEqual([
      `health endpoints of ${secondary(fx)}`,
      ...fx.plan.storage.map((s) => `storage account ${s.account.name} geo-redundant with ${secondary(fx)}`),
      ...fx.plan.sql.map((g) => `SQL failover group ${g.failoverGroup.name} on ${g.partnerServer.name}`),
    ]);
  });

  it("fails after an unplanned failover until the primary is back and geo-redundancy is re-enabled, then passes", async () => {
    const deps = activityDeps(fx);
    const input = { runId: RUN, plan: fx.plan, region: primary(fx) };
    await fx.estate.setRegion(primary(fx), { down: true, healthWhenDown: "refused" });
    await failOverDataTier(fx, secondary(fx), true);

    const whileDown = await withAllChecks(checkReprotection, input, deps);
    await fx.estate.setRegion(primary(fx), { down: false });
    const backUp = await withAllChecks(checkReprotection, input, deps);
    // Geo-redundancy comes back by an update to a geo SKU (zone redundancy only by a later migration).
    for (const s of fx.plan.storage) {
      await fx.clients.storage(s.account.subscriptionId).storageAccounts.update(s.account.resourceGroup, s.account.name, { sku: { name: s.sku.replace("GZRS", "GRS") } });
    }
    const reprotected = await withAllChecks(checkReprotection, input, deps);

    expect(whileDown.ok).toBe(false);
    expect(whileDown.checks.filter((c) => !c.ok).map((c) => c.what.split(" ")[0])).toEqual(["health", "storage", "storage", "SQL", "SQL"]);
    expect(whileDown.checks.find((c) => c.what.startsWith("SQL"))!.detail).toContain("SUSPENDED");
    expect(backUp.ok).toBe(false);
    expect(backUp.checks.filter((c) => !c.ok).map((c) => c.what)).toEqual(fx.plan.storage.map((s) => `storage account ${s.account.name} geo-redundant with ${primary(fx)}`));
    expect(backUp.checks.find((c) => !c.ok)!.detail).toMatch(/^not geo-redundant \(sku Standard_LRS/);
    expect(reprotected.ok).toBe(true);
    expect(reprotected.checks.find((c) => c.what.startsWith("storage"))!.detail).toContain(`secondary ${primary(fx)}, replication Live`);
  });
});
