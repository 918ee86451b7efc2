import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState, type RegionChange } from "../../src/core/detection/model.ts";
import {
  currentPrimary,
  decideAutoFailover,
  mayStartDrill,
  observeRun,
  pause,
  recordAutoFailover,
  recordRun,
  recentAutoFailovers,
  resume,
  setPrimary,
  shouldPreemptDrill,
  unrecordAutoFailover,
  type PolicyInput,
} from "../../src/core/detection/policy.ts";
import { planHealthView } from "../../src/core/detection/view.ts";
import type { PlanInput } from "../../src/core/plan/index.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { PRIMARY, SECONDARY, T0, iso, at, testPlan } from "../helpers/detectionPlan.ts";

// ---- fixtures (an injected clock: every time is T0 + seconds) ----------------------------------------

const MIN = 60;
const HOUR = 3600;


/** The evaluation happens at NOW; the primary went down at DOWN_AT. */
const NOW = 10 * HOUR;
const DOWN_AT = NOW - 60;

function stateWith(parts: { primary?: "down" | "healthy"; secondary?: "down" | "healthy"; current?: string; policy?: Partial<PlanState["policy"]> } = {}): PlanState {
  const base = emptyPlanState("detect-test");
  const verdict = (v: "down" | "healthy" | undefined) => ({ state: v ?? "healthy", since: v === "down" ? iso(DOWN_AT) : iso(0) });
  return {
    ...base,
    regions: { [PRIMARY]: verdict(parts.primary ?? "down"), [SECONDARY]: verdict(parts.secondary) },
    policy: { ...base.policy, ...parts.policy },
    ...(parts.current ? { primary: { region: parts.current, since: iso(0), runId: "earlier" } } : {}),
  };
}

function change(region: string, to: "down" | "healthy"): RegionChange {
  return {
    plan: "detect-test",
    region,
    from: to === "down" ? "healthy" : "down",
    to,
    at: iso(DOWN_AT),
    signals: [
      { name: "https://a.example/healthz", source: "probe", status: "down", since: iso(DOWN_AT - 200), lastSeen: iso(DOWN_AT), stale: false, detail: "ECONNREFUSED" },
      { name: "afd:web/web-eastus2", source: "frontdoor", status: "down", since: iso(DOWN_AT - 190), lastSeen: iso(DOWN_AT), stale: false },
    ],
    thresholds: { quorum: 2, downForSeconds: 180, healthyForSeconds: 900, staleAfterSeconds: 540 },
  };
}

interface Row {
  readonly name: string;
  readonly plan?: PlanInput["autoFailover"];
  readonly state: PlanState;
  readonly change?: RegionChange;
  readonly runInProgress?: string;
  readonly runInProgressSource?: PolicyInput["runInProgressSource"];
  readonly now?: number;
  /** "start" or the refusal code. */
  readonly expected: "start" | string;
  readonly reason?: RegExp;
  readonly preemptDrill?: boolean;
}

const rows: Row[] = [
  { name: "the primary turned down, everything allows it: start", state: stateWith(), change: change(PRIMARY, "down"), expected: "start", reason: /eastus2 is down.*afd:web\/web-eastus2/ },
  { name: "the primary is still down with no change this time (level-triggered): start", state: stateWith(), expected: "start" },
  { name: "the primary is healthy: not-down", state: stateWith({ primary: "healthy" }), expected: "not-down" },
  { name: "the primary recovered: not-down", state: stateWith({ primary: "healthy" }), change: change(PRIMARY, "healthy"), expected: "not-down" },
  { name: "the secondary went down, the primary is fine: not-primary", state: stateWith({ primary: "healthy", secondary: "down" }), change: change(SECONDARY, "down"), expected: "not-primary", reason: /centralus is down, but eastus2 is the primary/ },
  {
    name: "after a failover the secondary serves: the old primary going down is not-primary",
    state: stateWith({ primary: "down", current: SECONDARY }),
    change: change(PRIMARY, "down"),
    expected: "not-primary",
  },
  { name: "after a failover the secondary serves: its outage fails back to the plan's primary", state: stateWith({ primary: "healthy", secondary: "down", current: SECONDARY }), expected: "start" },
  { name: "disabled in the plan", plan: { enabled: false }, state: stateWith(), change: change(PRIMARY, "down"), expected: "disabled", reason: /disabled in the plan/ },
  {
    name: "paused (kill switch): names who and why",
    state: pause(stateWith(), { by: "alice@contoso.com", reason: "maintenance window", at: at(NOW - HOUR) }),
    change: change(PRIMARY, "down"),
    expected: "paused",
    reason: /paused by alice@contoso\.com since .*: maintenance window/,
  },
  { name: "paused then resumed: start", state: resume(pause(stateWith(), { by: "a", reason: "r", at: at(0) })), expected: "start" },
  { name: "the target is down too: target-down", state: stateWith({ secondary: "down" }), change: change(PRIMARY, "down"), expected: "target-down", reason: /never fail over into an unhealthy region/ },
  { name: "a run is in progress: run-in-progress", state: stateWith(), runInProgress: "manual-1", runInProgressSource: "manual", expected: "run-in-progress", reason: /manual-1/, preemptDrill: false },
  { name: "a run of unknown origin is in progress: run-in-progress, no pre-emption", state: stateWith(), runInProgress: "x-1", expected: "run-in-progress", preemptDrill: false },
  { name: "a drill is in progress: run-in-progress, pre-empt it", state: stateWith(), runInProgress: "drill-1", runInProgressSource: "drill", expected: "run-in-progress", reason: /drill/, preemptDrill: true },
  { name: "cooldown: a run 59 minutes ago", state: stateWith({ policy: { lastRunAt: iso(NOW - 59 * MIN) } }), expected: "cooldown", reason: /60-minute cooldown/ },
  { name: "cooldown: a run 1 second short of 60 minutes ago", state: stateWith({ policy: { lastRunAt: iso(NOW - 60 * MIN + 1) } }), expected: "cooldown" },
  { name: "cooldown over: a run exactly 60 minutes ago", state: stateWith({ policy: { lastRunAt: iso(NOW - 60 * MIN) } }), expected: "start" },
  { name: "cooldown 15 (the floor): a run 15 minutes ago does not block", plan: { cooldownMinutes: 15 }, state: stateWith({ policy: { lastRunAt: iso(NOW - 15 * MIN) } }), expected: "start" },
  { name: "retry backoff: the last automatic run wrote nothing, its retry is not due yet", state: stateWith({ policy: { lastRunAt: iso(NOW - 60), retry: { runId: "r1", failures: 1, notBefore: iso(NOW + 1), reason: "failed" } } }), expected: "retry-backoff", reason: /attempt 2 waits until/ },
  { name: "retry backoff over: the retry replaces the cooldown", state: stateWith({ policy: { lastRunAt: iso(NOW - 60), retry: { runId: "r1", failures: 1, notBefore: iso(NOW), reason: "failed" } } }), expected: "start" },
  { name: "lastRunAt in the future (clock skew) is cooldown", state: stateWith({ policy: { lastRunAt: iso(NOW + 60) } }), expected: "cooldown" },
  { name: "daily cap: 1 automatic failover 23 h ago, max 1", state: stateWith({ policy: { autoFailovers: [iso(NOW - 23 * HOUR)] } }), expected: "daily-cap", reason: /plan allows 1/ },
  { name: "daily cap: one 24 h ago no longer counts", state: stateWith({ policy: { autoFailovers: [iso(NOW - 24 * HOUR)] } }), expected: "start" },
  { name: "daily cap: max 2 with one in the last day: start", plan: { maxPerDay: 2 }, state: stateWith({ policy: { autoFailovers: [iso(NOW - 2 * HOUR)] } }), expected: "start" },
  { name: "daily cap: max 2 with two in the last day", plan: { maxPerDay: 2 }, state: stateWith({ policy: { autoFailovers: [iso(NOW - 3 * HOUR), iso(NOW - 2 * HOUR)] } }), expected: "daily-cap" },
  { name: "daily cap: max 0 never starts", plan: { maxPerDay: 0 }, state: stateWith(), expected: "daily-cap" },
  // precedence: the first check that applies answers
  { name: "precedence: not-down before disabled", plan: { enabled: false }, state: stateWith({ primary: "healthy" }), expected: "not-down" },
  { name: "precedence: disabled before paused", plan: { enabled: false }, state: pause(stateWith(), { by: "a", reason: "r", at: at(0) }), expected: "disabled" },
  { name: "precedence: paused before target-down", state: pause(stateWith({ secondary: "down" }), { by: "a", reason: "r", at: at(0) }), expected: "paused" },
  { name: "precedence: target-down before run-in-progress", state: stateWith({ secondary: "down" }), runInProgress: "r1", expected: "target-down" },
  { name: "precedence: run-in-progress before cooldown", state: stateWith({ policy: { lastRunAt: iso(NOW - 60) } }), runInProgress: "r1", expected: "run-in-progress" },
  {
    name: "precedence: cooldown before daily-cap",
    state: stateWith({ policy: { lastRunAt: iso(NOW - 60), autoFailovers: [iso(NOW - 60)] } }),
    expected: "cooldown",
  },
];

describe("auto-failover policy: decideAutoFailover", () => {
  it.each(rows.map((r) => [r.name, r] as const))("%s", (_name, row) => {
    const decision = decideAutoFailover({
      plan: testPlan(row.plan),
      state: row.state,
      change: row.change,
      runInProgress: row.runInProgress,
      ...(row.runInProgressSource ? { runInProgressSource: row.runInProgressSource } : {}),
      now: at(row.now ?? NOW),
    });
    expect(decision.start ? "start" : decision.code).toBe(row.expected);
    if (row.reason) expect(decision.reason).toMatch(row.reason);
    if (row.preemptDrill !== undefined) expect(!decision.start && decision.preemptDrill === true).toBe(row.preemptDrill);
  });

  it("a start names from, to, the detection time (the verdict's since) and the signals", () => {
    const decision = decideAutoFailover({ plan: testPlan(), state: stateWith(), change: change(PRIMARY, "down"), runInProgress: undefined, now: at(NOW) });
    expect(decision).toMatchObject({ start: true, from: PRIMARY, to: SECONDARY, detectedAt: iso(DOWN_AT) });
    if (!decision.start) throw new Error("expected a start");
    expect(decision.signals.map((s) => s.name)).toEqual(["https://a.example/healthz", "afd:web/web-eastus2"]);
  });

  it("without a change it quotes the primary's active down signals from the state", () => {
    const state: PlanState = {
      ...stateWith(),
      signals: {
        [PRIMARY]: {
          p1: { source: "probe", status: "down", since: iso(DOWN_AT - 300), lastSeen: iso(NOW), consecutiveFailures: 6 },
          p2: { source: "probe", status: "up", since: iso(0), lastSeen: iso(NOW), consecutiveFailures: 0 },
          old: { source: "alert", status: "down", since: iso(0), lastSeen: iso(0), consecutiveFailures: 1 },
        },
      },
    };
    const decision = decideAutoFailover({ plan: testPlan(), state, change: undefined, runInProgress: undefined, now: at(NOW) });
    if (!decision.start) throw new Error(`expected a start, got ${decision.code}`);
    expect(decision.signals.map((s) => s.name)).toEqual(["p1"]);
  });

  it("is pure: the state it was given is not changed", () => {
    const state = stateWith();
    const copy = structuredClone(state);
    decideAutoFailover({ plan: testPlan(), state, change: change(PRIMARY, "down"), runInProgress: undefined, now: at(NOW) });
    expect(state).toEqual(copy);
  });
});

describe("policy bookkeeping", () => {
  it("recordAutoFailover counts toward the cap, starts the cooldown, and forgets starts older than 24 h", () => {
    let s = stateWith({ policy: { autoFailovers: [iso(NOW - 25 * HOUR), iso(NOW - 2 * HOUR)], lastRunAt: iso(NOW - 2 * HOUR) } });
    s = recordAutoFailover(s, at(NOW), { runId: "auto-1", from: PRIMARY, to: SECONDARY });
    expect(s.policy.autoFailovers).toEqual([iso(NOW - 2 * HOUR), iso(NOW)]);
    expect(s.policy.lastRunAt).toBe(iso(NOW));
    expect(s.policy.lastAutoFailover).toEqual({ runId: "auto-1", at: iso(NOW), from: PRIMARY, to: SECONDARY });
    expect(recentAutoFailovers(s.policy, at(NOW + 22 * HOUR))).toEqual([iso(NOW)]);
    // The next evaluation is refused: cooldown.
    const next = decideAutoFailover({ plan: testPlan({ maxPerDay: 5 }), state: s, change: undefined, runInProgress: undefined, now: at(NOW + 30) });
    expect(next.start ? "start" : next.code).toBe("cooldown");
  });

  it("unrecordAutoFailover undoes a refused start: cap entry removed; cooldown restored or kept", () => {
    const before = stateWith({ policy: { autoFailovers: [iso(NOW - 2 * HOUR)], lastRunAt: iso(NOW - 2 * HOUR) } });
    const reserved = recordAutoFailover(before, at(NOW), { runId: "auto-1", from: PRIMARY, to: SECONDARY });
    const previous = { lastRunAt: before.policy.lastRunAt, lastAutoFailover: before.policy.lastAutoFailover };
    const undone = unrecordAutoFailover(reserved, iso(NOW), previous, false);
    expect(undone.policy).toEqual(before.policy);
    const kept = unrecordAutoFailover(reserved, iso(NOW), previous, true);
    expect(kept.policy.autoFailovers).toEqual([iso(NOW - 2 * HOUR)]);
    expect(kept.policy.lastRunAt).toBe(iso(NOW));
    expect(kept.policy.lastAutoFailover).toBeUndefined();
  });

  it("recordRun moves the cooldown only forward", () => {
    const s = recordRun(stateWith(), at(100));
    expect(s.policy.lastRunAt).toBe(iso(100));
    expect(recordRun(s, at(50))).toBe(s);
    expect(recordRun(s, iso(200)).policy.lastRunAt).toBe(iso(200));
  });

  it("pause records who, why and when; pausing again replaces it; resume lifts it", () => {
    const s1 = pause(stateWith(), { by: "alice", reason: "maintenance", at: at(10) });
    expect(s1.policy.paused).toEqual({ by: "alice", reason: "maintenance", at: iso(10) });
    const s2 = pause(s1, { by: "bob", reason: "game day", at: iso(20) });
    expect(s2.policy.paused).toEqual({ by: "bob", reason: "game day", at: iso(20) });
    const s3 = resume(s2, { by: "carol", reason: "done", at: at(30) });
    expect(s3.policy.paused).toBeUndefined();
    expect(resume(s3)).toBe(s3);
  });

  it("the current primary is the plan's until a completed run moves it", () => {
    const plan = testPlan();
    const s0 = emptyPlanState(plan.name);
    expect(currentPrimary(plan, s0)).toBe(PRIMARY);
    expect(setPrimary(s0, plan, PRIMARY, at(0))).toBe(s0);
    const s1 = setPrimary(s0, plan, SECONDARY, at(5), "run-1");
    expect(s1.primary).toEqual({ region: SECONDARY, since: iso(5), runId: "run-1" });
    expect(currentPrimary(plan, s1)).toBe(SECONDARY);
    expect(() => setPrimary(s0, plan, "westeurope", at(0))).toThrow(/not a region/);
    // A recorded region the plan no longer names falls back to the plan's primary.
    expect(currentPrimary(plan, { ...s0, primary: { region: "westeurope", since: iso(0) } })).toBe(PRIMARY);
  });

  const view = (over: Partial<RunView>): RunView => ({ instanceId: "switchyard-detect-test", runId: "run-1", status: "running", kind: "failover", from: PRIMARY, to: SECONDARY, ...over });
  const output = (outcome: "completed" | "failed", endedAt: string) =>
    ({
      runId: "run-1",
      kind: "failover",
      outcome,
      from: PRIMARY,
      to: SECONDARY,
      steps: [{ step: "verify", startedAt: iso(100), endedAt, outcome: "ok" }],
      rtoSeconds: 100,
      rtoTargetSeconds: 1800,
      rpoExposureSeconds: 0,
      rpoBudgetSeconds: 300,
      dataLossAllowedBy: "none",
      message: "",
    }) as const;

  it("observeRun: a run in progress holds the cooldown at now", () => {
    const plan = testPlan();
    const s = observeRun(emptyPlanState(plan.name), plan, view({ status: "running" }), at(500));
    expect(s.policy.lastRunAt).toBe(iso(500));
    expect(s.primary).toBeUndefined();
  });

  it("observeRun: a completed failover makes its target the primary, as of its last step", () => {
    const plan = testPlan();
    const s = observeRun(emptyPlanState(plan.name), plan, view({ status: "completed", output: output("completed", iso(300)) }), at(500));
    expect(s.primary).toEqual({ region: SECONDARY, since: iso(300), runId: "run-1" });
    expect(s.policy.lastRunAt).toBe(iso(300));
    // Seeing it again changes nothing.
    expect(observeRun(s, plan, view({ status: "completed", output: output("completed", iso(300)) }), at(900))).toBe(s);
  });

  it("observeRun: a failed run leaves the primary and starts the cooldown from its end", () => {
    const plan = testPlan();
    const s = observeRun(emptyPlanState(plan.name), plan, view({ status: "completed", output: output("failed", iso(300)) }), at(500));
    expect(s.primary).toBeUndefined();
    expect(s.policy.lastRunAt).toBe(iso(300));
    expect(observeRun(s, plan, undefined, at(900))).toBe(s);
  });

  it("observeRun: a drill (running or finished) does not start the cooldown, but a completed one still moves the primary", () => {
    const plan = testPlan();
    const s0 = emptyPlanState(plan.name);
    expect(observeRun(s0, plan, view({ runId: "drill-1", status: "running" }), at(500), "drill")).toBe(s0);
    const done = observeRun(s0, plan, view({ runId: "drill-1", status: "completed", output: output("completed", iso(300)) }), at(500), "drill");
    expect(done.policy.lastRunAt).toBeUndefined();
    expect(done.primary?.region).toBe(SECONDARY);
  });

  it("drills: pre-empted by an incident, never started during one", () => {
    expect(shouldPreemptDrill("drill", change(PRIMARY, "down"))).toBe(true);
    expect(shouldPreemptDrill("drill", change(PRIMARY, "healthy"))).toBe(false);
    expect(shouldPreemptDrill("drill", undefined)).toBe(false);
    expect(shouldPreemptDrill("manual", change(PRIMARY, "down"))).toBe(false);
    const plan = testPlan();
    expect(mayStartDrill(stateWith({ primary: "healthy" }), plan)).toEqual({ ok: true });
    expect(mayStartDrill(stateWith({ primary: "healthy", secondary: "down" }), plan)).toEqual({ ok: false, reason: "incident in progress: centralus down" });
    expect(mayStartDrill(emptyPlanState(plan.name), plan)).toEqual({ ok: true });
  });
});

describe("planHealthView", () => {
  it("shows roles, verdicts, signal counts, the quorum and the policy (cooldown end, recent starts, kill switch)", () => {
    const plan = testPlan();
    let state: PlanState = {
      ...stateWith({ policy: { lastRunAt: iso(NOW - 30 * MIN), autoFailovers: [iso(NOW - 30 * MIN), iso(NOW - 30 * HOUR)] } }),
      signals: {
        [PRIMARY]: {
          a: { source: "probe", status: "down", since: iso(NOW - 400), lastSeen: iso(NOW), consecutiveFailures: 7 },
          b: { source: "frontdoor", status: "down", since: iso(NOW - 100), lastSeen: iso(NOW), consecutiveFailures: 2 },
          c: { source: "alert", status: "down", since: iso(0), lastSeen: iso(0), consecutiveFailures: 1 },
        },
      },
    };
    state = pause(state, { by: "alice", reason: "drill week", at: at(NOW - HOUR) });
    const view = planHealthView(plan, state, at(NOW));
    expect(view).toMatchObject({
      plan: plan.name,
      at: iso(NOW),
      primary: PRIMARY,
      secondary: SECONDARY,
      quorum: { quorum: 2, downForSeconds: 180, healthyForSeconds: 900, staleAfterSeconds: 540 },
      policy: {
        enabled: true,
        paused: { by: "alice", reason: "drill week", at: iso(NOW - HOUR) },
        cooldownMinutes: 60,
        cooldownUntil: iso(NOW + 30 * MIN),
        maxPerDay: 1,
        autoFailoversLast24h: [iso(NOW - 30 * MIN)],
        lastRunAt: iso(NOW - 30 * MIN),
      },
    });
    expect(view.regions[PRIMARY]).toMatchObject({ role: "primary", state: "down", since: iso(DOWN_AT), signalsDown: 2, signalsHeldDown: 1 });
    expect(view.regions[PRIMARY]!.signals.map((s) => [s.name, s.activeDown, s.heldDown, s.stale])).toEqual([
      ["a", true, true, false],
      ["b", true, false, false],
      ["c", false, false, true],
    ]);
    expect(view.regions[SECONDARY]).toMatchObject({ role: "secondary", state: "healthy", signalsDown: 0, signals: [] });
  });

  it("after a failover the roles follow the current primary; no cooldown once it has passed", () => {
    const plan = testPlan();
    const view = planHealthView(plan, stateWith({ primary: "healthy", current: SECONDARY, policy: { lastRunAt: iso(NOW - 2 * HOUR) } }), at(NOW));
    expect([view.primary, view.secondary]).toEqual([SECONDARY, PRIMARY]);
    expect(view.regions[SECONDARY]!.role).toBe("primary");
    expect(view.policy.cooldownUntil).toBeUndefined();
    expect(view.policy.paused).toBeUndefined();
  });
});
