import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { switchAppService } from "../../src/activities/appService.ts";
import { switchFrontDoorClassic, switchFrontDoorStandard } from "../../src/activities/frontdoor.ts";
import { assessRegions } from "../../src/activities/health.ts";
import { checkReprotection, verifyPrimary } from "../../src/activities/verify.ts";
import { AzureRequestError, PreconditionError, toEnvelope } from "../../src/core/errors.ts";
import { parseArmIdOfType, ResourceTypes, type Plan } from "../../src/core/plan/index.ts";
import type { SwitchInput } from "../../src/core/run/model.ts";
import type { Journal, JournalEntry } from "../../src/journal/journal.ts";
import { activityDeps, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { collect, FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

const RUN = "run-traffic";

const primary = (fx: EstateFixture) => fx.plan.regions.primary.name;
const secondary = (fx: EstateFixture) => fx.plan.regions.secondary.name;

function switchInput(fx: EstateFixture, to: string, disableOther: boolean, extra: Partial<SwitchInput> = {}): SwitchInput {
  return { runId: RUN, plan: fx.plan, index: 0, to, disableOther, ...extra };
}

/** The plan's AFD origins as [priority, enabledState], by region. */
async function afdOrigins(fx: EstateFixture): Promise<Record<string, [number | undefined, string | undefined]>> {
  const spec = fx.plan.frontDoor.standard[0]!;
  const g = spec.originGroup;
  const origins = await collect(fx.clients.cdn(g.subscriptionId).afdOrigins.listByOriginGroup(g.resourceGroup, g.names[0]!, g.name));
  return Object.fromEntries(
    Object.entries(spec.origins).map(([region, name]) => {
      const o = origins.find((x) => x.name === name)!;
      return [region, [o.priority, o.enabledState]];
    }),
  );
}

async function afdOrigin(fx: EstateFixture, region: string) {
  const spec = fx.plan.frontDoor.standard[0]!;
  const g = spec.originGroup;
  return fx.clients.cdn(g.subscriptionId).afdOrigins.get(g.resourceGroup, g.names[0]!, g.name, spec.origins[region]!);
}

/** The plan's classic backends as [priority, enabledState], by region, and the whole Front Door. */
async function classicBackends(fx: EstateFixture) {
  const spec = fx.plan.frontDoor.classic[0]!;
  const fd = await fx.clients.frontDoor(spec.frontDoor.subscriptionId).frontDoors.get(spec.frontDoor.resourceGroup, spec.frontDoor.name);
  const pool = fd.backendPools!.find((p) => p.name === spec.backendPool)!;
  const byRegion = Object.fromEntries(
    Object.entries(spec.backends).map(([region, address]) => {
      const b = pool.backends!.find((x) => x.address === address)!;
      return [region, [b.priority, b.enabledState]];
    }),
  ) as Record<string, [number | undefined, string | undefined]>;
  return { byRegion, fd };
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

/** A journal that stores an entry and then "kills the process" right after an operation was accepted. */
class KilledAfterAccept implements Journal {
  constructor(private readonly inner: Journal) {}
  async append(entry: JournalEntry): Promise<void> {
    await this.inner.append(entry);
    if (entry.kind === "operation" && entry.data?.status === "running") throw new Error("process killed right after the write was accepted");
  }
  read(runId: string) {
    return this.inner.read(runId);
  }
  listRuns() {
    return this.inner.listRuns();
  }
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
  for (const i of inputs(plan.frontDoor.standard.length)) await switchFrontDoorStandard(i, deps);
  for (const i of inputs(plan.frontDoor.classic.length)) await switchFrontDoorClassic(i, deps);
  for (const i of inputs(plan.appService.length)) await switchAppService(i, deps);
}

// ---- health -----------------------------------------------------------------------------------

describe("assessRegions", () => {
  const fx = useEstate();

  it("finds both regions healthy when every endpoint answers, and sends no ARM request", async () => {
    const deps = activityDeps(fx);
    const mark = requestMark(fx);

    const result = await assessRegions({ runId: RUN, plan: fx.plan, regions: [primary(fx), secondary(fx)] }, deps);

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

    const result = await assessRegions({ runId: RUN, plan: fx.plan, regions: [primary(fx), secondary(fx)] }, deps);

    const down = result.regions[primary(fx)]!;
    expect(down.healthy).toBe(false);
    expect(down.probes.map((p) => [p.url, p.ok, p.error])).toEqual(fx.plan.regions.primary.healthEndpoints.map((e) => [e.url, false, "ECONNREFUSED"]));
    expect(result.regions[secondary(fx)]!.healthy).toBe(true);
  });

  it("finds a region answering 503 unhealthy", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion(secondary(fx), { down: true, healthWhenDown: "503" });

    const result = await assessRegions({ runId: RUN, plan: fx.plan, regions: [secondary(fx)] }, deps);

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

    const tie = await assessRegions({ runId: RUN, plan: withEndpoints([first!, failing]), regions: [primary(fx)] }, deps);
    const majority = await assessRegions({ runId: RUN, plan: withEndpoints([first!, second!, failing]), regions: [primary(fx)] }, deps);

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

    const result = await assessRegions({ runId: RUN, plan, regions: [primary(fx)] }, deps);

    expect(result.regions[primary(fx)]).toMatchObject({ healthy: false, probes: [{ ok: false, error: expect.stringContaining("unknown-host.example.com") }] });
  });

  it("refuses a region that is not one of the plan's", async () => {
    const attempt = assessRegions({ runId: RUN, plan: fx.plan, regions: ["westeurope"] }, activityDeps(fx));

    await expect(attempt).rejects.toBeInstanceOf(PreconditionError);
    await expect(attempt).rejects.toMatchObject({ code: "UnknownRegion", retryable: false });
  });
});

// ---- Front Door Standard/Premium ----------------------------------------------------------------

describe("switchFrontDoorStandard", () => {
  const fx = useEstate();

  it("takes the secondary's origin to priority 1 and disables the unhealthy primary's; a second call writes nothing", async () => {
    const deps = activityDeps(fx);
    const mark = requestMark(fx);

    const first = await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);
    const afterFirst = requestMark(fx);
    const second = await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    const patches = fx.estate.requests({ since: mark, writesOnly: true });
    expect(patches.map((r) => `${r.method} ${r.operationId}`)).toEqual(["PATCH AFDOrigins_Update", "PATCH AFDOrigins_Update"]);
    // The target's origin first: traffic has somewhere to go before the other is taken out.
    const origins = fx.plan.frontDoor.standard[0]!.origins;
    expect(patches.map((r) => r.path.split("/").pop())).toEqual([origins[secondary(fx)], origins[primary(fx)]]);
    expect(first).toMatchObject({ resourceId: fx.plan.frontDoor.standard[0]!.originGroup.id, changed: true });
    expect(first.requestIds).toEqual(expect.arrayContaining(patches.map((r) => r.requestId)));
    expect(second).toEqual({ resourceId: first.resourceId, changed: false, requestIds: [] });
    expect(writesSince(fx, afterFirst)).toEqual([]);
    const writes = await journaled(deps, "write");
    expect(writes.map((w) => [w.data?.operation, w.data?.origin, w.data?.result])).toEqual([
      ["AFDOrigins_Update", origins[secondary(fx)], "succeeded"],
      ["AFDOrigins_Update", origins[primary(fx)], "succeeded"],
    ]);
    expect(writes.every((w) => (w.data?.requestIds as string[]).length > 0)).toBe(true);
  });

  it("keeps the healthy primary enabled as a standby when disableOther is false, and switches back", async () => {
    const deps = activityDeps(fx);

    await switchFrontDoorStandard(switchInput(fx, secondary(fx), false), deps);
    const away = await afdOrigins(fx);
    const back = await switchFrontDoorStandard(switchInput(fx, primary(fx), false), deps);

    expect(away).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Enabled"] });
    expect(back.changed).toBe(true);
    expect(await afdOrigins(fx)).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
  });

  it("re-enables the other origin on a later call with disableOther false, with one PATCH", async () => {
    const deps = activityDeps(fx);
    await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);
    const mark = requestMark(fx);

    const result = await switchFrontDoorStandard(switchInput(fx, secondary(fx), false), deps);

    expect(result.changed).toBe(true);
    expect(writesSince(fx, mark)).toEqual(["PATCH AFDOrigins_Update"]);
    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Enabled"] });
  });

  it("turns a 429 into a retryable error with Retry-After, journals the failed write, and changes nothing", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "AFDOrigins_Update", count: 1, retryAfterSeconds: 7 });

    const attempt = switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    await expect(attempt).rejects.toBeInstanceOf(AzureRequestError);
    await expect(attempt).rejects.toMatchObject({ retryable: true, retryAfterSeconds: 7, details: { status: 429, operation: "AFDOrigins_Update" } });
    expect(await afdOrigins(fx)).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
    expect((await journaled(deps, "write")).map((w) => w.data?.result)).toEqual([expect.stringMatching(/^failed: AFDOrigins_Update on .+ failed: 429 TooManyRequests/)]);
  });

  it("turns a 429 on the read into a retryable error before any write", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "AFDOrigins_ListByOriginGroup", count: 1 });
    const mark = requestMark(fx);

    await expect(switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps)).rejects.toMatchObject({ retryable: true, details: { status: 429 } });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("fails non-retryably when the operation ends Failed, journals it, and a rerun succeeds with exactly one more write", async () => {
    const deps = activityDeps(fx);
    await switchFrontDoorStandard(switchInput(fx, secondary(fx), false), deps);
    fx.estate.addFault({ kind: "lroFailure", operationId: "AFDOrigins_Update", count: 1 });

    const attempt = switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    await expect(attempt).rejects.toBeInstanceOf(AzureRequestError);
    await expect(attempt).rejects.toMatchObject({ retryable: false });
    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Enabled"] });
    const primaryOriginId = `${fx.plan.frontDoor.standard[0]!.originGroup.id}/origins/${fx.plan.frontDoor.standard[0]!.origins[primary(fx)]}`;
    const writes = (await journaled(deps, "write")).filter((e) => e.data?.resourceId === primaryOriginId);
    expect(writes.map((e) => e.data?.result)).toEqual(["succeeded", expect.stringMatching(/^failed: AFDOrigins_Update on .+ failed: operation failed/)]);
    // No resume token is left behind for the failed operation: a rerun sends a new PATCH.
    expect((await journaled(deps, "operation")).filter((e) => e.data?.resourceId === primaryOriginId).at(-1)?.data?.status).not.toBe("running");

    const mark = requestMark(fx);
    const rerun = await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    expect(rerun.changed).toBe(true);
    expect(writesSince(fx, mark)).toEqual(["PATCH AFDOrigins_Update"]);
    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
  });

  it("refuses, before any write, a plan origin the group does not have", async () => {
    const deps = activityDeps(fx);
    const spec = fx.plan.frontDoor.standard[0]!;
    const plan: Plan = { ...fx.plan, frontDoor: { ...fx.plan.frontDoor, standard: [{ ...spec, origins: { ...spec.origins, [primary(fx)]: "no-such-origin" } }] } };
    const mark = requestMark(fx);

    const attempt = switchFrontDoorStandard({ ...switchInput(fx, secondary(fx), true), plan }, deps);

    await expect(attempt).rejects.toMatchObject({ code: "OriginNotFound", retryable: false });
    expect(writesSince(fx, mark)).toEqual([]);
  });
});

// ---- Front Door classic -----------------------------------------------------------------------

describe("switchFrontDoorClassic", () => {
  const fx = useEstate();

  it("switches the pool with one GET and one PUT, keeping the rest of the Front Door; a second call writes nothing", async () => {
    const deps = activityDeps(fx);
    const before = await classicBackends(fx);
    const mark = requestMark(fx);

    const first = await switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);
    const afterFirst = requestMark(fx);
    const second = await switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    const after = await classicBackends(fx);
    expect(after.byRegion).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    const firstCalls = fx.estate.requests({ since: mark }).filter((r) => r.seq <= afterFirst);
    // One read, one write (the poller's final GET of the resource after the operation is the SDK's).
    expect(firstCalls.map((r) => r.operationId).slice(0, 2)).toEqual(["FrontDoors_Get", "FrontDoors_CreateOrUpdate"]);
    expect(writesSince(fx, mark)).toEqual(["PUT FrontDoors_CreateOrUpdate"]);
    expect(writesSince(fx, afterFirst)).toEqual([]);
    expect(first.changed).toBe(true);
    expect(first.requestIds).toContain(firstCalls.find((r) => r.method === "PUT")!.requestId);
    expect(second).toEqual({ resourceId: fx.plan.frontDoor.classic[0]!.frontDoor.id, changed: false, requestIds: [] });
    const routes = (fd: typeof before.fd) => fd.routingRules?.map((r) => [r.name, r.patternsToMatch, r.acceptedProtocols, r.frontendEndpoints, (r.routeConfiguration as { backendPool?: unknown }).backendPool]);
    expect(routes(after.fd)).toEqual(routes(before.fd));
    expect(after.fd.frontendEndpoints?.map((f) => [f.name, f.hostName])).toEqual(before.fd.frontendEndpoints?.map((f) => [f.name, f.hostName]));
    expect(after.fd.backendPools?.map((p) => [p.name, p.backends?.map((b) => [b.address, b.weight, b.httpsPort])])).toEqual(
      before.fd.backendPools?.map((p) => [p.name, p.backends?.map((b) => [b.address, b.weight, b.httpsPort])]),
    );
    expect(after.fd.frontdoorId).toBe(before.fd.frontdoorId);
  });

  it("keeps the other backend enabled on standby when disableOther is false, and switches back", async () => {
    const deps = activityDeps(fx);

    await switchFrontDoorClassic(switchInput(fx, secondary(fx), false), deps);
    const away = (await classicBackends(fx)).byRegion;
    const mark = requestMark(fx);
    await switchFrontDoorClassic(switchInput(fx, primary(fx), false), deps);

    expect(away).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Enabled"] });
    expect((await classicBackends(fx)).byRegion).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
    expect(writesSince(fx, mark)).toEqual(["PUT FrontDoors_CreateOrUpdate"]);
  });

  it("turns a 429 into a retryable error", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "FrontDoors_CreateOrUpdate", count: 1, retryAfterSeconds: 3 });

    const attempt = switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    await expect(attempt).rejects.toMatchObject({ retryable: true, retryAfterSeconds: 3, details: { status: 429, operation: "FrontDoors_CreateOrUpdate" } });
    expect((await classicBackends(fx)).byRegion).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
  });

  it("fails non-retryably when the PUT ends Failed, journals it, and a rerun succeeds with exactly one more write", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "FrontDoors_CreateOrUpdate", count: 1 });

    const attempt = switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    await expect(attempt).rejects.toMatchObject({ retryable: false, details: { operation: "FrontDoors_CreateOrUpdate" } });
    expect((await classicBackends(fx)).byRegion).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
    expect((await journaled(deps, "operation")).map((e) => e.data?.status)).toEqual(["running", "failed"]);
    expect((await journaled(deps, "write")).map((e) => e.data?.result)).toEqual([expect.stringMatching(/^failed: .*operation failed/)]);

    const mark = requestMark(fx);
    const rerun = await switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    expect(rerun.changed).toBe(true);
    expect(writesSince(fx, mark)).toEqual(["PUT FrontDoors_CreateOrUpdate"]);
    expect((await classicBackends(fx)).byRegion).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
  });

  it("refuses, before any write, a backend pool the Front Door does not have", async () => {
    const deps = activityDeps(fx);
    const spec = fx.plan.frontDoor.classic[0]!;
    const plan: Plan = { ...fx.plan, frontDoor: { ...fx.plan.frontDoor, classic: [{ ...spec, backendPool: "no-such-pool" }] } };
    const mark = requestMark(fx);

    await expect(switchFrontDoorClassic({ ...switchInput(fx, secondary(fx), true), plan }, deps)).rejects.toMatchObject({ code: "BackendPoolNotFound" });
    expect(writesSince(fx, mark)).toEqual([]);
  });
});

// ---- crash and resume of a long-running write -----------------------------------------------------

describe("traffic switches killed after Azure accepted the write", () => {
  let now = Date.parse("2025-05-01T08:00:00Z");
  const fx = useEstate({ estate: { clock: () => now } });

  it("AFD: a rerun resumes the PATCH in flight instead of sending it again", async () => {
    const deps = activityDeps(fx);
    const origins = fx.plan.frontDoor.standard[0]!.origins;
    fx.estate.setTiming({ durations: { AFDOrigins_Update: 60_000 } });

    const killed = switchFrontDoorStandard(switchInput(fx, secondary(fx), true), { ...deps, journal: new KilledAfterAccept(deps.journal) });
    await expect(killed).rejects.toThrow("process killed");
    const during = await afdOrigin(fx, secondary(fx));
    // The operation is still running in Azure; new operations from here on complete at once.
    fx.estate.setTiming({ durations: { AFDOrigins_Update: 0 } });
    now += 60_000;
    const mark = requestMark(fx);
    const rerun = await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    expect(during).toMatchObject({ priority: 2, provisioningState: "Updating" });
    expect(rerun.changed).toBe(true);
    // Only the other origin's PATCH: the target's was resumed, not re-sent.
    const writes = fx.estate.requests({ since: mark, writesOnly: true });
    expect(writes.map((r) => [r.operationId, r.path.split("/").pop()])).toEqual([["AFDOrigins_Update", origins[primary(fx)]]]);
    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    const results = (await journaled(deps, "write")).map((w) => [w.data?.origin, w.data?.result]);
    expect(results).toEqual([
      [origins[secondary(fx)], "succeeded (resumed the operation a previous attempt started)"],
      [origins[primary(fx)], "succeeded"],
    ]);
    const again = requestMark(fx);
    expect((await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps)).changed).toBe(false);
    expect(writesSince(fx, again)).toEqual([]);
  });

  it("classic: a rerun resumes the PUT in flight and sends no second PUT", async () => {
    const deps = activityDeps(fx);
    fx.estate.setTiming({ durations: { FrontDoors_CreateOrUpdate: 60_000 } });

    const killed = switchFrontDoorClassic(switchInput(fx, secondary(fx), true), { ...deps, journal: new KilledAfterAccept(deps.journal) });
    await expect(killed).rejects.toThrow("process killed");
    const during = await classicBackends(fx);
    now += 60_000;
    const mark = requestMark(fx);
    const rerun = await switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    expect(during.fd.provisioningState).toBe("Updating");
    expect(during.byRegion).toEqual({ [primary(fx)]: [1, "Enabled"], [secondary(fx)]: [2, "Enabled"] });
    expect(rerun.changed).toBe(true);
    expect(writesSince(fx, mark)).toEqual([]);
    expect((await classicBackends(fx)).byRegion).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    expect((await journaled(deps, "operation")).map((e) => [e.data?.status, e.message.includes("resumed")])).toEqual([
      ["running", false],
      ["succeeded", true],
    ]);
  });
});

describe("traffic switches killed before the resume token was journaled", () => {
  let now = Date.parse("2025-05-01T08:00:00Z");
  const fx = useEstate({ estate: { clock: () => now } });

  /** Deps whose log moves the estate's clock on when the activity starts waiting for an operation in flight. */
  function depsAdvancingOnWait(): TestDeps {
    const deps = activityDeps(fx);
    const info = deps.log.info;
    return {
      ...deps,
      log: {
        ...deps.log,
        info: (message, fields) => {
          info(message, fields);
          if (message.includes("waiting for the operation in flight")) now += 60_000;
        },
      },
    };
  }

  it("AFD: a rerun that finds the origin Updating waits for it and does not PATCH it again", async () => {
    const origins = fx.plan.frontDoor.standard[0]!.origins;
    fx.estate.setTiming({ durations: { AFDOrigins_Update: 60_000 } });
    const lost = activityDeps(fx);
    await expect(switchFrontDoorStandard(switchInput(fx, secondary(fx), true), { ...lost, journal: new KilledAfterAccept(lost.journal) })).rejects.toThrow("process killed");
    fx.estate.setTiming({ durations: { AFDOrigins_Update: 0 } });
    // The journal (and so the token) is lost: the rerun starts from an empty one.
    const deps = depsAdvancingOnWait();
    const mark = requestMark(fx);

    const rerun = await switchFrontDoorStandard(switchInput(fx, secondary(fx), true), deps);

    const writes = fx.estate.requests({ since: mark, writesOnly: true });
    expect(writes.map((r) => [r.operationId, r.path.split("/").pop()])).toEqual([["AFDOrigins_Update", origins[primary(fx)]]]);
    expect(rerun.changed).toBe(true);
    expect(await afdOrigins(fx)).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    expect((await journaled(deps, "wait")).map((e) => e.data?.provisioningState)).toEqual(["Updating"]);
  });

  it("classic: a rerun that finds the Front Door Updating waits for it and sends no PUT", async () => {
    fx.estate.setTiming({ durations: { FrontDoors_CreateOrUpdate: 60_000 } });
    const lost = activityDeps(fx);
    await expect(switchFrontDoorClassic(switchInput(fx, secondary(fx), true), { ...lost, journal: new KilledAfterAccept(lost.journal) })).rejects.toThrow("process killed");
    const deps = depsAdvancingOnWait();
    const mark = requestMark(fx);

    const rerun = await switchFrontDoorClassic(switchInput(fx, secondary(fx), true), deps);

    expect(writesSince(fx, mark)).toEqual([]);
    expect(rerun).toMatchObject({ changed: false });
    expect((await classicBackends(fx)).byRegion).toEqual({ [secondary(fx)]: [1, "Enabled"], [primary(fx)]: [2, "Disabled"] });
    expect((await journaled(deps, "wait")).map((e) => e.message)).toEqual([expect.stringContaining("is Updating: waiting for the operation in flight")]);
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
    const mark = requestMark(fx);

    const first = await switchAppService(switchInput(fx, secondary(fx), false), deps);
    const afterFirst = requestMark(fx);
    const second = await switchAppService(switchInput(fx, secondary(fx), false), deps);

    const spec = fx.plan.appService[0]!;
    const values = (list: { name: string; values: Record<string, string> }[]) => Object.fromEntries(list.map((s) => [s.name, s.values[secondary(fx)]]));
    expect(await east.settings()).toEqual({ ...values(spec.appSettings), UNRELATED: "keep-me" });
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
      ["WebApps_UpdateApplicationSettings", ["ORDERS_ACTIVE_REGION", "MEDIA_BLOB_ENDPOINT"]],
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
            appSettings: spec.appSettings.map((s) => (s.name === "MEDIA_BLOB_ENDPOINT" ? { ...s, values: { ...s.values, [to]: SECRET_SETTING } } : s)),
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
      const verified = await verifyPrimary({ runId: RUN, plan, region: secondary(fx) }, deps);
      await east.putStrings({ Cache: { value: `${SECRET_STRING}-changed`, type: "RedisCache" } });
      const mismatch = await verifyPrimary({ runId: RUN, plan, region: secondary(fx) }, deps);

      expect(stored.strings.Cache?.value).toBe(SECRET_STRING);
      expect(stored.settings).toMatchObject({ API_KEY: UNRELATED_SECRET, MEDIA_BLOB_ENDPOINT: SECRET_SETTING });
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

    const asPrimary = await verifyPrimary({ runId: RUN, plan: fx.plan, region: primary(fx) }, deps);
    const asSecondary = await verifyPrimary({ runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    expect(asPrimary.ok).toBe(true);
    expect(asPrimary.checks.every((c) => c.ok)).toBe(true);
    expect(asSecondary.ok).toBe(false);
    const failed = asSecondary.checks.filter((c) => !c.ok).map((c) => c.what);
    expect(failed).toEqual([
      ...fx.plan.sql.map((g) => `SQL failover group ${g.failoverGroup.name} on ${g.partnerServer.name}`),
      ...fx.plan.storage.map((s) => `storage account ${s.account.name}`),
      `Front Door origin group ${fx.plan.frontDoor.standard[0]!.originGroup.names[0]}/${fx.plan.frontDoor.standard[0]!.originGroup.name}`,
      `Front Door (classic) ${fx.plan.frontDoor.classic[0]!.frontDoor.name} backend pool ${fx.plan.frontDoor.classic[0]!.backendPool}`,
      `app settings of ${fx.plan.appService[0]!.site.name}`,
      `connection strings of ${fx.plan.appService[0]!.site.name}`,
      `app settings of ${fx.plan.appService[1]!.site.name}`,
    ]);
    expect(asSecondary.checks.find((c) => c.what === `health endpoints of ${secondary(fx)}`)).toMatchObject({ ok: true, detail: "2 of 2 answer" });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("passes for the secondary after a planned switch of every part, and then fails for the primary", async () => {
    const deps = activityDeps(fx);
    await failOverDataTier(fx, secondary(fx), false);
    const traffic = await verifyPrimary({ runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    await switchAll(fx, deps, secondary(fx), false);
    const after = await verifyPrimary({ runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);
    const old = await verifyPrimary({ runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

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

    const result = await verifyPrimary({ runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);

    expect(result.ok).toBe(true);
    expect(result.checks.find((c) => c.what === `app settings of ${fx.plan.appService[0]!.site.name}`)!.detail).toMatch(/^not checked: the site is in eastus2, which is down/);
    expect(result.checks.find((c) => c.what === `app settings of ${fx.plan.appService[1]!.site.name}`)).toMatchObject({ ok: true, detail: "all 1 app settings have the region's value" });
  });

  it("fails a Front Door check when the region's origin is enabled but shares the lowest priority", async () => {
    const deps = activityDeps(fx);
    const g = fx.plan.frontDoor.standard[0]!;
    await fx.clients.cdn(g.originGroup.subscriptionId).afdOrigins.beginUpdateAndWait(g.originGroup.resourceGroup, g.originGroup.names[0]!, g.originGroup.name, g.origins[secondary(fx)]!, { priority: 1 }, FAST_POLL);

    const result = await verifyPrimary({ runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

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
    const result = await verifyPrimary({ runId: RUN, plan, region: primary(fx) }, deps);

    expect(result.ok).toBe(false);
    expect(result.checks.find((c) => c.what === "storage account nosuchaccount")).toMatchObject({ ok: false, detail: expect.stringContaining("404") });
  });
});

describe("checkReprotection", () => {
  const fx = useEstate();

  it("passes on a fresh estate for both regions: the secondary holds live replicas, the primary already is primary", async () => {
    const deps = activityDeps(fx);

    const intoSecondary = await checkReprotection({ runId: RUN, plan: fx.plan, region: secondary(fx) }, deps);
    const intoPrimary = await checkReprotection({ runId: RUN, plan: fx.plan, region: primary(fx) }, deps);

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

    const whileDown = await checkReprotection(input, deps);
    await fx.estate.setRegion(primary(fx), { down: false });
    const backUp = await checkReprotection(input, deps);
    for (const s of fx.plan.storage) {
      await fx.clients.storage(s.account.subscriptionId).storageAccounts.update(s.account.resourceGroup, s.account.name, { sku: { name: s.sku } });
    }
    const reprotected = await checkReprotection(input, deps);

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
