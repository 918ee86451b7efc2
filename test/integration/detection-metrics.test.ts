import { HttpRequest } from "@azure/functions";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createProbe } from "../../src/activities/probe.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import { ancestorId, parseArmId, parsePlan, type Plan } from "../../src/core/plan/index.ts";
import type { PlanHealthView } from "../../src/core/detection/view.ts";
import { checkPlanHealth, collectSignals, metricsBatches, type MetricsTarget } from "../../src/detection/collect.ts";
import { detectionControl } from "../../src/detection/control.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

/*
 * Metrics reads of a plan made up for these tests: Litware's ledger in westeurope (primary) and
 * northeurope, SQL and storage in both regions, two Front Door Standard profiles (one in a second
 * subscription) and a classic Front Door. Real MetricsClient calls against the estate throughout.
 */

const SUB = "5a0e7c3b-9d1f-4e2a-8b6c-3f4d5e6a7b8c";
const EDGE_SUB = "c4d2e1f0-7a6b-4c5d-9e8f-1a2b3c4d5e6f";
const WEU = "westeurope";
const NEU = "northeurope";

const plan: Plan = parsePlan({
  name: "litware-ledger",
  regions: {
    primary: { name: WEU, healthEndpoints: [{ url: "https://ledger-weu.litware.example/health" }] },
    secondary: { name: NEU, healthEndpoints: [{ url: "https://ledger-neu.litware.example/health" }] },
  },
  objectives: { rpoSeconds: 120, rtoMinutes: 20 },
  sql: [
    {
      failoverGroup: `/subscriptions/${SUB}/resourceGroups/ledger-weu/providers/Microsoft.Sql/servers/litware-ledger-weu/failoverGroups/ledger`,
      partnerServer: `/subscriptions/${SUB}/resourceGroups/ledger-neu/providers/Microsoft.Sql/servers/litware-ledger-neu`,
      databases: ["journal", "accounts"],
    },
  ],
  storage: [{ account: `/subscriptions/${SUB}/resourceGroups/ledger-weu/providers/Microsoft.Storage/storageAccounts/litwareledgerdocs` }],
  frontDoor: {
    standard: [
      {
        originGroup: `/subscriptions/${SUB}/resourceGroups/ledger-edge/providers/Microsoft.Cdn/profiles/litware-edge/originGroups/ledger`,
        origins: { [WEU]: "ledger-weu", [NEU]: "ledger-neu" },
      },
      {
        originGroup: `/subscriptions/${EDGE_SUB}/resourceGroups/shared-edge/providers/Microsoft.Cdn/profiles/litware-shared/originGroups/reports`,
        origins: { [WEU]: "reports-weu", [NEU]: "reports-neu" },
      },
    ],
    classic: [
      {
        frontDoor: `/subscriptions/${SUB}/resourceGroups/ledger-edge/providers/Microsoft.Network/frontDoors/litware-legacy`,
        backendPool: "ledger",
        backends: { [WEU]: "ledger-weu.litware.example", [NEU]: "ledger-neu.litware.example" },
      },
    ],
  },
  autoFailover: { enabled: true, quorum: 2, downForSeconds: 120, healthyForSeconds: 300, cooldownMinutes: 60, maxPerDay: 1 },
});

/** The estate's metrics and Switchyard's share one clock, which the tests move a minute at a time. */
let nowMs = Math.floor(Date.now() / 60_000) * 60_000;
const clock = () => new Date(nowMs);

let estate: Estate;
let clients: ClientFactory;
beforeAll(async () => {
  estate = await startEstate({ seed: seedFromPlans([plan]), clock: () => nowMs });
  clients = new ClientFactory({ target: estate.clientTarget(), maxRetries: 0 });
});
beforeEach(async () => {
  await estate.reset();
});
afterAll(async () => {
  await estate?.close();
});

function recorder() {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = { info: () => undefined, warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, fields }), error: () => undefined };
  return { warnings, log };
}

const deps = (log = recorder().log) => ({ probe: createProbe(clients), clients, clock, log });

/** The metrics batches the estate received since the last reset: endpoint region, subscription, namespace, status. */
function batchesReceived() {
  return estate
    .requests()
    .filter((r) => r.path.toLowerCase().includes("metrics:getbatch"))
    .map((r) => {
      const m = /^\/metrics\/([^/]+)\/subscriptions\/([^/]+)\/metrics:getBatch$/i.exec(r.path);
      return { region: m?.[1], subscription: m?.[2], namespace: new URLSearchParams(r.query).get("metricnamespace"), operationId: r.operationId, status: r.status };
    });
}

const afdNames = plan.frontDoor.standard.flatMap((s) => Object.entries(s.origins).map(([region, origin]) => [`afd:${s.originGroup.name}/${origin}`, region]));
const classicNames = plan.frontDoor.classic.flatMap((s) => Object.entries(s.backends).map(([region, a]) => [`fdclassic:${s.frontDoor.name}/${s.backendPool}/${a}`, region]));

describe("metrics batches on a plan in two regions with Front Doors", () => {
  it("Switchyard sends one batch per subscription and resource type, each to the global endpoint of Front Door, and the estate accepts every one", async () => {
    const signals = await collectSignals(plan, deps());

    const received = batchesReceived();
    expect(received.every((b) => b.operationId === "MetricsBatch_Batch" && b.status === 200 && b.region === "global")).toBe(true);
    expect(received.map((b) => `${b.subscription} ${b.namespace}`).sort()).toEqual(
      [`${SUB} Microsoft.Cdn/profiles`, `${SUB} Microsoft.Network/frontDoors`, `${EDGE_SUB} Microsoft.Cdn/profiles`].sort(),
    );
    const frontDoor = signals.filter((s) => s.source === "frontdoor");
    expect(frontDoor.map((s) => [s.name, s.region]).sort()).toEqual([...afdNames, ...classicNames].sort());
    expect(frontDoor.every((s) => s.status === "up")).toBe(true);
  });

  it("the estate refuses a batch that mixes the plan's regions; the grouped batches of the same resources are each accepted at their region's endpoint", async () => {
    const databases: MetricsTarget[] = plan.sql.flatMap((g) =>
      (g.databases ?? []).flatMap((db) => [
        { id: parseArmId(`${ancestorId(g.failoverGroup, 1)}/databases/${db}`), region: WEU },
        { id: parseArmId(`${g.partnerServer.id}/databases/${db}`), region: NEU },
      ]),
    );
    const profiles: MetricsTarget[] = plan.frontDoor.standard.map((s) => ({ id: parseArmId(ancestorId(s.originGroup, 1)) }));

    // Everything at once, at the primary's endpoint: Azure's rules say no.
    const mixed = clients.metrics(WEU).queryResources(databases.map((d) => d.id.id), ["availability"], "Microsoft.Sql/servers/databases");
    await expect(mixed).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });

    const batches = metricsBatches([...databases, ...profiles]);
    expect(batches.map((b) => [b.region, b.subscriptionId, b.type, b.ids.length])).toEqual([
      [WEU, SUB, "Microsoft.Sql/servers/databases", 2],
      [NEU, SUB, "Microsoft.Sql/servers/databases", 2],
      ["global", SUB, "Microsoft.Cdn/profiles", 1],
      ["global", EDGE_SUB, "Microsoft.Cdn/profiles", 1],
    ]);
    for (const b of batches) {
      const metric = b.type === "Microsoft.Cdn/profiles" ? "OriginHealthPercentage" : "availability";
      const results = await clients.metrics(b.region).queryResources([...b.ids], [metric], b.type);
      expect(results.map((r) => r.resourceId)).toEqual(b.ids);
    }
    expect(batchesReceived().map((b) => [b.region, b.status])).toEqual([
      [WEU, 400],
      [WEU, 200],
      [NEU, 200],
      ["global", 200],
      ["global", 200],
    ]);
  });

  it("splits more than 50 resources of one group into batches of at most 50 unique ids", () => {
    const id = (i: number, rg = "rg") => parseArmId(`/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/acct${i}`);
    const targets = Array.from({ length: 120 }, (_, i) => ({ id: id(i), region: "WestEurope" }));
    // The same accounts again, their resource group spelled in capitals: ARM ids compare case-insensitively.
    const duplicates = Array.from({ length: 10 }, (_, i) => ({ id: id(i, "RG"), region: WEU }));
    const batches = metricsBatches([...targets, ...duplicates]);
    expect(batches.map((b) => [b.region, b.ids.length])).toEqual([
      [WEU, 50],
      [WEU, 50],
      [WEU, 20],
    ]);
    expect(() => metricsBatches([{ id: id(1) }])).toThrow(/region of .* is not known/);
  });
});

describe("a failed metrics read is an unknown signal", () => {
  async function getPlanView(store: MemoryPlanStateStore): Promise<{ detection: PlanHealthView }> {
    const api = operatorHandlers({
      plans: new StaticPlanCatalog([plan]),
      runs: new MemoryRuns(),
      journal: new MemoryJournal(),
      clock,
      appServiceAuthOn: false,
      detection: detectionControl(store, clock),
    });
    const res = await api.getPlan(new HttpRequest({ method: "GET", url: `http://localhost/api/plans/${plan.name}`, params: { plan: plan.name } }));
    expect(res.status).toBe(200);
    return res.jsonBody as { detection: PlanHealthView };
  }

  it("the global endpoint failing: every Front Door signal is unknown (not up, not down), logged, and shown by GET /api/plans/{plan}", async () => {
    estate.addFault({ kind: "serverError", operationId: "MetricsBatch_Batch", count: 1_000, status: 503, resourceId: "/metrics/global" });
    const { warnings, log } = recorder();
    const store = new MemoryPlanStateStore();
    const runs = new MemoryRuns();

    const summary = await checkPlanHealth(plan, { ...deps(log), store, journal: new MemoryJournal(), runs });

    expect(summary.decision.start).toBe(false);
    expect(runs.started).toEqual([]);
    expect(warnings.filter((w) => w.message === "metrics OriginHealthPercentage could not be read").map((w) => w.fields?.region)).toEqual(["global", "global"]);
    expect(warnings.some((w) => w.message === "metrics BackendHealthPercentage could not be read")).toBe(true);

    const { detection } = await getPlanView(store);
    for (const region of [WEU, NEU]) {
      const view = detection.regions[region]!;
      expect(view).toMatchObject({ state: "healthy", signalsDown: 0, signalsUnknown: 3 });
      const unknown = view.signals.filter((s) => s.status === "unknown");
      expect(unknown.map((s) => s.name).sort()).toEqual([...afdNames, ...classicNames].filter(([, r]) => r === region).map(([n]) => n).sort());
      for (const s of unknown) expect(s.detail).toMatch(/(OriginHealthPercentage|BackendHealthPercentage) could not be read: /);
      expect(view.signals.filter((s) => s.source === "probe").map((s) => s.status)).toEqual(["up"]);
    }
  });

  it("unknown signals neither declare a region down nor bring a down region back", async () => {
    const store = new MemoryPlanStateStore();
    const runs = new MemoryRuns();
    const tick = async () => {
      const summary = await checkPlanHealth(plan, { ...deps(), store, journal: new MemoryJournal(), runs });
      nowMs += 60_000;
      return summary;
    };
    const verdict = async () => (await store.get(plan.name)).state.regions[WEU]?.state ?? "healthy";
    const metricsFail = () => estate.addFault({ kind: "serverError", operationId: "MetricsBatch_Batch", count: 1_000, status: 500 });

    // The primary goes down while metrics fail: its probe is down, its three Front Door signals unknown.
    // One signal down is no quorum of 2: unknown ones count toward no outage.
    metricsFail();
    await estate.setRegion(WEU, { down: true, healthWhenDown: "refused" });
    for (let i = 0; i < 5; i++) await tick();
    expect(await verdict()).toBe("healthy");
    expect(runs.started).toEqual([]);

    // Metrics answer again: the origins are down too, and the region is declared down after W.
    estate.faults.reset();
    for (let i = 0; i < 4; i++) await tick();
    expect(await verdict()).toBe("down");
    expect(runs.started).toHaveLength(1);

    // The region comes back while metrics fail: the probe is up, the Front Door signals unknown; the
    // quorum of 2 cannot tell the region is healthy, however long it waits.
    metricsFail();
    await estate.setRegion(WEU, { down: false });
    const healthyForTicks = plan.autoFailover.healthyForSeconds / 60 + 2;
    for (let i = 0; i < healthyForTicks; i++) await tick();
    const held = await store.get(plan.name);
    expect(held.state.regions[WEU]).toMatchObject({ state: "down" });
    expect(held.state.regions[WEU]!.belowQuorumSince).toBeUndefined();
    expect(Object.values(held.state.signals[WEU]!).map((s) => s.status).sort()).toEqual(["unknown", "unknown", "unknown", "up"]);

    // Metrics answer again: the origins are up, and after healthyForSeconds the region is healthy.
    estate.faults.reset();
    for (let i = 0; i < healthyForTicks; i++) await tick();
    expect(await verdict()).toBe("healthy");
  });
});
