/**
 * The planned drill: its orchestration through the real durable-functions orchestrator (the local
 * durable host) over scripted activities — the monitor loop, its notices, continue-as-new, retries, the
 * watch horizon, and the scheduled pass over plans one at a time — and its advance activity over a
 * run port, plan state and journal in memory: the interlocks that refuse a drill, the planned runs it
 * starts with ids derived from the drill's, and how it ends. Time scale 10^6 or more: an Azure hour of
 * timers takes milliseconds.
 */
import { describe, expect, it } from "vitest";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { DrillActivities, DrillOrchestrations, drillInstanceId, drillRunId, type AdvanceInput, type AdvanceResult, type DrillNotice, type PlannedDrillInput, type PlannedDrillOutput, type ScheduledDrillsOutput } from "../../src/core/drill/model.ts";
import type { DrillRecord } from "../../src/core/drill/history.ts";
import { POLLS_PER_EXECUTION } from "../../src/orchestrations/drill.ts";
import { advanceDrill, type DrillDeps } from "../../src/drills/activities.ts";
import { MemoryDrillHistoryStore } from "../../src/drills/store.ts";
import { MemoryDrillReportStore } from "../../src/drills/reports.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { emptyPlanState, type PlanState } from "../../src/core/detection/model.ts";
import type { JournalEntry } from "../../src/core/journal.ts";
import { RunInProgressError } from "../../src/core/run/port.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";
import { silentLog } from "../helpers/serveWorld.ts";
import { drillSchedule } from "../../src/config/settings.ts";

const DRILL_ID = "northwind-logistics.20261203T100000Z.drill-0a1b";
const FAILOVER = drillRunId(DRILL_ID, "failover");
const FAILBACK = drillRunId(DRILL_ID, "failback");

type Reply = { ok: true; value: unknown } | { ok: false; error: { name: string; code: string; message: string; retryable: boolean } };

const record = (outcome: DrillRecord["outcome"]): DrillRecord => ({ drillId: DRILL_ID, plan: "northwind-logistics", mode: "planned", trigger: { kind: "cli", by: "test" }, startedAt: "2026-12-03T10:00:00.000Z", endedAt: "2026-12-03T11:00:00.000Z", outcome, reason: outcome, timeScale: 1, runs: [] });
const watching = (kind: "failover" | "failback", startedNow = false): Reply => ({ ok: true, value: { state: "watching", kind, runId: kind === "failover" ? FAILOVER : FAILBACK, startedNow } satisfies AdvanceResult });
const ended = (outcome: DrillRecord["outcome"]): Reply => ({ ok: true, value: { state: "ended", outcome, reason: `${outcome} because`, record: record(outcome), trend: "RTO trend: …" } satisfies AdvanceResult });
const fail = (retryable: boolean, message = "the state store answered 503"): Reply => ({ ok: false, error: { name: "SwitchyardError", code: retryable ? "Unexpected" : "DrillPlanMissing", message, retryable } });

/** Runs the planned drill on the local durable host, drillAdvance answering `script(call, input)`. */
async function drill(script: (call: number, input: AdvanceInput) => Reply, timeScale = 1_000_000) {
  const advances: AdvanceInput[] = [];
  const notices: DrillNotice[] = [];
  const activities = {
    [DrillActivities.advance]: async (input: unknown) => {
      advances.push(input as AdvanceInput);
      return script(advances.length, input as AdvanceInput);
    },
    [DrillActivities.notify]: async (input: unknown) => {
      notices.push(input as DrillNotice);
      return { ok: true, value: { delivered: true } };
    },
  };
  const host = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: activities as never });
  const input: PlannedDrillInput = { drillId: DRILL_ID, plan: "northwind-logistics", trigger: { kind: "cli", by: "test" }, timeScale };
  await host.start(DrillOrchestrations.planned, input, drillInstanceId("northwind-logistics"));
  const status = await host.waitForCompletion(drillInstanceId("northwind-logistics"));
  expect(status.runtimeStatus).toBe("Completed");
  return { output: status.output as PlannedDrillOutput, advances, notices };
}

describe("the planned drill orchestration", () => {
  it("advances on every poll while its runs are under way, tells the activity which runs it started, and notifies the start once and the end", async () => {
    const replies = [watching("failover", true), watching("failover"), watching("failback", true), watching("failback"), ended("passed")];

    const { output, advances, notices } = await drill((n) => replies[n - 1]!);

    expect(advances).toHaveLength(5);
    expect(advances.map((a) => a.started)).toEqual([[], ["failover"], ["failover"], ["failover", "failback"], ["failover", "failback"]]);
    expect(new Set(advances.map((a) => a.startedAt)).size).toBe(1);
    expect(notices.map((n) => [n.n, n.kind, n.outcome])).toEqual([
      [1, "drill-started", undefined],
      [2, "drill-finished", "passed"],
    ]);
    expect(output).toMatchObject({ drillId: DRILL_ID, outcome: "passed", record: { outcome: "passed" } });
  });

  it("sends no start notice for a drill refused before any run: only its end", async () => {
    const { output, advances, notices } = await drill(() => ended("refused"));

    expect(advances).toHaveLength(1);
    expect(notices.map((n) => n.kind)).toEqual(["drill-finished"]);
    expect(notices[0]).toMatchObject({ outcome: "refused", reason: "refused because", trend: "RTO trend: …" });
    expect(output.outcome).toBe("refused");
  });

  it("continues as new while it watches a long run, carrying its runs and notices", async () => {
    const polls = 2 * POLLS_PER_EXECUTION + 5;

    const { output, advances, notices } = await drill((n) => (n === 1 ? watching("failover", true) : n <= polls ? watching("failover") : ended("passed")));

    expect(advances).toHaveLength(polls + 1);
    expect(advances.at(-1)!.started).toEqual(["failover"]);
    expect(notices.map((n) => [n.n, n.kind])).toEqual([
      [1, "drill-started"],
      [2, "drill-finished"],
    ]);
    expect(output.outcome).toBe("passed");
  });

  it("tries a retryable failure of its activity again until the watch horizon, then asks once more to record the drill failed", async () => {
    const flaky = await drill((n) => (n === 1 ? fail(true) : ended("passed")));
    expect(flaky.advances).toHaveLength(2);
    expect(flaky.output.outcome).toBe("passed");

    const down = await drill(() => fail(true), 1e8);
    const last = down.advances.at(-1)!;
    expect(down.advances.length).toBeGreaterThan(2);
    expect(down.advances.slice(0, -1).every((a) => a.abandon === undefined)).toBe(true);
    expect(last.abandon).toBe("the drill could not go on: drillAdvance failed for 96 h of Azure time: the state store answered 503");
    // The last advance failed too: the drill ends unrecorded, and says so.
    expect(down.output).toMatchObject({ outcome: "failed", reason: last.abandon });
    expect(down.output.record).toBeUndefined();

    const missing = await drill(() => fail(false, "the plan of drill x is not stored"));
    expect(missing.advances.map((a) => a.abandon)).toEqual([undefined, "the drill could not go on: drillAdvance failed: the plan of drill x is not stored"]);
    expect(missing.notices.map((n) => [n.kind, n.outcome])).toEqual([["drill-finished", "failed"]]);
  });

  it("records its end when its activity throws past its wrapper (a Functions timeout) for as long as the horizon, instead of failing unrecorded", async () => {
    const timeout = Object.assign(new Error("Timeout value of 00:30:00 was exceeded by function: Functions.drillAdvance"), { name: "FunctionTimeoutException" });

    const { output, advances, notices } = await drill((n, input) => {
      if (n === 1) return watching("failover", true);
      if (input.abandon) return ended("failed");
      throw timeout;
    }, 1e8);

    expect(advances.at(-1)!.abandon).toMatch(/^the drill could not go on: drillAdvance failed for 96 h of Azure time: .*Timeout value of 00:30:00 was exceeded/);
    expect(advances.at(-1)!.started).toEqual(["failover"]);
    expect(output).toMatchObject({ outcome: "failed", record: { outcome: "failed" } });
    expect(notices.map((n) => [n.kind, n.outcome])).toEqual([
      ["drill-started", undefined],
      ["drill-finished", "failed"],
    ]);
  });

  it("stops watching a run that outlasts its horizon and asks the activity to end the drill failed", async () => {
    const { output, advances } = await drill((_n, input) => (input.abandon ? ended("failed") : watching("failback")), 1e8);

    expect(advances.at(-1)!.abandon).toMatch(/still in progress after 96 h of Azure time: the drill stopped watching it/);
    expect(advances.slice(0, -1).every((a) => a.abandon === undefined)).toBe(true);
    expect(output.outcome).toBe("failed");
  });
});

describe("the scheduled pass", () => {
  it("drills each plan in turn, the next only once the one before has ended, and reports a plan whose drill already runs as not run", async () => {
    const log: string[] = [];
    const activities = {
      [DrillActivities.advance]: async (input: unknown) => {
        const { plan, started } = input as AdvanceInput;
        log.push(`${plan}:${started.length}`);
        return started.length === 0 ? watching("failover", true) : ended("passed");
      },
      [DrillActivities.notify]: async () => ({ ok: true, value: { delivered: true } }),
    };
    const host = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: activities as never });
    const input = (plan: string): PlannedDrillInput => ({ drillId: `${plan}.20261203T100000Z.drill-0001`, plan, trigger: { kind: "timer", by: "scheduledDrill" }, timeScale: 1_000_000 });
    // A drill of "busy-plan" at Azure's pace: its instance is still running when the pass reaches it.
    await host.start(DrillOrchestrations.planned, { ...input("busy-plan"), timeScale: 1 }, drillInstanceId("busy-plan"));

    await host.start(DrillOrchestrations.scheduled, { passId: "drills.20261203T100000Z", drills: [input("alpha-plan"), input("busy-plan"), input("beta-plan")] }, "switchyard-drills");
    const status = await host.waitForCompletion("switchyard-drills");

    const output = status.output as ScheduledDrillsOutput;
    expect(output.drills.map((d) => [d.plan, d.outcome])).toEqual([
      ["alpha-plan", "passed"],
      ["busy-plan", "not-run"],
      ["beta-plan", "passed"],
    ]);
    expect(output.drills[1]!.reason).toMatch(/already running/);
    const ofPlans = log.filter((l) => !l.startsWith("busy-plan"));
    expect(ofPlans).toEqual(["alpha-plan:0", "alpha-plan:1", "beta-plan:0", "beta-plan:1"]);
    host.stop();
  });
});

// ---- the advance activity -----------------------------------------------------------------------

const NORTHWIND = await loadPlanFile(new URL("../fixtures/northwind.plan.yaml", import.meta.url).pathname);
const NOW = new Date("2026-12-03T10:05:00Z");

function finishedEntry(runId: string, kind: "failover" | "failback", rtoSeconds: number): JournalEntry {
  return {
    runId,
    at: NOW.toISOString(),
    kind: "run-finished",
    message: "done",
    data: {
      outcome: "completed",
      output: { runId, kind, outcome: "completed", from: kind === "failover" ? "japaneast" : "japanwest", to: kind === "failover" ? "japanwest" : "japaneast", steps: [], rtoSeconds, rtoTargetSeconds: 10800, rpoExposureSeconds: 0, rpoBudgetSeconds: 900, dataLossAllowedBy: "none", message: "Switched" },
    },
  } as unknown as JournalEntry;
}

function world(options: { state?: PlanState; runs?: MemoryRuns; journal?: Record<string, JournalEntry[]> } = {}) {
  const runs = options.runs ?? new MemoryRuns();
  const history = new MemoryDrillHistoryStore();
  const reports = new MemoryDrillReportStore();
  const journal = options.journal ?? {};
  const deps: DrillDeps = {
    runs,
    store: { get: async () => ({ state: options.state ?? emptyPlanState(NORTHWIND.name) }) },
    runJournal: { read: async (runId: string) => journal[runId] ?? [] },
    runPlans: { get: async (id: string) => (id === DRILL_ID ? (NORTHWIND as Plan) : undefined) },
    history,
    reports,
    clock: () => NOW,
    log: silentLog,
  };
  return { deps, runs, history, reports, journal };
}

const advanceInput = (started: AdvanceInput["started"] = [], extra: Partial<AdvanceInput> = {}): AdvanceInput => ({ drillId: DRILL_ID, plan: NORTHWIND.name, trigger: { kind: "cli", by: "switchyard drill" }, timeScale: 3600, startedAt: "2026-12-03T10:00:00.000Z", started, ...extra });

describe("advancing a planned drill", () => {
  it("starts a planned failover from home with the run id derived from the drill, as a drill run", async () => {
    const { deps, runs } = world();

    const result = await advanceDrill(advanceInput(), deps);

    expect(result).toMatchObject({ state: "watching", kind: "failover", runId: FAILOVER, startedNow: true });
    expect(runs.started).toHaveLength(1);
    expect(runs.started[0]).toMatchObject({ runId: FAILOVER, kind: "failover", mode: "planned", from: "japaneast", to: "japanwest", trigger: { source: "drill" }, options: { timeScale: 3600 } });
  });

  it("is refused while a region of the plan is down by detection's verdict, starting nothing and recording why", async () => {
    const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: { japanwest: { state: "down", since: "2026-12-03T09:50:00.000Z" } } };
    const { deps, runs, history } = world({ state });

    const result = await advanceDrill(advanceInput(), deps);

    expect(result).toMatchObject({ state: "ended", outcome: "refused" });
    expect(runs.started).toEqual([]);
    const [kept] = (await history.read(NORTHWIND.name)).drills;
    expect(kept).toMatchObject({ drillId: DRILL_ID, outcome: "refused", runs: [], mode: "planned", trigger: { kind: "cli" } });
    expect(kept!.reason).toMatch(/japanwest is down \(detection's verdict\); drills never start during an incident/);
  });

  it("is refused while the plan has a run in progress, or a reservation whose start is in flight", async () => {
    const busy = new MemoryRuns();
    busy.current = { instanceId: "switchyard-northwind-logistics", runId: "northwind-logistics.20261203T095000Z.manual-failover-1234", status: "running", kind: "failover", from: "japaneast", to: "japanwest" };
    const running = world({ runs: busy });
    const reserved = world({ state: { ...emptyPlanState(NORTHWIND.name), activeRun: { runId: "northwind-logistics.20261203T100400Z.auto-failover-0042", kind: "failover", reservedAt: "2026-12-03T10:04:00.000Z" } } });

    const a = await advanceDrill(advanceInput(), running.deps);
    const b = await advanceDrill(advanceInput(), reserved.deps);

    expect(a).toMatchObject({ outcome: "refused", reason: expect.stringContaining("manual-failover-1234 of the plan is in progress") });
    expect(b).toMatchObject({ outcome: "refused", reason: expect.stringContaining("auto-failover-0042 has reserved the plan") });
    expect(busy.started).toEqual([]);
    expect(reserved.runs.started).toEqual([]);
  });

  it("watches the failover it started before, instead of refusing, when its own start is told the run is in progress", async () => {
    const runs = new MemoryRuns(new RunInProgressError(NORTHWIND.name, FAILOVER));
    const { deps } = world({ runs });

    expect(await advanceDrill(advanceInput(), deps)).toMatchObject({ state: "watching", kind: "failover", startedNow: false });
  });

  it("starts its failover again when the plan's reservation is its own (a start that ran before and did not finish)", async () => {
    const { deps, runs } = world({ state: { ...emptyPlanState(NORTHWIND.name), activeRun: { runId: FAILOVER, kind: "failover", reservedAt: "2026-12-03T10:04:50.000Z" } } });

    const result = await advanceDrill(advanceInput(), deps);

    expect(result).toMatchObject({ state: "watching", kind: "failover", runId: FAILOVER });
    expect(runs.started.map((r) => r.runId)).toEqual([FAILOVER]);
  });

  it("ends pre-empted, without a failback, when its failover run was terminated for an incident", async () => {
    const runs = new MemoryRuns();
    runs.current = { instanceId: "switchyard-northwind-logistics", runId: FAILOVER, status: "terminated", kind: "failover", from: "japaneast", to: "japanwest" };
    const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: { japaneast: { state: "down", since: "2026-12-03T10:04:00.000Z" } } };
    const { deps, history } = world({ runs, state, journal: { [FAILOVER]: [{ runId: FAILOVER, at: NOW.toISOString(), kind: "decision", message: "gate", data: {} } as unknown as JournalEntry] } });

    const result = await advanceDrill(advanceInput(["failover"]), deps);

    expect(result).toMatchObject({ state: "ended", outcome: "preempted" });
    expect(runs.started).toEqual([]);
    expect((result as { reason: string }).reason).toMatch(/was terminated for an incident: japaneast is down .*no failback was started/);
    const [kept] = (await history.read(NORTHWIND.name)).drills;
    expect(kept!.runs.map((r) => [r.kind, r.outcome])).toEqual([["failover", "terminated"]]);
  });

  it("ends pre-empted when its failover run failed on its own once a region was down, and failed when no region is down", async () => {
    const failedOutput = { ...(finishedEntry(FAILOVER, "failover", 2).data as { output: Record<string, unknown> }).output, outcome: "failed", message: "Failed in data-tier: a planned failover is impossible" };
    const outcomes: [string, string][] = [];
    for (const down of [true, false]) {
      const runs = new MemoryRuns();
      runs.current = { instanceId: "switchyard-northwind-logistics", runId: FAILOVER, status: "failed", kind: "failover", from: "japaneast", to: "japanwest", output: failedOutput } as unknown as MemoryRuns["current"];
      const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: down ? { japaneast: { state: "down", since: "2026-12-03T10:04:00.000Z" } } : {} };
      const { deps, history } = world({ runs, state });

      const result = (await advanceDrill(advanceInput(["failover"]), deps)) as { outcome: string; reason: string };

      outcomes.push([result.outcome, result.reason]);
      expect(runs.started).toEqual([]);
      expect((await history.read(NORTHWIND.name)).drills[0]!.runs.map((r) => [r.kind, r.outcome])).toEqual([["failover", "failed"]]);
    }
    expect(outcomes).toEqual([
      ["preempted", `pre-empted: its failover run ${FAILOVER} ended failed during an incident: japaneast is down (detection's verdict): Failed in data-tier: a planned failover is impossible; no failback was started`],
      ["failed", `its failover run ${FAILOVER} ended failed: Failed in data-tier: a planned failover is impossible`],
    ]);
  });

  it("ends pre-empted, terminating its failover and starting no failback, when a region goes down while it runs and automatic failover is off", async () => {
    expect(NORTHWIND.autoFailover.enabled).toBe(false);
    for (const region of ["japaneast", "japanwest"]) {
      const runs = new MemoryRuns();
      runs.current = { instanceId: "switchyard-northwind-logistics", runId: FAILOVER, status: "running", kind: "failover", from: "japaneast", to: "japanwest" };
      const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: { [region]: { state: "down", since: "2026-12-03T10:04:00.000Z" } } };
      const { deps, history } = world({ runs, state });

      const result = await advanceDrill(advanceInput(["failover"]), deps);

      expect(result).toMatchObject({ state: "ended", outcome: "preempted" });
      expect((result as { reason: string }).reason).toBe(`pre-empted: its failover run ${FAILOVER} was terminated for an incident: ${region} is down (detection's verdict); no failback was started`);
      expect(runs.current.status).toBe("terminated");
      expect(runs.started).toEqual([]);
      const [kept] = (await history.read(NORTHWIND.name)).drills;
      expect(kept!.runs.map((r) => [r.kind, r.outcome])).toEqual([["failover", "terminated"]]);
    }
  });

  it("ends pre-empted, terminating its failback, when a region goes down while the failback runs", async () => {
    const runs = new MemoryRuns();
    runs.current = { instanceId: "switchyard-northwind-logistics", runId: FAILBACK, status: "running", kind: "failback", from: "japanwest", to: "japaneast" };
    const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: { japaneast: { state: "down", since: "2026-12-03T10:04:00.000Z" } } };
    const { deps } = world({ runs, state, journal: { [FAILOVER]: [finishedEntry(FAILOVER, "failover", 2)] } });

    const result = await advanceDrill(advanceInput(["failover", "failback"]), deps);

    expect(result).toMatchObject({ state: "ended", outcome: "preempted", record: { runs: [{ kind: "failover", outcome: "completed" }, { kind: "failback", outcome: "terminated" }] } });
    expect(runs.current.status).toBe("terminated");
  });

  it("starts the planned failback once the failover completed, and passes when it completes, recording RTOs in Azure seconds", async () => {
    const runs = new MemoryRuns();
    const { deps, history, reports, journal } = world({ runs });
    await advanceDrill(advanceInput(), deps);
    runs.complete(NOW.toISOString());
    journal[FAILOVER] = [finishedEntry(FAILOVER, "failover", 2.5)];

    const back = await advanceDrill(advanceInput(["failover"]), deps);
    runs.complete(NOW.toISOString());
    journal[FAILBACK] = [finishedEntry(FAILBACK, "failback", 4)];
    runs.current = undefined; // the instance shows no run: the journal has them
    const done = await advanceDrill(advanceInput(["failover", "failback"]), deps);

    expect(back).toMatchObject({ state: "watching", kind: "failback", runId: FAILBACK, startedNow: true });
    expect(runs.started[1]).toMatchObject({ kind: "failback", mode: "planned", from: "japanwest", to: "japaneast" });
    expect(done).toMatchObject({ state: "ended", outcome: "passed" });
    const [kept] = (await history.read(NORTHWIND.name)).drills;
    expect(kept!.runs.map((r) => [r.kind, r.outcome, r.rtoSeconds, r.rtoLocalSeconds, r.rtoProjected, r.dataLossAllowedBy])).toEqual([
      ["failover", "completed", 9000, 2.5, true, "none"],
      ["failback", "completed", 14400, 4, true, "none"],
    ]);
    expect([...reports.reports.keys()].sort()).toEqual([DRILL_ID, FAILBACK, FAILOVER].sort());
    expect(reports.reports.get(DRILL_ID)).toContain("## RTO trend");
  });

  it("does not start its failback when an incident began after the failover: it ends pre-empted", async () => {
    const runs = new MemoryRuns();
    runs.current = { instanceId: "switchyard-northwind-logistics", runId: FAILOVER, status: "running", kind: "failover", from: "japaneast", to: "japanwest" };
    runs.complete(NOW.toISOString());
    const state: PlanState = { ...emptyPlanState(NORTHWIND.name), regions: { japanwest: { state: "down", since: "2026-12-03T10:04:30.000Z" } } };
    const { deps } = world({ runs, state });

    const result = await advanceDrill(advanceInput(["failover"]), deps);

    expect(result).toMatchObject({ state: "ended", outcome: "preempted" });
    expect(runs.started).toEqual([]);
  });

  it("does not start its failback when another run took the plan over after its failover: it ends pre-empted", async () => {
    const failback = "northwind-logistics.20261203T100300Z.auto-failback-0001";
    const runs = new MemoryRuns();
    runs.current = { instanceId: "switchyard-northwind-logistics", runId: failback, status: "running", kind: "failback", from: "japanwest", to: "japaneast" };
    runs.complete(NOW.toISOString());
    // Nothing is down any more, and home serves again, by the other run.
    const state: PlanState = { ...emptyPlanState(NORTHWIND.name), primary: { region: "japaneast", since: "2026-12-03T10:04:00.000Z", runId: failback } };
    const { deps, history } = world({ runs, state, journal: { [FAILOVER]: [finishedEntry(FAILOVER, "failover", 2)], [failback]: [finishedEntry(failback, "failback", 3)] } });

    const result = await advanceDrill(advanceInput(["failover"]), deps);

    expect(result).toMatchObject({ state: "ended", outcome: "preempted" });
    expect((result as { reason: string }).reason).toBe(`pre-empted after its failover: run ${failback} (failback japanwest → japaneast, completed) holds the plan now; no failback was started`);
    expect(runs.started).toEqual([]);
    const [kept] = (await history.read(NORTHWIND.name)).drills;
    expect(kept!.runs.map((r) => [r.kind, r.outcome])).toEqual([["failover", "completed"]]);
  });

  it("writes only records its history's reader takes, cutting every text to the reader's limits, so that a step run again finds its drill recorded", async () => {
    const long = `Failed in data-tier: ${"ARM said: the operation failed because ".repeat(60)}`;
    const failed = (message: string): JournalEntry => {
      const entry = finishedEntry(FAILOVER, "failover", 2);
      const data = entry.data as { outcome: string; output: Record<string, unknown> };
      return { ...entry, data: { outcome: "failed", output: { ...data.output, outcome: "failed", message } } } as unknown as JournalEntry;
    };
    const trigger = { kind: "operator" as const, by: "o".repeat(3000), reason: "r".repeat(3000) };
    const cases: { name: string; started: AdvanceInput["started"]; extra?: Partial<AdvanceInput>; journal?: Record<string, JournalEntry[]>; state?: PlanState }[] = [
      { name: "a failover that failed with a long message", started: ["failover"], journal: { [FAILOVER]: [failed(long)] } },
      { name: "an abandon with a long reason", started: ["failover"], extra: { abandon: long }, journal: { [FAILOVER]: [finishedEntry(FAILOVER, "failover", 2)] } },
      { name: "a refusal by a long trigger", started: [], extra: { trigger }, state: { ...emptyPlanState(NORTHWIND.name), regions: { japanwest: { state: "down", since: "2026-12-03T09:50:00.000Z" } } } },
      { name: "a pass", started: ["failover", "failback"], journal: { [FAILOVER]: [finishedEntry(FAILOVER, "failover", 2)], [FAILBACK]: [finishedEntry(FAILBACK, "failback", 3)] } },
    ];
    for (const c of cases) {
      const { deps, history } = world({ ...(c.state ? { state: c.state } : {}), ...(c.journal ? { journal: c.journal } : {}) });

      const first = await advanceDrill(advanceInput(c.started, c.extra), deps);
      const read = await history.read(NORTHWIND.name);
      const again = await advanceDrill(advanceInput(c.started, c.extra), deps);

      expect(read.problems, c.name).toEqual([]);
      expect(read.drills.map((d) => d.drillId), c.name).toEqual([DRILL_ID]);
      expect(first, c.name).toMatchObject({ state: "ended", record: read.drills[0] });
      expect(again, c.name).toEqual(first);
    }
  });

  it("answers with the recorded drill when the drill was already recorded (a step that ran again)", async () => {
    const { deps, runs } = world({ state: { ...emptyPlanState(NORTHWIND.name), regions: { japanwest: { state: "down", since: "2026-12-03T09:50:00.000Z" } } } });
    const first = await advanceDrill(advanceInput(), deps);

    const again = await advanceDrill(advanceInput(), { ...deps, store: { get: async () => ({ state: emptyPlanState(NORTHWIND.name) }) } });

    expect(again).toEqual(first);
    expect(runs.started).toEqual([]);
  });
});

describe("the scheduledDrill timer's schedule", () => {
  it("is off unless SWITCHYARD_DRILL_SCHEDULE is set, and registers nothing on a value that is not NCRONTAB", () => {
    expect(drillSchedule({})).toEqual({});
    expect(drillSchedule({ SWITCHYARD_DRILL_SCHEDULE: "  " })).toEqual({});
    expect(drillSchedule({ SWITCHYARD_DRILL_SCHEDULE: "0 0 4 * * 1" })).toEqual({ schedule: "0 0 4 * * 1" });
    const bad = drillSchedule({ SWITCHYARD_DRILL_SCHEDULE: "0 4 * * 1" });
    expect(bad.schedule).toBeUndefined();
    expect(bad.warning).toMatch(/^SWITCHYARD_DRILL_SCHEDULE: an NCRONTAB expression of six fields .*; no drill is scheduled$/);
  });
});
