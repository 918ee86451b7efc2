import { describe, expect, it } from "vitest";
import { classifyAlert, parseAlert } from "../../src/core/alerts/index.ts";
import type { Signal } from "../../src/core/detection/model.ts";
import { MAX_SIGNALS_PER_SOURCE } from "../../src/core/detection/quorum.ts";
import { parsePlan, PlanValidationError, type Plan } from "../../src/core/plan/index.ts";
import type { RunInput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { findSecrets } from "../../src/core/secrets.ts";
import { detectionJournalId, evaluatePlan, type EvaluateDeps } from "../../src/detection/evaluate.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { MemoryJournal, type JournalEntry } from "../../src/journal/journal.ts";
import { alertIdOf, metricAlert } from "../helpers/alertBodies.ts";
import { PRIMARY, SECONDARY, T0, iso, testPlan } from "../helpers/detectionPlan.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

/*
 * What an adversary can do with the alert webhook and flapping health, through evaluatePlan on the
 * memory store with an injected clock and a run port in memory.
 */

/** A journal that refuses any entry with secret-looking text, as a strict store would. */
class StrictJournal extends MemoryJournal {
  refused = 0;
  override async append(entry: JournalEntry): Promise<void> {
    if ([...findSecrets(entry.message, "message"), ...findSecrets(entry.data, "data")].length > 0) {
      this.refused++;
      throw new Error("entry refused: secret-looking text");
    }
    await super.append(entry);
  }
}

function world(plan: Plan, runs = new MemoryRuns()) {
  let now = 0;
  const store = new MemoryPlanStateStore();
  const journal = new StrictJournal();
  const deps: EvaluateDeps = { store, journal, runs, clock: () => new Date(T0 + now * 1000) };
  return { plan, store, journal, runs, deps, setNow: (s: number) => (now = s), entries: () => journal.read(detectionJournalId(plan.name, new Date(T0))) };
}

/** The alert's signals as the webhook would record them, received at `receivedAt` seconds. */
function alert(plan: Plan, rule: string, receivedAt: number, options: { firedAt?: number; condition?: "Fired" | "Resolved"; id?: string } = {}): Signal[] {
  const body = metricAlert({
    alertId: alertIdOf(options.id ?? `${rule}-${receivedAt}`),
    rule,
    condition: options.condition ?? "Fired",
    firedAt: new Date(T0 + (options.firedAt ?? receivedAt) * 1000),
    resolvedAt: new Date(T0 + receivedAt * 1000),
  });
  const parsed = parseAlert(body);
  if (!parsed.ok) throw new Error(parsed.reason);
  return [...classifyAlert(parsed.alert, [plan], new Date(T0 + receivedAt * 1000)).signals];
}

const probes = (plan: Plan, region: string, status: "up" | "down", seconds: number): Signal[] =>
  (region === PRIMARY ? plan.regions.primary : plan.regions.secondary).healthEndpoints.map((e) => ({ plan: plan.name, region, source: "probe", name: e.url, status, at: iso(seconds) }));

const withRules = (autoFailover: Parameters<typeof testPlan>[0], rules: { rule: string; region: string }[]): Plan => ({ ...testPlan(autoFailover), alertRules: rules });

describe("flapping: hysteresis floors and the way home", () => {
  it("the schema refuses a policy that can ping-pong (cooldown 0, healthyFor 0), naming the fields", () => {
    const attempt = () => testPlan({ quorum: 1, downForSeconds: 0, healthyForSeconds: 0, cooldownMinutes: 0, maxPerDay: 24 });
    expect(attempt).toThrow(PlanValidationError);
    expect(attempt).toThrow(/autoFailover\.healthyForSeconds: must be at least 300/);
    expect(attempt).toThrow(/autoFailover\.cooldownMinutes: must be at least 15 minutes/);
    expect(() => testPlan({ downForSeconds: 600, healthyForSeconds: 300 })).toThrow(/autoFailover\.healthyForSeconds: must be at least downForSeconds \(600\)/);
  });

  it("alternating alerts alone (every second for 22 s) switch nothing", async () => {
    const plan = withRules({ quorum: 1, downForSeconds: 0, healthyForSeconds: 300, cooldownMinutes: 15, maxPerDay: 24 }, [
      { rule: "primary-down", region: PRIMARY },
      { rule: "secondary-down", region: SECONDARY },
    ]);
    const w = world(plan);
    for (let s = 0; s <= 22; s++) {
      if (w.runs.current?.status === "running") w.runs.complete(iso(s));
      w.setNow(s);
      const [down, up] = s % 2 === 0 ? ["primary-down", "secondary-down"] : ["secondary-down", "primary-down"];
      await evaluatePlan(plan, [...alert(plan, down, s), ...alert(plan, up, s, { condition: "Resolved" })], w.deps, { trigger: "alert" });
    }
    expect(w.runs.started).toEqual([]);
  });

  it("alternating outages that probes confirm (15-minute phases, 6 h): at most one switch per outage, every way home a failback", async () => {
    const plan = withRules({ quorum: 1, downForSeconds: 0, healthyForSeconds: 300, cooldownMinutes: 15, maxPerDay: 24 }, [
      { rule: "primary-down", region: PRIMARY },
      { rule: "secondary-down", region: SECONDARY },
    ]);
    const w = world(plan);
    const switches: { at: number; phase: number; input: RunInput }[] = [];
    for (let s = 0; s <= 6 * 3600; s += 60) {
      if (w.runs.current?.status === "running") w.runs.complete(iso(s));
      w.setNow(s);
      const phase = Math.floor(s / 900);
      const [down, up] = phase % 2 === 0 ? [PRIMARY, SECONDARY] : [SECONDARY, PRIMARY];
      const signals = [...probes(plan, down, "down", s), ...probes(plan, up, "up", s), ...alert(plan, down === PRIMARY ? "primary-down" : "secondary-down", s)];
      const summary = await evaluatePlan(plan, signals, w.deps, { trigger: "alert", failuresBeforeDown: 1 });
      if (summary.started) switches.push({ at: s, phase, input: w.runs.started.at(-1)! });
    }
    const phases = switches.map((x) => x.phase);
    expect(new Set(phases).size).toBe(phases.length);
    for (const x of switches) expect(x.input.kind).toBe(x.input.to === PRIMARY ? "failback" : "failover");
    expect(switches.filter((x) => x.input.kind === "failback").length).toBeGreaterThan(0);
    switches.slice(1).forEach((x, i) => expect(x.at - switches[i]!.at).toBeGreaterThanOrEqual(plan.autoFailover.cooldownMinutes * 60));
    console.log(`flapping, 6 h of 15-minute alternating outages: ${switches.length} switches (${switches.filter((x) => x.input.kind === "failback").length} failbacks), one per outage at most`);
  });

  it("every automatic switch counts toward maxPerDay: after a failover, the failback home waits for the next day", async () => {
    const plan = testPlan({ quorum: 1, downForSeconds: 0, healthyForSeconds: 300, cooldownMinutes: 15, maxPerDay: 1 });
    const w = world(plan);
    const tick = async (s: number, down: string) => {
      if (w.runs.current?.status === "running") w.runs.complete(iso(s));
      w.setNow(s);
      const up = down === PRIMARY ? SECONDARY : PRIMARY;
      return evaluatePlan(plan, [...probes(plan, down, "down", s), ...probes(plan, up, "up", s)], w.deps, { failuresBeforeDown: 1 });
    };
    for (let s = 0; s <= 600; s += 60) await tick(s, PRIMARY);
    let last;
    for (let s = 660; s <= 3600; s += 60) last = await tick(s, SECONDARY);
    expect(w.runs.started.map((r) => r.kind)).toEqual(["failover"]);
    expect(last!.decision).toMatchObject({ start: false, code: "daily-cap" });
  });
});

describe("untrusted text is redacted, never a reason to refuse", () => {
  it("a secret-looking rule name: the run starts, its trigger reason shows [redacted], and every decision is journaled", async () => {
    const plan = withRules({}, [
      { rule: "Bearer TokenValidationFailuresHigh", region: PRIMARY },
      { rule: "Password=hunter2 errors", region: PRIMARY },
    ]);
    const w = world(plan);
    for (let s = 0; s <= 300; s += 60) {
      w.setNow(s);
      // The alerts arrive first (the down signals that decide are these and the probes).
      const signals = [...alert(plan, "Bearer TokenValidationFailuresHigh", s), ...alert(plan, "Password=hunter2 errors", s), ...probes(plan, PRIMARY, "down", s)];
      await evaluatePlan(plan, signals, w.deps, { trigger: "alert" });
    }
    expect(w.runs.started).toHaveLength(1);
    const reason = w.runs.started[0]!.trigger.reason;
    expect(reason).toContain("[redacted]");
    expect(findSecrets(reason, "reason")).toEqual([]);
    expect(reason).not.toContain("hunter2");
    expect(w.journal.refused).toBe(0);
    const messages = (await w.entries()).map((e) => e.message);
    expect(messages.some((m) => m.startsWith("automatic failover") && m.includes("started"))).toBe(true);
  });

  it("signals recorded by other collectors with secret-looking details are redacted in the journal too", async () => {
    const plan = testPlan({ quorum: 1, downForSeconds: 0 });
    const w = world(plan);
    const signals: Signal[] = [...probes(plan, PRIMARY, "down", 0).map((s) => ({ ...s, detail: "HTTP 500 Server=x;Password=p4ss;" }))];
    await evaluatePlan(plan, signals, w.deps, { failuresBeforeDown: 1 });
    expect(w.journal.refused).toBe(0);
    expect(JSON.stringify(await w.entries())).not.toContain("p4ss");
    expect(w.runs.started[0]!.trigger.reason).not.toContain("p4ss");
  });
});

describe("a run that ends before its first Azure write", () => {
  /** A run port whose runs fail at once without output (the run's first journal entry was refused). */
  function failingRuns(failures: number) {
    const runs = new MemoryRuns();
    let left = failures;
    const start = runs.start.bind(runs);
    runs.start = async (input: RunInput) => {
      const view = await start(input);
      if (left > 0) {
        left--;
        runs.current = { ...view, status: "failed", error: "journal entry refused" } satisfies RunView;
      }
      return view;
    };
    return runs;
  }

  it("does not count toward maxPerDay, is retried after a backoff (1, then 2 minutes), and is journaled and logged at error level", async () => {
    const plan = testPlan({ quorum: 1, downForSeconds: 0, maxPerDay: 1 });
    const runs = failingRuns(2);
    const w = world(plan, runs);
    const errors: string[] = [];
    const deps: EvaluateDeps = { ...w.deps, log: { info: () => undefined, warn: () => undefined, error: (m: string) => errors.push(m) } };
    const tick = async (s: number) => {
      w.setNow(s);
      return evaluatePlan(plan, probes(plan, PRIMARY, "down", s), deps, { failuresBeforeDown: 1 });
    };
    const decisions: string[] = [];
    for (let s = 0; s <= 600; s += 30) {
      const summary = await tick(s);
      decisions.push(`${s}:${summary.started ? "start" : summary.decision.start ? "start?" : summary.decision.code}`);
    }
    // Started at 0 (failed), seen at 30: retry due at 90; started at 90 (failed), seen at 120: due at 240.
    expect(runs.started.map((r) => r.runId.slice(0, 0) || r.trigger.detectedAt)).toHaveLength(3);
    expect(decisions.filter((d) => d.endsWith(":start")).map((d) => Number(d.split(":")[0]))).toEqual([0, 90, 240]);
    const { state } = await w.store.get(plan.name);
    expect(state.policy.autoFailovers).toEqual([iso(240)]);
    // The third run is in progress: the retry record stays until a run that wrote is seen finished.
    expect(state.policy.retry).toMatchObject({ failures: 2, notBefore: iso(240) });
    expect(errors.filter((e) => e.includes("ended without writing to Azure"))).toHaveLength(2);
    const retries = (await w.entries()).filter((e) => e.data?.decision === "retry");
    expect(retries.map((e) => e.data!.notBefore)).toEqual([iso(90), iso(240)]);
    expect(retries[0]!.message).toMatch(/does not count toward maxPerDay/);
  });

  it.each(["stopped-aborted", "stopped-approval-timeout"] as const)("a run that %s (a person's decision, or none in time) is not retried: it counts, and the cooldown applies", async (outcome) => {
    const plan = testPlan({ quorum: 1, downForSeconds: 0, maxPerDay: 2 });
    const w = world(plan);
    w.setNow(0);
    await evaluatePlan(plan, probes(plan, PRIMARY, "down", 0), w.deps, { failuresBeforeDown: 1 });
    const run = w.runs.current!;
    w.runs.current = {
      ...run,
      status: "stopped",
      output: { runId: run.runId, kind: "failover", outcome, from: PRIMARY, to: SECONDARY, steps: [{ step: "assess", startedAt: iso(1), endedAt: iso(2), outcome: "ok" }, { step: "approval", startedAt: iso(2), endedAt: iso(30), outcome: "ok" }], rtoSeconds: null, rtoTargetSeconds: 1800, rpoExposureSeconds: null, rpoBudgetSeconds: 300, dataLossAllowedBy: "none", message: outcome },
    };
    for (const s of [120, 600, 1800]) {
      w.setNow(s);
      const summary = await evaluatePlan(plan, probes(plan, PRIMARY, "down", s), w.deps, { failuresBeforeDown: 1 });
      expect(summary.decision, `at ${s} s`).toMatchObject({ start: false, code: "cooldown" });
    }
    const { state } = await w.store.get(plan.name);
    expect(state.policy.autoFailovers).toEqual([iso(0)]);
    expect(state.policy.retry).toBeUndefined();
  });

  it("a run that wrote (a data-tier step) counts, and the cooldown applies", async () => {
    const plan = testPlan({ quorum: 1, downForSeconds: 0, maxPerDay: 2 });
    const w = world(plan);
    w.setNow(0);
    await evaluatePlan(plan, probes(plan, PRIMARY, "down", 0), w.deps, { failuresBeforeDown: 1 });
    const run = w.runs.current!;
    w.runs.current = {
      ...run,
      status: "completed",
      output: { runId: run.runId, kind: "failover", outcome: "failed", from: PRIMARY, to: SECONDARY, steps: [{ step: "assess", startedAt: iso(1), endedAt: iso(2), outcome: "ok" }, { step: "data-tier", startedAt: iso(2), endedAt: iso(30), outcome: "failed" }], rtoSeconds: null, rtoTargetSeconds: 1800, rpoExposureSeconds: null, rpoBudgetSeconds: 300, dataLossAllowedBy: "none", message: "failed" },
    };
    w.setNow(120);
    const summary = await evaluatePlan(plan, probes(plan, PRIMARY, "down", 120), w.deps, { failuresBeforeDown: 1 });
    expect(summary.decision).toMatchObject({ start: false, code: "cooldown" });
    expect((await w.store.get(plan.name)).state.policy.autoFailovers).toEqual([iso(0)]);
  });
});

describe("alerts alone, from the past", () => {
  it("two alerts fired 200 s before their receipt declare nothing: their signals are dated at receipt, and no probe agrees", async () => {
    const plan = withRules({}, [{ rule: "r1", region: PRIMARY }, { rule: "r2", region: PRIMARY }]);
    const w = world(plan);
    w.setNow(1000);
    const signals = [...alert(plan, "r1", 1000, { firedAt: 800 }), ...alert(plan, "r2", 1000, { firedAt: 800 })];
    expect(signals.map((s) => s.at)).toEqual([iso(1000), iso(1000)]);
    const first = await evaluatePlan(plan, signals, w.deps, { trigger: "alert" });
    expect(first.changes).toEqual([]);
    // Held for W (180 s) from receipt, still alerts alone: nothing.
    w.setNow(1200);
    const later = await evaluatePlan(plan, [...alert(plan, "r1", 1200, { id: "r1-again" }), ...alert(plan, "r2", 1200, { id: "r2-again" })], w.deps, { trigger: "alert" });
    expect(later.regions[PRIMARY]?.state ?? "healthy").toBe("healthy");
    expect(later.changes).toEqual([]);
    // A probe agrees from 1200: once it has held W (at 1380) the region is down, and no signal is "since" before its receipt.
    const agreed = await evaluatePlan(plan, probes(plan, PRIMARY, "down", 1200).slice(0, 1), w.deps, { failuresBeforeDown: 1 });
    expect(agreed.changes).toEqual([]);
    w.setNow(1380);
    const declared = await evaluatePlan(plan, probes(plan, PRIMARY, "down", 1380).slice(0, 1), w.deps, { failuresBeforeDown: 1 });
    expect(declared.changes.map((c) => [c.region, c.to, c.at])).toEqual([[PRIMARY, "down", iso(1380)]]);
    expect(declared.changes[0]!.signals.map((s) => s.since).sort()).toEqual([iso(1000), iso(1000), iso(1200)]);
  });

  it("with autoFailover.serviceHealthAlone, a Service Health incident may declare the region down alone", async () => {
    const plan = parsePlan({ ...planInput(), autoFailover: { enabled: true, quorum: 1, downForSeconds: 0, serviceHealthAlone: true } });
    const w = world(plan);
    w.setNow(0);
    const incident: Signal = { plan: plan.name, region: PRIMARY, source: "alert", name: "alert:sh", status: "down", at: iso(0), alertKind: "service-health" };
    const metric: Signal = { plan: plan.name, region: SECONDARY, source: "alert", name: "alert:cpu", status: "down", at: iso(0), alertKind: "metric-static" };
    const summary = await evaluatePlan(plan, [incident, metric], w.deps, { trigger: "alert" });
    expect(summary.changes.map((c) => [c.region, c.to])).toEqual([[PRIMARY, "down"]]);
    const strict = testPlan({ quorum: 1, downForSeconds: 0 });
    expect(strict.autoFailover.serviceHealthAlone).toBe(false);
    const w2 = world(strict);
    w2.setNow(0);
    expect((await evaluatePlan(strict, [incident], w2.deps, { trigger: "alert" })).changes).toEqual([]);
  });
});

function planInput() {
  const endpoints = (region: string) => [{ url: `https://a-${region}.app.example/healthz` }];
  return {
    name: "detect-test",
    regions: { primary: { name: PRIMARY, healthEndpoints: endpoints(PRIMARY) }, secondary: { name: SECONDARY, healthEndpoints: endpoints(SECONDARY) } },
    objectives: { rpoSeconds: 300, rtoMinutes: 30 },
  };
}

describe("bounded state and decisions under an alert storm", () => {
  it("2,000 distinct-rule alerts: state under 64 KB, every journal entry under 4 KB", async () => {
    const rules = Array.from({ length: 2000 }, (_, i) => ({ rule: `rule-${String(i).padStart(4, "0")}-${"x".repeat(40)}`, region: PRIMARY }));
    const plan = withRules({}, rules);
    const w = world(plan);
    for (let i = 0; i < 2000; i++) {
      w.setNow(i);
      const signals = [...alert(plan, rules[i]!.rule, i), ...(i % 60 === 0 ? probes(plan, PRIMARY, "down", i) : [])];
      await evaluatePlan(plan, signals, w.deps, { trigger: "alert", failuresBeforeDown: 1 });
    }
    const { state } = await w.store.get(plan.name);
    const stateBytes = Buffer.byteLength(JSON.stringify(state));
    const alertSignals = Object.values(state.signals[PRIMARY]!).filter((s) => s.source === "alert").length;
    const sizes = (await w.entries()).map((e) => Buffer.byteLength(JSON.stringify(e)));
    console.log(`2,000 distinct-rule alerts: state ${stateBytes} B (${alertSignals} alert signals kept), ${sizes.length} journal entries, largest ${Math.max(...sizes)} B`);
    expect(alertSignals).toBe(MAX_SIGNALS_PER_SOURCE);
    // The plan's probes are never evicted.
    for (const e of plan.regions.primary.healthEndpoints) expect(state.signals[PRIMARY]![e.url]).toBeDefined();
    expect(stateBytes).toBeLessThan(64 * 1024);
    expect(Math.max(...sizes)).toBeLessThan(4 * 1024);
    expect(w.runs.started).toHaveLength(1);
  });
});

describe("a run decision is taken against the state it reserved", () => {
  it("cooldown 0, runs that finish at once: 10 concurrent evaluations of one outage start one run", async () => {
    const base = testPlan({ quorum: 2, downForSeconds: 0, maxPerDay: 5 });
    // Below the schema's floor on purpose: the reservation alone must hold.
    const plan: Plan = { ...base, autoFailover: { ...base.autoFailover, cooldownMinutes: 0 } };
    const runs = new MemoryRuns();
    const start = runs.start.bind(runs);
    runs.start = async (input: RunInput) => {
      const view = await start(input);
      runs.complete(iso(0));
      return view;
    };
    const w = world(plan, runs);
    w.setNow(0);
    const summaries = await Promise.all(Array.from({ length: 10 }, () => evaluatePlan(plan, probes(plan, PRIMARY, "down", 0), w.deps, { failuresBeforeDown: 1 })));
    expect(runs.started).toHaveLength(1);
    expect(summaries.filter((s) => !s.decision.start && s.decision.code === "run-in-progress")).toHaveLength(9);
    const { state } = await w.store.get(plan.name);
    expect(state.activeRun?.runId).toBe(runs.started[0]!.runId);
    expect(state.policy.autoFailovers).toEqual([iso(0)]);
  });
});
