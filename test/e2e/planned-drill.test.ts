/**
 * Planned drills end to end on a plan no code was tuned to (test/fixtures/northwind.plan.yaml: japaneast
 * and japanwest, a SQL failover group, GZRS and RA-GRS storage, both Front Door kinds, sites in both
 * regions): the local app (estate, Azurite, the local durable host) runs plannedDrillV1 and its
 * activities as in Azure, each drill a planned failover and a failback through the run port.
 *
 * The app's clock is the world's manual clock (detection, the activities, the history's times); the
 * orchestrations keep the host's own time. Nothing here asserts a duration.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadPlanFile, parsePlan, type Plan } from "../../src/core/plan/index.ts";
import { drillRunId, SCHEDULED_DRILLS_INSTANCE, type ScheduledDrillsOutput } from "../../src/core/drill/model.ts";
import { latestPassedDrill } from "../../src/core/drill/history.ts";
import { useServeWorld } from "../helpers/serveWorld.ts";
import { runCli } from "../helpers/cli.ts";
import { rawRequest } from "../helpers/estate.ts";
import type { EvaluationSummary } from "../../src/detection/evaluate.ts";

const NORTHWIND = new URL("../fixtures/northwind.plan.yaml", import.meta.url);

/** The northwind plan, with the auto-failover policy given (a region is down after two failed probes). */
function northwind(autoFailover: Record<string, unknown>): Plan {
  const doc = parse(readFileSync(NORTHWIND, "utf8")) as Record<string, unknown>;
  return parsePlan({ ...doc, autoFailover: { quorum: 1, downForSeconds: 0, healthyForSeconds: 300, ...autoFailover } }, "northwind.plan.yaml (auto-failover for detection)");
}

/** The estate's writes after request `since`, as its request log lists them. */
async function writesSince(world: ReturnType<typeof useServeWorld>, since: number): Promise<{ operationId: string; path: string }[]> {
  const answer = await rawRequest(world.app.estate, "GET", `/_estate/requests?writes=true&since=${since}`);
  expect(answer.status).toBe(200);
  return (answer.body.value as { operationId: string; path: string }[]).map((r) => ({ operationId: r.operationId, path: r.path }));
}

const lastSeq = (world: ReturnType<typeof useServeWorld>) => world.app.estate.requests().at(-1)?.seq ?? 0;

describe("planned drills of northwind, automatic failover off", () => {
  const world = useServeWorld(() => [northwind({ enabled: false })]);
  const PLAN = "northwind-logistics";

  it("passes: a planned failover to japanwest and a failback home, both completed, no data loss allowed, each run's report kept", async () => {
    const start = await world.app.startDrill(PLAN, { kind: "cli", by: "planned-drill test" });

    const output = await world.app.waitForDrill(PLAN);

    expect(start.outcome).toBe("started");
    expect(output.outcome, output.reason).toBe("passed");
    const record = output.record!;
    expect(record).toMatchObject({ drillId: start.drill.drillId, plan: PLAN, mode: "planned", trigger: { kind: "cli", by: "planned-drill test" } });
    expect(record.runs.map((r) => [r.kind, r.runId, r.from, r.to, r.outcome, r.dataLossAllowedBy, r.rpoExposureSeconds])).toEqual([
      ["failover", drillRunId(record.drillId, "failover"), "japaneast", "japanwest", "completed", "none", 0],
      ["failback", drillRunId(record.drillId, "failback"), "japanwest", "japaneast", "completed", "none", 0],
    ]);
    for (const run of record.runs) {
      expect(run.rtoSeconds).toEqual(expect.any(Number));
      expect(run.report).toMatch(new RegExp(`drills/${PLAN}/reports/${run.runId}\\.md$`));
    }
    // The runs were drill runs in planned mode: the journal says so.
    const started = (await world.app.journal.read(record.runs[0]!.runId)).find((e) => e.kind === "run-started");
    expect(started?.data).toMatchObject({ mode: "planned", trigger: { source: "drill" } });
    // The plan is home again, with no run in progress.
    expect((await world.app.runs.get(PLAN))?.runId).toBe(record.runs[1]!.runId);
  }, 120_000);

  it("keeps a history across drills: after three drills the trend has three RTOs in order, a median and a direction", async () => {
    for (let i = 0; i < 2; i++) {
      await world.app.startDrill(PLAN, { kind: "timer", by: "scheduledDrill" });
      expect((await world.app.waitForDrill(PLAN)).outcome).toBe("passed");
    }

    const history = await world.app.drillHistory.read(PLAN);
    const api = await world.request("GET", `/api/plans/${PLAN}`);

    expect(history.drills).toHaveLength(3);
    expect(history.problems).toEqual([]);
    expect(latestPassedDrill(history)?.drillId).toBe(history.drills[2]!.drillId);
    expect(api.status).toBe(200);
    const drills = api.body.drills;
    expect(drills.last.map((d: { drillId: string }) => d.drillId)).toEqual(history.drills.map((d) => d.drillId).reverse());
    expect(drills.trend.rtos.map((p: { drillId: string; rtoSeconds: number }) => [p.drillId, p.rtoSeconds])).toEqual(history.drills.map((d) => [d.drillId, d.runs[0]!.rtoSeconds]));
    expect(drills.trend.medianSeconds).toEqual(expect.any(Number));
    expect(["improving", "worsening", "steady"]).toContain(drills.trend.direction);
    expect(drills.trend.line).toMatch(/^RTO trend \(failover, last 3 drill\(s\)\): /);
  }, 240_000);

  it("is refused while a region of the plan is in an incident (detection's verdict down), and writes nothing to Azure", async () => {
    await world.setRegionDown("japanwest", true);
    const summaries = await world.healthChecks(PLAN, 3);
    expect(summaries.at(-1)!.regions.japanwest?.state).toBe("down");
    const since = lastSeq(world);
    const before = (await world.app.drillHistory.read(PLAN)).drills.length;

    await world.app.startDrill(PLAN, { kind: "operator", by: "ops@northwind.example", reason: "quarterly rehearsal" });
    const output = await world.app.waitForDrill(PLAN);

    expect(output.outcome).toBe("refused");
    expect(output.reason).toMatch(/japanwest is down \(detection's verdict\); drills never start during an incident/);
    expect(output.record!.runs).toEqual([]);
    expect(await writesSince(world, since)).toEqual([]);
    const after = await world.app.drillHistory.read(PLAN);
    expect(after.drills).toHaveLength(before + 1);
    expect(after.drills.at(-1)).toMatchObject({ outcome: "refused", trigger: { kind: "operator", by: "ops@northwind.example", reason: "quarterly rehearsal" } });
    await world.setRegionDown("japanwest", false);
  }, 120_000);
});

describe("a planned drill of northwind pre-empted by an incident, automatic failover on", () => {
  const world = useServeWorld(() => [northwind({ enabled: true })]);
  const PLAN = "northwind-logistics";

  it("ends preempted when the incident's failover terminates its failover run, and never starts its failback", async () => {
    // The drill's storage failover lasts long enough for the incident to arrive while it runs.
    world.app.estate.setTiming({ durations: { StorageAccounts_Failover: 120_000 } });
    const since = lastSeq(world);
    const { drill } = await world.app.startDrill(PLAN, { kind: "cli", by: "planned-drill test" });
    const failover = drillRunId(drill.drillId, "failover");
    await world.waitForRun(PLAN, (run) => run.runId === failover && run.progress?.step === "data-tier", 60_000);
    // The incident arrives once the first account's failover is under way (before it, the outage fails
    // the run's planned storage failover on its own: a case of its own, in the unit tests).
    const accountFailover = async () => (await writesSince(world, since)).some((w) => /\/storageAccounts\/nwlabels\/failover$/i.test(w.path));
    for (let i = 0; i < 600 && !(await accountFailover()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await accountFailover()).toBe(true);

    await world.setRegionDown("japaneast", true);
    const checks: EvaluationSummary[] = [];
    // Detection pre-empts the drill, or the drill's own poll ends its run first (it sees the region down
    // too); either way the incident's failover starts once the drill's run has ended.
    const incidentStarted = async () => {
      const run = await world.app.runs.get(PLAN);
      return run !== undefined && run.runId !== failover;
    };
    for (let k = 0; k < 6 && !(await incidentStarted()); k++) checks.push(...(await world.healthChecks(PLAN, 1)));
    world.app.estate.setTiming({ durations: { StorageAccounts_Failover: 100 } });
    const output = await world.app.waitForDrill(PLAN);

    expect(checks.filter((s) => s.preempted).map((s) => s.preempted)).toEqual(checks.some((s) => s.preempted) ? [failover] : []);
    expect(output.outcome, output.reason).toBe("preempted");
    expect(output.reason).toMatch(/terminated for an incident: japaneast is down/);
    // Terminated, or failed on its own as the termination reached it (the reason says which): only the failover.
    expect(output.record!.runs.map((r) => r.kind)).toEqual(["failover"]);
    expect(["terminated", "failed"]).toContain(output.record!.runs[0]!.outcome);
    const failback = drillRunId(drill.drillId, "failback");
    expect(await world.app.journal.read(failback)).toEqual([]);
    // The incident's own failover holds the plan now.
    const incident = await world.app.runs.get(PLAN);
    expect(incident?.runId).not.toBe(failover);
    expect(incident?.trigger?.source).not.toBe("drill");
  }, 180_000);
});

describe("the scheduledDrill timer's pass, on two plans", () => {
  const world = useServeWorld(async () => [northwind({ enabled: false }), await loadPlanFile(fileURLToPath(new URL("../fixtures/harbor.plan.yaml", import.meta.url)))]);

  it("drills every plan of the catalog, one at a time, each recorded in its own history as the timer's", async () => {
    const start = await world.app.scheduledDrill();
    const pass = await world.app.host.waitForCompletion(SCHEDULED_DRILLS_INSTANCE);

    expect(start).toMatchObject({ outcome: "started", plans: ["northwind-logistics", "harbor-freight"] });
    expect((pass.output as ScheduledDrillsOutput).drills.map((d) => [d.plan, d.outcome])).toEqual([
      ["northwind-logistics", "passed"],
      ["harbor-freight", "passed"],
    ]);
    const [northwindDrill] = (await world.app.drillHistory.read("northwind-logistics")).drills;
    const [harborDrill] = (await world.app.drillHistory.read("harbor-freight")).drills;
    expect(northwindDrill!.trigger).toEqual({ kind: "timer", by: "scheduledDrill" });
    expect(harborDrill!.trigger).toEqual({ kind: "timer", by: "scheduledDrill" });
    // One at a time: harbor's drill began once northwind's had ended.
    expect(Date.parse(harborDrill!.startedAt)).toBeGreaterThanOrEqual(Date.parse(northwindDrill!.endedAt));
  }, 180_000);
});

describe("switchyard drill --mode planned", () => {
  const cli = (...args: string[]) => runCli("drill", ...args);

  it("drills the plan with every region up, prints each run's summary and the trend, and shares the history with the next drill of the same --out", async () => {
    const out = mkdtempSync(join(tmpdir(), "switchyard-planned-"));
    const plan = fileURLToPath(NORTHWIND);

    const first = await cli("--mode", "planned", "--plan", plan, "--out", out);
    const second = await cli("--mode", "planned", "--plan", plan, "--out", out, "--json");

    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^planned drill northwind-logistics: northwind-logistics\.\d{8}T\d{6}Z\.drill-[0-9a-f]{4} — a planned failover japaneast → japanwest, then a failback; every region up$/m);
    expect(first.stdout).toMatch(/^failover: completed \(japaneast → japanwest\) in /m);
    expect(first.stdout).toMatch(/^failback: completed \(japanwest → japaneast\) in /m);
    expect(first.stdout).toContain("RPO exposure: 0 s (budget 900 s; data loss allowed by: none)");
    expect(first.stdout).toMatch(/RTO trend \(failover, last 1 drill\(s\)\): .*no direction yet/);
    expect(first.stdout.trimEnd().split("\n").at(-1)).toMatch(/^planned drill passed in \d+\.\d s$/);
    expect(second.code).toBe(0);
    const result = JSON.parse(second.stdout);
    expect(result).toMatchObject({ outcome: "passed", ok: true, drillsKept: 2, timeScale: 3600 });
    expect(result.drills.trend.rtos).toHaveLength(2);
    expect(result.drills.trend.rtos.every((p: { projected: boolean }) => p.projected)).toBe(true);
    expect(JSON.parse(readFileSync(join(out, "drills", "northwind-logistics.json"), "utf8")).drills).toHaveLength(2);
    expect(existsSync(result.reportPath)).toBe(true);
    expect(readFileSync(result.reportPath, "utf8")).toContain("RTO trend (failover, last 2 drill(s))");
  }, 120_000);

  it("takes the outage drill's options for an outage only", async () => {
    const answer = await cli("--mode", "planned", "--no-failback", "--plan", fileURLToPath(NORTHWIND));

    expect(answer.code).toBe(2);
    expect(answer.stderr).toContain("--no-failback applies to --mode outage only");
  });
});
