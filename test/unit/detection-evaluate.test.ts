import { describe, expect, it } from "vitest";
import type { Signal } from "../../src/core/detection/model.ts";
import { pause } from "../../src/core/detection/policy.ts";
import type { Plan, PlanInput } from "../../src/core/plan/index.ts";
import type { RunPort, RunView } from "../../src/core/run/port.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";
import { autoRunId, detectionJournalId, evaluatePlan, type EvaluateDeps } from "../../src/detection/evaluate.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { assertStorableEntry } from "../../src/journal/guard.ts";
import { MemoryJournal, type JournalEntry } from "../../src/journal/journal.ts";
import { PRIMARY, SECONDARY, T0, iso, testPlan } from "../helpers/detectionPlan.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";



/** One round of probe observations: the primary's endpoints as given, the secondary's all up. */
function round(plan: Plan, seconds: number, primaryDown: boolean): Signal[] {
  const signals: Signal[] = [];
  for (const region of [plan.regions.primary, plan.regions.secondary]) {
    for (const e of region.healthEndpoints) {
      const down = primaryDown && region.name === PRIMARY;
      signals.push({ plan: plan.name, region: region.name, source: "probe", name: e.url, status: down ? "down" : "up", at: iso(seconds), detail: down ? "ECONNREFUSED" : "HTTP 200" });
    }
  }
  return signals;
}

/** The run port in memory, under the names these tests use (`port`, `starts`, `set`). */
function fakeRuns(options: { failStart?: Error } = {}) {
  const runs = new MemoryRuns(options.failStart);
  return Object.assign(runs, {
    port: runs as RunPort,
    starts: runs.started,
    set(view: RunView | undefined) {
      runs.current = view;
    },
  });
}

/** A memory journal that applies the blob journal's guard to every entry. */
class GuardedJournal extends MemoryJournal {
  override async append(entry: JournalEntry): Promise<void> {
    assertStorableEntry(entry);
    await super.append(entry);
  }
}

/**
 * The test plan with `policy` applied after validation: values below the schema's floors (a cooldown
 * of 0) isolate the state interlocks (reservation, daily cap) from the cooldown.
 */
function planWith(policy: PlanInput["autoFailover"] = {}): Plan {
  const base = testPlan();
  return { ...base, autoFailover: { ...base.autoFailover, ...policy } as Plan["autoFailover"] };
}

function setup(policy: PlanInput["autoFailover"] = {}, runsOptions: { failStart?: Error } = {}) {
  const plan = planWith(policy);
  const runs = fakeRuns(runsOptions);
  const store = new MemoryPlanStateStore();
  const journal = new GuardedJournal();
  let now = 0;
  const deps: EvaluateDeps = { store, journal, runs: runs.port, clock: () => new Date(T0 + now * 1000) };
  const tick = async (seconds: number, primaryDown: boolean, options: Parameters<typeof evaluatePlan>[3] = {}) => {
    now = seconds;
    return evaluatePlan(plan, round(plan, seconds, primaryDown), deps, options);
  };
  const entries = () => journal.read(detectionJournalId(plan.name, new Date(T0)));
  return { plan, runs, store, journal, deps, tick, entries, setNow: (s: number) => (now = s) };
}

describe("evaluatePlan (memory store, fake run port, injected clock)", () => {
  it("an outage held for W starts exactly one automatic failover, with the trigger the run needs", async () => {
    const t = setup();
    const summaries = [];
    // Probes every 60 s: with 2 failures before down, probes turn down at 60; W = 180 → declared at 240.
    for (let s = 0; s <= 600; s += 60) summaries.push(await t.tick(s, true));
    expect(t.runs.starts).toHaveLength(1);
    const started = summaries.find((x) => x.started)!;
    expect(started.at).toBe(iso(240));
    expect(summaries.filter((x) => x.changes.length > 0).map((x) => x.changes.map((c) => `${c.region}:${c.to}`))).toEqual([[`${PRIMARY}:down`]]);
    const input = t.runs.starts[0]!;
    expect(input).toMatchObject({
      runId: expect.stringMatching(new RegExp(`^${autoRunId(t.plan.name, new Date(T0 + 240_000)).slice(0, -4).replace(/\./g, "\\.")}[0-9a-f]{4}$`)),
      kind: "failover",
      mode: "auto",
      from: PRIMARY,
      to: SECONDARY,
      trigger: { source: "timer", by: "switchyard detection", detectedAt: iso(240) },
    });
    expect(input.runId).toMatch(/^detect-test\.20300101T000400Z\.auto-failover-[0-9a-f]{4}$/);
    expect(input.trigger.reason).toContain("https://a-eastus2.app.example/healthz (down since");
    // After the start: the run is in progress, then the cooldown.
    expect(summaries.slice(5).map((x) => (x.decision.start ? "start" : x.decision.code))).toEqual(Array(6).fill("run-in-progress"));
  });

  it("journals the region change and the decision with signals and thresholds, under detection-<plan>-<day>", async () => {
    const t = setup();
    for (let s = 0; s <= 240; s += 60) await t.tick(s, true);
    const entries = await t.entries();
    expect(entries.every((e) => e.kind === "decision" && e.step === "detection" && e.runId === "detection-detect-test-20300101")).toBe(true);
    const messages = entries.map((e) => e.message);
    expect(messages[0]).toMatch(/^region eastus2 declared down: 3 signal\(s\) down for at least 180 s \(quorum 2\)/);
    expect(messages[1]).toMatch(/^automatic failover from eastus2 to centralus/);
    expect(messages[2]).toMatch(/^automatic failover detect-test\.20300101T000400Z\.auto-failover-[0-9a-f]{4} started: eastus2 → centralus/);
    expect(entries[0]!.data).toMatchObject({
      region: PRIMARY,
      from: "healthy",
      to: "down",
      thresholds: { quorum: 2, downForSeconds: 180, healthyForSeconds: 900, staleAfterSeconds: 540, failuresBeforeDown: 2 },
    });
    expect(entries[0]!.data!.signals).toMatchObject({ total: 3, byStatus: { down: 3 }, bySource: { probe: 3 } });
    expect((entries[0]!.data!.signals as { deciding: unknown[] }).deciding).toHaveLength(3);
    expect(entries[1]!.data).toMatchObject({ decision: "start", from: PRIMARY, to: SECONDARY, detectedAt: iso(240) });
  });

  it("a quiet minute (everything up) journals nothing", async () => {
    const t = setup();
    for (let s = 0; s <= 600; s += 60) await t.tick(s, false);
    expect(await t.entries()).toEqual([]);
    expect(t.runs.starts).toEqual([]);
  });

  it("after the run completes, the secondary is primary: the old primary's outage starts nothing more", async () => {
    const t = setup({ cooldownMinutes: 0, maxPerDay: 5 });
    for (let s = 0; s <= 240; s += 60) await t.tick(s, true);
    expect(t.runs.starts).toHaveLength(1);
    t.runs.complete(iso(270));
    const after = await t.tick(300, true);
    expect(after.primary).toBe(SECONDARY);
    expect(after.decision).toMatchObject({ start: false, code: "not-down" });
    expect((await t.store.get(t.plan.name)).state.primary).toEqual({ region: SECONDARY, since: iso(270), runId: t.runs.starts[0]!.runId });
    expect(t.runs.starts).toHaveLength(1);
  });

  it("50 concurrent evaluations of an alert storm start one run (cooldown 0: the state's reservation refuses the others)", async () => {
    const t = setup({ cooldownMinutes: 0, maxPerDay: 10, quorum: 1, downForSeconds: 0 });
    t.setNow(0);
    // A probe agrees (alerts alone never declare a region down).
    const probe: Signal = { plan: t.plan.name, region: PRIMARY, source: "probe", name: t.plan.regions.primary.healthEndpoints[0]!.url, status: "down", at: iso(0) };
    const alert = (i: number): Signal => ({ plan: t.plan.name, region: PRIMARY, source: "alert", name: `alert:rule-${i % 3}`, status: "down", at: iso(0) });
    const summaries = await Promise.all(Array.from({ length: 50 }, (_, i) => evaluatePlan(t.plan, [probe, alert(i)], t.deps, { trigger: "alert", failuresBeforeDown: 1 })));
    expect(summaries.filter((s) => !s.decision.start && s.decision.code === "run-in-progress")).toHaveLength(49);
    expect(t.runs.starts).toHaveLength(1);
    expect(t.runs.starts[0]!.trigger.source).toBe("alert");
    expect(summaries.filter((s) => s.started)).toHaveLength(1);
    // Every refused start undid its reservation: one automatic failover counts toward the cap.
    const { state } = await t.store.get(t.plan.name);
    expect(state.policy.autoFailovers).toEqual([iso(0)]);
    expect(summaries.filter((s) => s.runInProgress).length).toBe(t.runs.refused.length);
  });

  it("50 concurrent evaluations with the default cooldown call the run port once", async () => {
    const t = setup({ quorum: 1, downForSeconds: 0 });
    t.setNow(0);
    const probe: Signal = { plan: t.plan.name, region: PRIMARY, source: "probe", name: t.plan.regions.primary.healthEndpoints[0]!.url, status: "down", at: iso(0) };
    await Promise.all(
      Array.from({ length: 50 }, () => evaluatePlan(t.plan, [probe, { plan: t.plan.name, region: PRIMARY, source: "alert", name: "alert:x", status: "down", at: iso(0) }], t.deps, { trigger: "alert", failuresBeforeDown: 1 })),
    );
    expect(t.runs.starts).toHaveLength(1);
    expect(t.runs.refused).toHaveLength(0);
  });

  it("a run already in progress (started elsewhere) is journaled, not an error; the cap is not consumed", async () => {
    const t = setup({ maxPerDay: 1 });
    for (let s = 0; s <= 180; s += 60) await t.tick(s, true);
    // A manual run starts between our read of the run port and our start.
    const manual: RunView = { instanceId: "switchyard-detect-test", runId: "manual-1", status: "running", kind: "failover", from: PRIMARY, to: SECONDARY };
    const realGet = t.runs.port.get;
    t.runs.port.get = async () => undefined;
    t.runs.set(manual);
    const summary = await t.tick(240, true);
    t.runs.port.get = realGet;
    expect(summary.decision.start).toBe(true);
    expect(summary.started).toBeUndefined();
    expect(summary.runInProgress).toBe("manual-1");
    expect((await t.entries()).at(-1)!.message).toBe("run already in progress (manual-1): no second run started");
    const { state } = await t.store.get(t.plan.name);
    expect(state.policy.autoFailovers).toEqual([]);
    expect(state.policy.lastRunAt).toBe(iso(240));
  });

  it("a start that fails is journaled and undone; the next evaluation retries while the outage lasts", async () => {
    const t = setup({ maxPerDay: 1 }, { failStart: new Error("durable client unreachable") });
    for (let s = 0; s <= 180; s += 60) await t.tick(s, true);
    const failed = await t.tick(240, true);
    expect(failed.error).toBe("durable client unreachable");
    expect((await t.entries()).at(-1)!.message).toMatch(/could not be started: durable client unreachable/);
    const { state } = await t.store.get(t.plan.name);
    expect(state.policy.autoFailovers).toEqual([]);
    expect(state.policy.lastRunAt).toBeUndefined();
    const retried = await t.tick(300, true);
    expect(retried.started?.runId).toMatch(/^detect-test\.20300101T000500Z\.auto-failover-[0-9a-f]{4}$/);
    // detectedAt stays the time the outage was declared.
    expect(t.runs.starts[0]!.trigger.detectedAt).toBe(iso(240));
  });

  it("an incident pre-empts a running drill, then starts the failover", async () => {
    const t = setup();
    const drill: RunView = { instanceId: "switchyard-detect-test", runId: "drill-detect-test-x-failover", status: "running", kind: "failover", from: PRIMARY, to: SECONDARY, trigger: { source: "drill", by: "switchyard drill", reason: "drill", detectedAt: "2030-01-01T00:00:00Z" } };
    t.runs.set(drill);
    const preempted: string[] = [];
    t.deps = { ...t.deps, preemptDrill: async (view) => (preempted.push(view.runId), t.runs.set({ ...view, status: "terminated" })) } as EvaluateDeps;
    let summary;
    for (let s = 0; s <= 240; s += 60) summary = await evaluatePlan(t.plan, round(t.plan, s, true), { ...t.deps, clock: () => new Date(T0 + s * 1000) });
    expect(preempted).toEqual([drill.runId]);
    expect(summary!.preempted).toBe(drill.runId);
    expect(summary!.started?.from).toBe(PRIMARY);
    expect(t.runs.starts).toHaveLength(1);
    expect((await t.entries()).map((e) => e.message)).toContainEqual(`drill ${drill.runId} pre-empted: the primary is down`);
  });

  it("without a pre-emption hook a drill is waited for (run-in-progress, preemptDrill set)", async () => {
    const t = setup();
    t.runs.set({ instanceId: "i", runId: "drill-1", status: "running", kind: "failover", from: PRIMARY, to: SECONDARY, trigger: { source: "drill", by: "switchyard drill", reason: "drill", detectedAt: "2030-01-01T00:00:00Z" } });
    let summary;
    for (let s = 0; s <= 240; s += 60) summary = await t.tick(s, true);
    expect(summary!.decision).toMatchObject({ start: false, code: "run-in-progress", preemptDrill: true });
    expect(t.runs.starts).toEqual([]);
  });

  it("paused: every evaluation during the outage journals why nothing starts", async () => {
    const t = setup();
    await t.store.update(t.plan.name, (s) => pause(s, { by: "alice", reason: "game day", at: iso(0) }));
    for (let s = 0; s <= 360; s += 60) await t.tick(s, true);
    expect(t.runs.starts).toEqual([]);
    const paused = (await t.entries()).filter((e) => e.data?.decision === "paused");
    expect(paused).toHaveLength(3); // 240, 300, 360
    expect(paused[0]!.message).toMatch(/paused by alice since .*: game day/);
  });

  it("an alert's dedupe key is checked in the same update: 50 concurrent deliveries record the signal once", async () => {
    const t = setup();
    t.setNow(0);
    const fired: Signal = { plan: t.plan.name, region: PRIMARY, source: "alert", name: "alert:cpu", status: "down", at: iso(0) };
    const summaries = await Promise.all(Array.from({ length: 50 }, () => evaluatePlan(t.plan, [fired], t.deps, { trigger: "alert", dedupeKey: "alert-1:Fired" })));
    expect(summaries.filter((s) => s.duplicate === false)).toHaveLength(1);
    expect(summaries.filter((s) => s.duplicate === true)).toHaveLength(49);
    expect(summaries.filter((s) => s.duplicate).every((s) => s.recorded === 0)).toBe(true);
    const { state } = await t.store.get(t.plan.name);
    expect(state.signals[PRIMARY]!["alert:cpu"]!.consecutiveFailures).toBe(1);
    expect(state.seenAlerts).toEqual({ "alert-1:Fired": iso(0) });
    // Without a key, a summary says nothing about duplicates.
    expect((await t.tick(60, false)).duplicate).toBeUndefined();
  });

  it("skips signals of other plans and regions", async () => {
    const t = setup();
    t.setNow(0);
    const summary = await evaluatePlan(
      t.plan,
      [
        { plan: "other", region: PRIMARY, source: "alert", name: "x", status: "down", at: iso(0) },
        { plan: t.plan.name, region: "westeurope", source: "alert", name: "y", status: "down", at: iso(0) },
        { plan: t.plan.name, region: PRIMARY, source: "alert", name: "z", status: "down", at: iso(0) },
      ],
      t.deps,
    );
    expect(summary.recorded).toBe(1);
    expect(Object.keys((await t.store.get(t.plan.name)).state.signals)).toEqual([PRIMARY]);
  });
});

describe("region changes are told to the plan's stakeholders", () => {
  it("one region-down notice per outage, with the incident it opens; healthy again resolves it; the same change gives the same id", async () => {
    const t = setup();
    const told: NotifyInput[] = [];
    const deps = { ...t.deps, notifier: { name: "test", notify: async (n: NotifyInput) => void told.push(n) } };
    for (let s = 0; s <= 600; s += 60) t.setNow(s), await evaluatePlan(t.plan, round(t.plan, s, true), deps);
    for (let s = 660; s <= 3600; s += 60) t.setNow(s), await evaluatePlan(t.plan, round(t.plan, s, false), deps);
    expect(told.map((n) => n.kind)).toEqual(["region-down", "region-healthy"]);
    const [down, healthy] = told;
    expect(down).toMatchObject({ severity: "critical", incident: { key: `switchyard/${t.plan.name}/region/${PRIMARY}`, action: "trigger" } });
    expect(healthy).toMatchObject({ severity: "info", incident: { key: `switchyard/${t.plan.name}/region/${PRIMARY}`, action: "resolve" } });
    expect(down!.id).toBe(`${t.plan.name}.region-down.${PRIMARY}.${Date.parse(down!.at!)}`);
    expect(down!.facts!.some((f) => f.value.startsWith("down"))).toBe(true);
  });

  it("tells of the outage only after the failover it triggers has started (a slow channel never delays it)", async () => {
    const t = setup();
    const startedWhenTold: number[] = [];
    const deps = { ...t.deps, notifier: { name: "test", notify: async (n: NotifyInput) => void (n.kind === "region-down" && startedWhenTold.push(t.runs.starts.length)) } };
    for (let s = 0; s <= 600; s += 60) t.setNow(s), await evaluatePlan(t.plan, round(t.plan, s, true), deps);
    expect(t.runs.starts).toHaveLength(1);
    expect(startedWhenTold).toEqual([1]);
  });

  it("a notifier that fails changes no decision", async () => {
    const t = setup();
    const deps = { ...t.deps, notifier: { name: "broken", notify: async () => Promise.reject(new Error("channel down")) } };
    const summaries = [];
    for (let s = 0; s <= 600; s += 60) t.setNow(s), summaries.push(await evaluatePlan(t.plan, round(t.plan, s, true), deps));
    expect(summaries.flatMap((x) => x.changes.map((c) => c.to))).toEqual(["down"]);
  });
});
