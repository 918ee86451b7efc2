import { describe, expect, it } from "vitest";
import { largestLag, lastKnownLag, nextBreach, RECOVERY_FRACTION, type LagSample } from "../../src/core/lag.ts";
import { decideDataLoss } from "../../src/core/run/gates.ts";
import { applyRound, MemoryLagStore, parseLagDocument, type LagDocument } from "../../src/lag/store.ts";
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
  primary: "sql-a",
  reach: lagSeconds === null ? "silent" : "answered",
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
  const db = { resourceId: DB, kind: "sqlDatabase" as const };
  const at = { now: outage };
  it("is the sample's lag plus the time from the sample to the outage start", () => {
    const e = lastKnownLag(db, sample(40, "2026-12-03T09:58:30Z"), outage, 300, at);
    expect(e).toMatchObject({ basis: "last-known", lagSeconds: 130, sampleLagSeconds: 40, ageSeconds: 90, maxAgeSeconds: 300 });
    expect(e.why).toBe("40 s at 2026-12-03T09:58:30Z + 90 s to the outage start = 130 s");
  });
  it("is unknown when the sample is older than the limit, or missing, or had no lag, or a negative one", () => {
    expect(lastKnownLag(db, sample(1, "2026-12-03T09:54:59Z"), outage, 300, at)).toMatchObject({ basis: "none", lagSeconds: null, ageSeconds: 301 });
    expect(lastKnownLag(db, sample(1, "2026-12-03T09:55:00Z"), outage, 300, at)).toMatchObject({ basis: "last-known", lagSeconds: 301 });
    expect(lastKnownLag(db, undefined, outage, 300, at).lagSeconds).toBeNull();
    expect(lastKnownLag(db, sample(null, "2026-12-03T09:59:00Z"), outage, 300, at).lagSeconds).toBeNull();
    expect(lastKnownLag(db, sample(-5000, "2026-12-03T09:59:00Z"), outage, 300, at).lagSeconds).toBeNull();
    expect(lastKnownLag(db, { lagSeconds: true as never, measuredAt: "2026-12-03T09:59:00Z" }, outage, 300, at).lagSeconds).toBeNull();
    expect(lastKnownLag(db, sample(1, "yesterday"), outage, 300, at).lagSeconds).toBeNull();
  });
  it("a sample taken after the outage start counts until the primary stopped answering, or until now", () => {
    // Measured at 13:00 for an outage detected at 10:00 (a resumed run): the primary answered at 12:55.
    const late = sample(1, "2026-12-03T12:55:00Z");
    expect(lastKnownLag(db, late, outage, 300, { now: new Date("2026-12-03T13:00:00Z") })).toMatchObject({ lagSeconds: 301, ageSeconds: 300 });
    expect(lastKnownLag(db, late, outage, 300, { now: new Date("2026-12-03T13:10:00Z") }).lagSeconds).toBeNull();
    expect(lastKnownLag(db, late, outage, 300, { now: new Date("2026-12-03T13:10:00Z"), failedAfter: "2026-12-03T12:56:00Z" })).toMatchObject({ lagSeconds: 61, ageSeconds: 60 });
  });
  it("does not believe a sample dated after the measurement", () => {
    expect(lastKnownLag(db, sample(1, "2099-01-01T00:00:00Z"), outage, 300, at)).toMatchObject({ basis: "none", lagSeconds: null });
    expect(lastKnownLag(db, sample(1, "2026-12-03T10:00:59Z"), outage, 300, at)).toMatchObject({ basis: "last-known", lagSeconds: 1 });
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
    expect(d.why).toContain("1 replica(s) by their last sample, aged until the primary stopped answering");
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
    const live = replicationEvidence(plan, [sample(7, "2026-12-03T10:02:00Z")], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300, outage);
    expect(live).toEqual([expect.objectContaining({ basis: "live", lagSeconds: 7 })]);
    const fallback = replicationEvidence(plan, [sample(null, "2026-12-03T10:02:00Z")], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300, outage);
    expect(fallback).toEqual([expect.objectContaining({ basis: "last-known", lagSeconds: 100, group: GROUP })]);
  });
  it("a group whose databases could not be listed uses its stored databases, else is one unknown", () => {
    expect(replicationEvidence(plan, [], stored(sample(40, "2026-12-03T09:59:00Z")), outage, 300, outage)).toEqual([expect.objectContaining({ resourceId: DB, lagSeconds: 100 })]);
    expect(replicationEvidence(plan, [], undefined, outage, 300, outage)).toEqual([expect.objectContaining({ resourceId: GROUP, basis: "none", lagSeconds: null })]);
  });
  it("a database that answered without a usable figure does not fall back on an older one", () => {
    const noLink = sample(null, "2026-12-03T10:02:00Z", { state: "NO_LINK" });
    expect(replicationEvidence(plan, [noLink], stored(sample(5, "2026-12-03T09:59:00Z")), outage, 300, outage)).toEqual([expect.objectContaining({ basis: "none", lagSeconds: null })]);
  });
  it("a stored sample taken on another primary (a failover made elsewhere) is not used", () => {
    const now = sample(null, "2026-12-03T10:02:00Z", { primary: "sql-b" });
    expect(replicationEvidence(plan, [now], stored(sample(5, "2026-12-03T09:59:00Z", { primary: "sql-a" })), outage, 300, outage)).toEqual([expect.objectContaining({ basis: "none", lagSeconds: null })]);
    expect(replicationEvidence(plan, [now], stored(sample(5, "2026-12-03T09:59:00Z", { primary: "SQL-B" })), outage, 300, outage)).toEqual([expect.objectContaining({ basis: "last-known", lagSeconds: 65 })]);
  });
  it("a stored database the live round no longer lists does not count", () => {
    const other = sample(3, "2026-12-03T10:02:00Z", { resourceId: `${DB}2`, name: "ledger2" });
    const old = applyRound({ plan: "ledger", resources: {} }, [sample(5, "2026-12-03T08:00:00Z")], RPO, 60, outage).doc;
    expect(replicationEvidence(plan, [other], old, outage, 300, outage)).toEqual([expect.objectContaining({ resourceId: `${DB}2`, basis: "live", lagSeconds: 3 })]);
  });
  it("a primary that answered without figures after the last sample was still taking writes: the aging goes on", () => {
    const t = (s: number) => new Date(Date.parse("2026-12-03T10:00:00Z") + s * 1000).toISOString();
    const round = (doc: LagDocument, s: LagSample) => applyRound(doc, [s], RPO, 60, new Date(s.measuredAt)).doc;
    let doc = round({ plan: "ledger", resources: {} }, sample(2, t(0)));
    for (const s of [60, 120, 180, 240]) doc = round(doc, sample(null, t(s), { state: "SUSPENDED", reach: "answered" }));
    // Not asked (the group could not be listed): says nothing of the primary.
    doc = round(doc, sample(null, t(270), { reach: "unasked", primary: undefined }));
    doc = round(doc, sample(null, t(300)));
    doc = round(doc, sample(null, t(310)));
    expect(doc.resources[DB]!.silentSince).toBe(t(300));
    const [e] = replicationEvidence(plan, [sample(null, t(320))], doc, new Date(t(30)), 600, new Date(t(320)));
    expect(e).toMatchObject({ basis: "last-known", lagSeconds: 302, ageSeconds: 300 });
    expect(decideDataLoss({ mode: "auto", primaryHealthy: false, maxLagSeconds: largestLag([e!]), rpoSeconds: 120 }).kind).toBe("needs-approval");
  });

  it("a resource an earlier run already switched has nothing at stake; a listed group with no database has no evidence at all", () => {
    const switched = replicationEvidence(plan, [sample(999, "2026-12-03T10:02:00Z")], undefined, outage, 300, outage, { switched: new Set([GROUP]), listed: new Set([GROUP]) });
    expect(switched).toEqual([expect.objectContaining({ lagSeconds: 0, basis: "live", why: expect.stringContaining("already primary in the target region") })]);
    expect(replicationEvidence(plan, [], undefined, outage, 300, outage, { listed: new Set([GROUP]) })).toEqual([]);
  });

  it("ages a sample to the first failed round after it, when that is later than the outage start", () => {
    const round = (doc: LagDocument, s: LagSample) => applyRound(doc, [s], RPO, 60, new Date(s.measuredAt)).doc;
    let doc = round({ plan: "ledger", resources: {} }, sample(10, "2026-12-03T10:03:00Z"));
    doc = round(doc, sample(null, "2026-12-03T10:04:00Z"));
    doc = round(doc, sample(null, "2026-12-03T10:05:00Z"));
    const [e] = replicationEvidence(plan, [sample(null, "2026-12-03T10:06:00Z")], doc, outage, 300, new Date("2026-12-03T10:06:00Z"));
    expect(e).toMatchObject({ basis: "last-known", lagSeconds: 70, ageSeconds: 60 });
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

  it("a recovery measured on another primary says which (a failover came between)", () => {
    let doc = applyRound({ plan: "ledger", resources: {} }, [sample(420, at(1), { primary: "sql-a" })], RPO, 60, new Date(at(1))).doc;
    const after = applyRound(doc, [sample(0, at(2), { primary: "sql-b" })], RPO, 60, new Date(at(2)));
    expect(after.changes).toEqual([expect.objectContaining({ event: "recovery", formerPrimary: "sql-a", breachSince: at(1) })]);
    const same = applyRound(doc, [sample(0, at(2), { primary: "SQL-A" })], RPO, 60, new Date(at(2)));
    expect(same.changes).toEqual([expect.objectContaining({ event: "recovery" })]);
    expect(same.changes[0]!.formerPrimary).toBeUndefined();
  });

  it("drops stored entries that are not well-formed samples under their own id, and keeps the rest", () => {
    const good = applyRound({ plan: "ledger", resources: {} }, [sample(5, at(1))], RPO, 60, new Date(at(1))).doc.resources[DB]!;
    const bad = (latest: object) => ({ ...good, latest: { ...good.latest, ...latest } });
    const text = JSON.stringify({
      plan: "ledger",
      resources: { [DB]: good, [`${DB}n`]: bad({ resourceId: `${DB}n`, lagSeconds: -99_999 }), [`${DB}t`]: bad({ resourceId: `${DB}t`, lagSeconds: true }), [`${DB}x`]: null, [`${DB}m`]: good, [`${DB}d`]: bad({ resourceId: `${DB}d`, measuredAt: "soon" }) },
    });
    expect(Object.keys(parseLagDocument("ledger", text, "test").resources)).toEqual([DB]);
    expect(() => parseLagDocument("other", text, "test")).toThrow(/not a lag document/);
  });

  it("does not believe a sample dated in the future, stored or new", () => {
    const now = new Date(at(30));
    const future = applyRound({ plan: "ledger", resources: {} }, [sample(1, "2099-01-01T00:00:00Z")], RPO, 60, now);
    expect(future.doc.resources).toEqual({});
    const tampered: LagDocument = { plan: "ledger", resources: { [DB]: { latest: sample(0, "2099-01-01T00:00:00Z"), breached: false, history: [] } } };
    const next = applyRound(tampered, [sample(900, at(30))], RPO, 60, now);
    expect(next.doc.resources[DB]!.latest.lagSeconds).toBe(900);
    expect(next.changes.map((c) => c.event)).toEqual(["breach"]);
  });

  it("records concurrent rounds without losing one (optimistic concurrency)", async () => {
    const store = new MemoryLagStore();
    const ids = Array.from({ length: 12 }, (_, i) => `${DB}${i}`);
    await Promise.all(ids.map((id, i) => store.record("ledger", [sample(i, at(i), { resourceId: id })], RPO, new Date(at(30)))));
    expect(Object.keys((await store.get("ledger")).resources).sort()).toEqual([...ids].sort());
  });
});

describe("DMV rows", () => {
  const T = Date.parse("2026-12-03T10:00:00Z");
  const row = (over: Record<string, unknown>) => ({ partner_server: "SQL-B", partner_database: "ledger", replication_lag_sec: 4, last_replication: new Date(T), last_commit: new Date(T), replication_state_desc: "CATCH_UP", role_desc: "PRIMARY", ...over });
  it("on a working link, the data at risk is about replication_lag_sec; the link to the group's partner is the one read", () => {
    const rows = [row({ partner_server: "sql-x", replication_lag_sec: 90 }), row({})];
    expect(fromLinkRows(rows, "sql-b")).toEqual({ lagSeconds: 4, state: "CATCH_UP", lastReplication: "2026-12-03T10:00:00.000Z" });
    // No link to the group's partner: another geo-secondary says nothing of it.
    expect(fromLinkRows(rows, "sql-c")).toMatchObject({ lagSeconds: null, state: "PARTNER_LINK_MISSING" });
    expect(fromLinkRows(rows, "").lagSeconds).toBe(90);
  });
  it("on a stalled link, it grows with every commit since the last acknowledgement, though replication_lag_sec stays small", () => {
    // Acknowledgements stopped an hour ago; the primary committed until now.
    const stalled = row({ replication_state_desc: "SUSPENDED", replication_lag_sec: 2, last_replication: new Date(T - 3_600_000), last_commit: new Date(T) });
    expect(fromLinkRows([stalled], "sql-b")).toMatchObject({ lagSeconds: 3602, state: "SUSPENDED" });
    // An idle database: nothing committed since the acknowledged transaction.
    expect(fromLinkRows([row({ last_commit: new Date(T - 10_000) })], "sql-b").lagSeconds).toBe(0);
  });
  it("is unknown for a seeding link, a missing figure, a secondary, or no link", () => {
    expect(fromLinkRows([row({ replication_state_desc: "SEEDING" })], "sql-b")).toMatchObject({ lagSeconds: null, state: "SEEDING" });
    expect(fromLinkRows([row({ last_commit: null })], "sql-b").lagSeconds).toBeNull();
    expect(fromLinkRows([row({ replication_lag_sec: null })], "sql-b").lagSeconds).toBeNull();
    expect(fromLinkRows([row({ role_desc: "SECONDARY", replication_lag_sec: null, last_replication: null })], "sql-b")).toMatchObject({ lagSeconds: null, state: "NOT_PRIMARY" });
    expect(fromLinkRows([], "sql-b")).toMatchObject({ lagSeconds: null, state: "NO_LINK" });
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
    expect(lagSchedule({})).toEqual({ schedule: DEFAULT_LAG_SCHEDULE });
    expect(lagSchedule({ SWITCHYARD_LAG_SCHEDULE: "30 */5 * * * *" })).toEqual({ schedule: "30 */5 * * * *" });
    // A bad lag setting falls back with a warning: it must not stop the webhook and the override API.
    expect(lagSchedule({ SWITCHYARD_LAG_SCHEDULE: "*/5 * * * *" })).toEqual({ schedule: DEFAULT_LAG_SCHEDULE, warning: expect.stringMatching(/^SWITCHYARD_LAG_SCHEDULE: an NCRONTAB expression of six fields/) });
    const base = { SWITCHYARD_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" };
    expect(readSettings(base)).toMatchObject({ lagRetention: 60, warnings: [] });
    expect(readSettings({ ...base, SWITCHYARD_LAG_RETENTION: "120" })).toMatchObject({ lagRetention: 120, warnings: [] });
    expect(readSettings({ ...base, SWITCHYARD_LAG_RETENTION: "2" })).toMatchObject({ lagRetention: 60, warnings: ["SWITCHYARD_LAG_RETENTION: at least 5; 60 samples are kept"] });
  });
});
