import { describe, expect, it } from "vitest";
import { largestLag, lastKnownLag, nextBreach, RECOVERY_FRACTION, type LagSample } from "../../src/core/lag.ts";
import { decideDataLoss } from "../../src/core/run/gates.ts";
import { applyRound, MemoryLagStore, type LagDocument } from "../../src/lag/store.ts";
import { fromLinkRows } from "../../src/lag/measure.ts";
import { replicationEvidence } from "../../src/activities/replication.ts";
import { formatLagView, viewOfSamples, viewOfStored } from "../../src/lag/view.ts";
import { metricEnvelopes, parseConnectionString } from "../../src/azure/appInsights.ts";
import { lagSchedule, readSettings, DEFAULT_LAG_SCHEDULE } from "../../src/config/settings.ts";
import { TokenBucketPacer } from "../../src/azure/armPacer.ts";
import { parsePlan } from "../../src/core/plan/index.ts";

const RPO = 300;
const DB = "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-a/providers/Microsoft.Sql/servers/sql-a/databases/ledger";
const GROUP = "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-a/providers/Microsoft.Sql/servers/sql-a/failoverGroups/ledger-fog";

const sample = (lagSeconds: number | null, measuredAt: string, over: Partial<LagSample> = {}): LagSample => ({
  resourceId: DB,
  kind: "sqlDatabase",
  name: "ledger",
  group: GROUP,
  lagSeconds,
  state: lagSeconds === null ? "unreachable" : "CATCH_UP",
  measuredAt,
  source: "tds:sys.dm_geo_replication_link_status",
  ...over,
});

describe("RPO breach hysteresis", () => {
  it("a lag hovering around the budget is one breach and one recovery, not one per sample", () => {
    // 200 samples: under, then oscillating 290..330 around the 300 s budget, then well under.
    const lags = [...Array.from({ length: 20 }, () => 100), ...Array.from({ length: 160 }, (_, i) => (i % 2 === 0 ? 330 : 290)), ...Array.from({ length: 20 }, () => 100)];
    let breached = false;
    const events: string[] = [];
    for (const lag of lags) {
      const next = nextBreach(breached, lag, RPO);
      breached = next.breached;
      if (next.event) events.push(next.event);
    }
    expect(events).toEqual(["breach", "recovery"]);
  });

  it("recovers only at or below the recovery fraction of the budget; an unknown lag changes nothing", () => {
    expect(nextBreach(false, RPO, RPO)).toEqual({ breached: false });
    expect(nextBreach(false, RPO + 1, RPO)).toEqual({ breached: true, event: "breach" });
    expect(nextBreach(true, RPO * RECOVERY_FRACTION + 1, RPO)).toEqual({ breached: true });
    expect(nextBreach(true, RPO * RECOVERY_FRACTION, RPO)).toEqual({ breached: false, event: "recovery" });
    expect(nextBreach(true, null, RPO)).toEqual({ breached: true });
    expect(nextBreach(false, null, RPO)).toEqual({ breached: false });
  });
});

describe("the last known lag", () => {
  const outage = new Date("2026-12-03T10:00:00Z");
  it("is the sample's lag plus the time from the sample to the outage start", () => {
    const e = lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, sample(40, "2026-12-03T09:58:30Z"), outage, 300);
    expect(e).toMatchObject({ basis: "last-known", lagSeconds: 130, sampleLagSeconds: 40, ageSeconds: 90, maxAgeSeconds: 300 });
  });
  it("is unknown when the sample is older than the limit, or missing, or had no lag", () => {
    expect(lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, sample(1, "2026-12-03T09:54:59Z"), outage, 300)).toMatchObject({ basis: "none", lagSeconds: null, ageSeconds: 301 });
    expect(lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, sample(1, "2026-12-03T09:55:00Z"), outage, 300)).toMatchObject({ basis: "last-known", lagSeconds: 301 });
    expect(lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, undefined, outage, 300).lagSeconds).toBeNull();
    expect(lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, sample(null, "2026-12-03T09:59:00Z"), outage, 300).lagSeconds).toBeNull();
  });
  it("counts a sample taken after the outage start as it is", () => {
    expect(lastKnownLag({ resourceId: DB, kind: "sqlDatabase" }, sample(12, "2026-12-03T10:01:00Z"), outage, 300)).toMatchObject({ lagSeconds: 12, ageSeconds: 0 });
  });
  it("the largest lag is unknown as soon as one is", () => {
    expect(largestLag([{ lagSeconds: 3 }, { lagSeconds: 9 }])).toBe(9);
    expect(largestLag([{ lagSeconds: 3 }, { lagSeconds: null }])).toBeNull();
    expect(largestLag([])).toBe(0);
  });
});

describe("the RPO gate on last-known lag", () => {
  const gate = (maxLagSeconds: number | null, lastKnown: number) =>
    decideDataLoss({ mode: "auto", primaryHealthy: false, maxLagSeconds, rpoSeconds: RPO, lagBasis: { live: 0, lastKnown, unknown: maxLagSeconds === null ? 1 : 0 } });
  it("forces without approval when the aged sample is within the budget, and says so", () => {
    const d = gate(130, 1);
    expect(d.kind).toBe("forced");
    expect(d.kind === "forced" && d.by).toBe("rpo-gate");
    expect(d.why).toContain("1 replica(s) by their last sample before the outage plus the time from it to the outage start");
    expect(d.why).toContain("130 s");
  });
  it("asks for approval when the aged sample is over the budget, or unknown", () => {
    expect(gate(301, 1).kind).toBe("needs-approval");
    const unknown = gate(null, 0);
    expect(unknown.kind).toBe("needs-approval");
    expect(unknown.why).toContain("unknown for 1 of 1 replica(s)");
  });
});

describe("the evidence the gate uses", () => {
  const plan = parsePlan({
    name: "ledger",
    regions: { primary: { name: "westeurope", healthEndpoints: [{ url: "https://ledger-we.example.net/health" }] }, secondary: { name: "northeurope", healthEndpoints: [{ url: "https://ledger-ne.example.net/health" }] } },
    objectives: { rpoSeconds: RPO, rtoMinutes: 30 },
    sql: [{ failoverGroup: GROUP, partnerServer: "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-b/providers/Microsoft.Sql/servers/sql-b" }],
  });
  const outage = new Date("2026-12-03T10:00:00Z");
  const stored = (s: LagSample): LagDocument => applyRound({ plan: "ledger", resources: {} }, [s], RPO, 60, outage).doc;

  it("a live lag wins; an unreachable primary falls back on the stored sample, aged", () => {
    const live = replicationEvidence(plan, [sample(7, "2026-12-03T10:02:00Z")], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300);
    expect(live).toEqual([expect.objectContaining({ basis: "live", lagSeconds: 7 })]);
    const fallback = replicationEvidence(plan, [sample(null, "2026-12-03T10:02:00Z")], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300);
    expect(fallback).toEqual([expect.objectContaining({ basis: "last-known", lagSeconds: 100, group: GROUP })]);
  });
  it("a group whose databases could not be listed uses its stored databases, else is one unknown", () => {
    expect(replicationEvidence(plan, [], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300)).toEqual([expect.objectContaining({ resourceId: DB, lagSeconds: 100 })]);
    expect(replicationEvidence(plan, [], undefined, outage, 300)).toEqual([expect.objectContaining({ resourceId: GROUP, basis: "none", lagSeconds: null })]);
  });
});

describe("the lag document", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 10, 0, s)).toISOString();
  it("keeps the last measured lag while the primary cannot be asked, a bounded history, and ignores a late older sample", () => {
    let doc: LagDocument = { plan: "ledger", resources: {} };
    for (let i = 0; i < 10; i++) doc = applyRound(doc, [sample(i, at(i))], RPO, 4, new Date(at(i))).doc;
    doc = applyRound(doc, [sample(null, at(20))], RPO, 4, new Date(at(20))).doc;
    const r = doc.resources[DB]!;
    expect(r.latest.lagSeconds).toBeNull();
    expect(r.lastMeasured?.lagSeconds).toBe(9);
    expect(r.history).toHaveLength(4);
    expect(r.history.at(-1)).toEqual([Math.floor(Date.parse(at(20)) / 1000), null]);
    const late = applyRound(doc, [sample(500, at(15))], RPO, 4, new Date(at(21)));
    expect(late.doc.resources[DB]!.latest.measuredAt).toBe(at(20));
    expect(late.changes).toEqual([]);
  });

  it("records concurrent rounds without losing one (optimistic concurrency)", async () => {
    const store = new MemoryLagStore();
    const ids = Array.from({ length: 12 }, (_, i) => `${DB}${i}`);
    await Promise.all(ids.map((id, i) => store.record("ledger", [sample(i, at(i), { resourceId: id })], RPO, new Date(at(30)))));
    expect(Object.keys((await store.get("ledger")).resources).sort()).toEqual([...ids].sort());
  });
});

describe("DMV rows", () => {
  it("takes the link to the group's partner, and refuses to read a lag on a secondary", () => {
    const rows = [
      { partner_server: "sql-x", partner_database: "ledger", replication_lag_sec: 90, last_replication: new Date("2026-12-03T09:59:00Z"), replication_state_desc: "CATCH_UP", role_desc: "PRIMARY" },
      { partner_server: "SQL-B", partner_database: "ledger", replication_lag_sec: 4, last_replication: new Date("2026-12-03T09:59:56Z"), replication_state_desc: "CATCH_UP", role_desc: "PRIMARY" },
    ];
    expect(fromLinkRows(rows, "sql-b")).toEqual({ lagSeconds: 4, state: "CATCH_UP", lastReplication: "2026-12-03T09:59:56.000Z" });
    expect(fromLinkRows(rows, "sql-c").lagSeconds).toBe(90);
    expect(fromLinkRows([{ ...rows[0], role_desc: "SECONDARY", replication_lag_sec: null }], "sql-b")).toMatchObject({ lagSeconds: null, state: "NOT_PRIMARY" });
    expect(fromLinkRows([], "sql-b")).toMatchObject({ lagSeconds: null, state: "NO_LINK" });
    expect(fromLinkRows([{ ...rows[1], replication_lag_sec: null }], "sql-b").lagSeconds).toBeNull();
  });
});

describe("lag views", () => {
  const plan = parsePlan({
    name: "ledger",
    regions: { primary: { name: "westeurope", healthEndpoints: [{ url: "https://ledger-we.example.net/health" }] }, secondary: { name: "northeurope", healthEndpoints: [{ url: "https://ledger-ne.example.net/health" }] } },
    objectives: { rpoSeconds: RPO, rtoMinutes: 30 },
  });
  it("says which resources are over the RPO or unknown", () => {
    const view = viewOfSamples(plan, [sample(10, at0()), sample(400, at0(), { resourceId: `${DB}2`, name: "ledger2" }), sample(null, at0(), { resourceId: `${DB}3`, name: "ledger3", error: "could not connect" })]);
    expect(view.resources.map((r) => r.withinRpo)).toEqual([true, false, null]);
    const text = formatLagView(view);
    expect(text).toContain("OVER RPO");
    expect(text.split("\n").at(-1)).toBe("3 resource(s) of ledger: 1 over the RPO of 300 s, 1 unknown");
  });
  it("the stored view shows the last measured lag when the latest sample has none", () => {
    const doc = applyRound(applyRound({ plan: "ledger", resources: {} }, [sample(25, "2026-12-03T09:59:00Z")], RPO, 60, new Date()).doc, [sample(null, "2026-12-03T10:00:00Z")], RPO, 60, new Date("2026-12-03T10:00:00Z")).doc;
    expect(viewOfStored(plan, doc).resources[0]).toMatchObject({ lagSeconds: null, lastMeasured: { lagSeconds: 25, measuredAt: "2026-12-03T09:59:00Z" }, breached: false });
  });
});
const at0 = () => "2026-12-03T10:00:00.000Z";

describe("pacing Resource Manager reads", () => {
  it("lets a burst of the bucket through, then paces at the rate; buckets are per key", async () => {
    let now = 0;
    const slept: number[] = [];
    const pacer = new TokenBucketPacer(100, 20, { now: () => now, sleep: async (ms) => void (slept.push(ms), (now += ms)) });
    let waited = 0;
    for (let i = 0; i < 150; i++) waited += await pacer.take("sub-a");
    // 100 at once, then 50 at 20 a second: 2.5 s.
    expect(waited).toBe(2500);
    expect(slept.every((ms) => ms === 50)).toBe(true);
    expect(await pacer.take("sub-b")).toBe(0);
    // A round of 150 a minute later starts with a full bucket again.
    now += 60_000;
    let later = 0;
    for (let i = 0; i < 100; i++) later += await pacer.take("sub-a");
    expect(later).toBe(0);
  });
});

describe("lag metrics and settings", () => {
  it("builds Application Insights metric envelopes from a connection string", () => {
    const target = parseConnectionString("InstrumentationKey=2b9f4c1e-6a3d-4f0b-9c8e-1d2e3f4a5b6c;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/");
    expect(target.ingestionEndpoint).toBe("https://westeurope-5.in.applicationinsights.azure.com/");
    const [envelope] = metricEnvelopes([{ name: "ReplicationLagSeconds", value: 12, at: new Date("2026-12-03T10:00:00Z"), properties: { plan: "ledger" } }], target.instrumentationKey, "switchyard") as any[];
    expect(envelope).toMatchObject({ iKey: target.instrumentationKey, time: "2026-12-03T10:00:00.000Z", data: { baseType: "MetricData", baseData: { ver: 2, metrics: [{ name: "ReplicationLagSeconds", value: 12, count: 1 }], properties: { plan: "ledger" } } } });
    expect(() => parseConnectionString("IngestionEndpoint=https://x/")).toThrow(/InstrumentationKey/);
    expect(() => parseConnectionString("InstrumentationKey=2b9f4c1e-6a3d-4f0b-9c8e-1d2e3f4a5b6c;IngestionEndpoint=http://evil.example/")).toThrow(/https/);
  });
  it("the lag timer's schedule defaults to every minute and refuses what is not NCRONTAB", () => {
    expect(lagSchedule({})).toBe(DEFAULT_LAG_SCHEDULE);
    expect(lagSchedule({ SWITCHYARD_LAG_SCHEDULE: "30 */5 * * * *" })).toBe("30 */5 * * * *");
    expect(() => lagSchedule({ SWITCHYARD_LAG_SCHEDULE: "*/5 * * * *" })).toThrow(/SWITCHYARD_LAG_SCHEDULE: an NCRONTAB expression of six fields/);
    const base = { SWITCHYARD_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" };
    expect(readSettings(base).lagRetention).toBe(60);
    expect(() => readSettings({ ...base, SWITCHYARD_LAG_RETENTION: "2" })).toThrow(/SWITCHYARD_LAG_RETENTION/);
  });
});
