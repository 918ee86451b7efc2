import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AppInsightsMetricSink, type MetricPoint, type MetricSink } from "../../src/azure/appInsights.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";
import { replicationLagRound, LAG_METRIC } from "../../src/lag/round.ts";
import { MemoryLagStore } from "../../src/lag/store.ts";
import { measureLag } from "../../src/lag/measure.ts";
import type { Notifier } from "../../src/notify/notifier.ts";
import { useEstate } from "../helpers/estate.ts";

const STORAGE_ONLY = fileURLToPath(new URL("../fixtures/storage-only.plan.json", import.meta.url));

class Collecting implements Notifier, MetricSink {
  readonly name = "collect";
  readonly sent: NotifyInput[] = [];
  readonly points: MetricPoint[] = [];
  async notify(n: NotifyInput) {
    this.sent.push(n);
  }
  async publish(points: readonly MetricPoint[]) {
    this.points.push(...points);
  }
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("the replicationLag round (storage lag from Resource Manager)", () => {
  const fx = useEstate({ planFile: STORAGE_ONLY });

  it("stores a sample and publishes a metric per round, and notifies a breach once and its recovery once over many rounds", async () => {
    const store = new MemoryLagStore();
    const sink = new Collecting();
    const account = fx.plan.storage[0]!.account.id;
    const deps = { clients: fx.clients, clock: () => new Date(), store, notifier: sink, metrics: sink, log: quiet };
    // RPO 300 s: under, then 30 rounds hovering around it (290/350), then back well under.
    const lags = [60, ...Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 350 : 290)), 100, 90];
    for (const lag of lags) {
      fx.estate.setLag(account, lag);
      const [summary] = await replicationLagRound([fx.plan], deps);
      expect(summary!.error).toBeUndefined();
    }
    expect(sink.sent.map((n) => n.event)).toEqual(["lag-breach", "lag-recovered"]);
    expect(sink.sent[0]!.message).toMatch(/replication lag over the RPO budget of 300 s for 1 resource\(s\): storage account tailspinmedia 35[01] s \(measured /);
    expect(sink.sent[1]!.message).toMatch(/back within the RPO budget of 300 s for 1 resource\(s\): storage account tailspinmedia (100|101) s \(over since /);
    expect(sink.points).toHaveLength(lags.length);
    expect(sink.points.every((p) => p.name === LAG_METRIC && p.properties.resourceId === account && p.properties.plan === fx.plan.name)).toBe(true);
    // Each figure is the lag Azure's lastSyncTime gives (the estate's lastSyncTime is whole seconds: +1 at most).
    sink.points.forEach((p, i) => expect(p.value - lags[i]!).toBeGreaterThanOrEqual(0));
    sink.points.forEach((p, i) => expect(p.value - lags[i]!).toBeLessThanOrEqual(1));
    const doc = await store.get(fx.plan.name);
    expect(doc.resources[account]!.history).toHaveLength(lags.length);
    expect(doc.resources[account]!.breached).toBe(false);
  });

  it("an account Azure cannot read is a sample with no lag, which neither breaches nor ends a breach", async () => {
    const store = new MemoryLagStore();
    const sink = new Collecting();
    const deps = { clients: fx.clients, clock: () => new Date(), store, notifier: sink, metrics: sink, log: quiet };
    const account = fx.plan.storage[0]!.account.id;
    fx.estate.setLag(account, 900);
    await replicationLagRound([fx.plan], deps);
    fx.estate.addFault({ kind: "serverError", operationId: "StorageAccounts_GetProperties", count: 4, status: 503 });
    const [summary] = await replicationLagRound([fx.plan], deps);
    expect(summary!.round!.samples[0]).toMatchObject({ lagSeconds: null, state: "unreachable" });
    expect(sink.sent.map((n) => n.event)).toEqual(["lag-breach"]);
    expect((await store.get(fx.plan.name)).resources[account]).toMatchObject({ breached: true, lastMeasured: { lagSeconds: expect.any(Number) } });
  });
});

describe("a lag round against SQL servers in a lost region", () => {
  const fx = useEstate();

  it("a whole failover group going over the RPO together is one message naming its databases, measured over TDS", async () => {
    const store = new MemoryLagStore();
    const sink = new Collecting();
    const deps = { clients: fx.clients, clock: () => new Date(), store, notifier: sink, metrics: sink, log: quiet };
    const group = fx.plan.sql.find((g) => (g.databases?.length ?? 1) > 1)!;
    await replicationLagRound([fx.plan], deps);
    fx.estate.setLag(group.failoverGroup.id, fx.plan.objectives.rpoSeconds + 120);
    await replicationLagRound([fx.plan], deps);
    await replicationLagRound([fx.plan], deps);
    expect(sink.sent.map((n) => n.event)).toEqual(["lag-breach"]);
    expect(sink.sent[0]!.message).toContain(`for ${group.databases!.length} resource(s): ${group.databases!.map((d) => `database ${d} ${fx.plan.objectives.rpoSeconds + 120} s`).join(", ")}`);
    expect((sink.sent[0]!.details as { count: number }).count).toBe(group.databases!.length);
  });

  it("asks each silent server once, not once per database, and still measures the storage accounts", async () => {
    const databases = fx.plan.sql.reduce((n, g) => n + (g.databases?.length ?? 1), 0);
    const servers = new Set(fx.plan.sql.map((g) => g.failoverGroup.names[0])).size;
    expect(databases).toBeGreaterThan(servers);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const round = await measureLag(fx.plan, { clients: fx.clients, clock: () => new Date() }, { connectTimeoutMs: 2_000 });
    expect(round.tdsLogins).toBe(servers);
    const sql = round.samples.filter((s) => s.kind === "sqlDatabase");
    expect(sql).toHaveLength(databases);
    expect(sql.every((s) => s.lagSeconds === null && s.state === "unreachable")).toBe(true);
    expect(sql.filter((s) => s.error?.startsWith("not asked: server "))).toHaveLength(databases - servers);
    expect(round.samples.filter((s) => s.kind === "storageAccount").every((s) => typeof s.lagSeconds === "number")).toBe(true);
  });
});

describe("lag metrics to Application Insights", () => {
  it("posts MetricData envelopes to the ingestion endpoint of the connection string, and reports a refusal", async () => {
    const bodies: unknown[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c) => (text += c));
      req.on("end", () => {
        bodies.push({ path: req.url, type: req.headers["content-type"], body: JSON.parse(text) });
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ itemsReceived: 1, itemsAccepted: status === 200 ? 1 : 0, errors: [] }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const sink = new AppInsightsMetricSink(`InstrumentationKey=5c2b1a90-3d4e-4f5a-8b6c-7d8e9f0a1b2c;IngestionEndpoint=http://127.0.0.1:${port}/`);
      await sink.publish([{ name: LAG_METRIC, value: 42, at: new Date("2026-12-03T10:00:00Z"), properties: { plan: "p", resourceId: "/x" } }]);
      expect(bodies).toEqual([
        {
          path: "/v2.1/track",
          type: "application/json",
          body: [expect.objectContaining({ iKey: "5c2b1a90-3d4e-4f5a-8b6c-7d8e9f0a1b2c", data: { baseType: "MetricData", baseData: { ver: 2, metrics: [{ name: LAG_METRIC, kind: 0, value: 42, count: 1 }], properties: { plan: "p", resourceId: "/x" } } } })],
        },
      ]);
      status = 400;
      await expect(sink.publish([{ name: LAG_METRIC, value: 1, at: new Date(), properties: {} }])).rejects.toThrow(/refused 1 metric\(s\): HTTP 400/);
    } finally {
      server.close();
    }
  });
});
