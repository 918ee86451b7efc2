/**
 * Automatic detection end to end: the health timer (app.checkHealth(), what `switchyard serve` runs on
 * its interval) probes the estate's regional health endpoints, the quorum declares the primary down,
 * the policy starts a failover on the local durable host, and the run completes against the estate.
 *
 * Plans: test/fixtures/storage-only.plan.json (one RA-GRS account: its replication lag is measurable)
 * copied to temporary plan files, loaded as `switchyard serve --plan FILE` loads them, with two health
 * endpoints per region and autoFailover { enabled, quorum 2, downForSeconds 2, healthyForSeconds 300 (the floor) }.
 *
 * Timing. The app runs on the world's manual clock, and the test plays the timer: each health check
 * moves the clock INTERVAL_MS forward and calls app.checkHealth(), with no real waiting between checks,
 * so what detection decides depends on the checks and the clock alone, not on how fast the machine is.
 * A probe signal turns down at its second consecutive failure (failuresBeforeDown 2, the timer's
 * default), at that check's time, and the region is declared down at the first check at which both
 * probe signals have been down for downForSeconds. An outage that starts just before a check is
 * therefore detected one interval (the second failure) plus downForSeconds after it: with 250 ms and
 * 2 s, at the 10th check (check 9, counting the first failing check as 0), 2 250 ms after the outage.
 * (An outage at a random phase waits up to one more interval for its first failing probe.) The run
 * itself keeps orchestration time on the local durable host's own (real) clock, and the estate keeps
 * real time too: only detection and the activities read the manual clock.
 *
 * Figures (detection time, checks) are recorded as test annotations and in the assertion messages;
 * nothing is printed.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import type { RunOutput } from "../../src/core/run/model.ts";
import type { EvaluationSummary } from "../../src/detection/evaluate.ts";
import { detectionJournalId } from "../../src/detection/evaluate.ts";
import { storagePlanDocument, useServeWorld, type StoragePlanSpec } from "../helpers/serveWorld.ts";

const INTERVAL_MS = 250;
const AUTO = { enabled: true, quorum: 2, downForSeconds: 2, healthyForSeconds: 300 };
const LAG_SECONDS = 4;

const SPECS: StoragePlanSpec[] = [
  { name: "tailspin-auto", primary: "uksouth", secondary: "ukwest", account: "tailspinautomedia", autoFailover: AUTO },
  { name: "tailspin-flap", primary: "germanywestcentral", secondary: "germanynorth", account: "tailspinflapmedia", autoFailover: AUTO },
];

let dir: string | undefined;
const world = useServeWorld(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-plans-"));
  const files: string[] = [];
  for (const spec of SPECS) {
    const file = join(dir, `${spec.name}.plan.json`);
    await writeFile(file, JSON.stringify(storagePlanDocument(spec), null, 2));
    files.push(file);
  }
  return Promise.all(files.map((f) => loadPlanFile(f)));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Tick {
  /** ms of app time since the timer's first check. */
  readonly at: number;
  readonly summary: EvaluationSummary;
}

/**
 * The health timer, played on the app's clock: app.checkHealth() now, then every INTERVAL_MS of app
 * time (the clock is moved, nobody waits), until `stop` says so or `maxChecks` checks were made.
 */
async function timer(plan: string, options: { maxChecks: number; stop: (tick: Tick) => boolean | Promise<boolean> }): Promise<Tick[]> {
  const start = world.clock.now().getTime();
  const ticks: Tick[] = [];
  for (let k = 0; k < options.maxChecks; k++) {
    if (k > 0) world.clock.advance(INTERVAL_MS);
    const summaries = await world.app.checkHealth();
    const summary = summaries.find((s) => s.plan === plan);
    if (!summary) throw new Error(`no summary for plan ${plan}`);
    const tick = { at: world.clock.now().getTime() - start, summary };
    ticks.push(tick);
    if (await options.stop(tick)) break;
  }
  return ticks;
}

const code = (s: EvaluationSummary) => (s.decision.start ? "start" : s.decision.code);
const trace = (ticks: readonly Tick[]) => ticks.map((t) => `${t.at} ${code(t.summary)}`).join(", ");

/** The check at which a region that went down just before check 0 is due to be declared down. */
const dueCheck = (windowMs: number) => 1 + Math.ceil(windowMs / INTERVAL_MS);

interface Detection {
  /** App time from the outage to the check that started the run. */
  readonly detectionMs: number;
  /** The index of that check (0: the first check after the outage). */
  readonly startedAt: number;
  readonly runId: string;
  readonly output: RunOutput;
  readonly ticks: Tick[];
}

/**
 * Takes the plan's primary down just before a check and plays the timer until it starts a failover,
 * then a few checks more (while the run is in progress, or just after it), and waits for the run's end.
 */
async function outageToFailover(plan: Plan): Promise<Detection> {
  const primary = plan.regions.primary.name;
  await world.app.estate.setRegion(primary, { down: true, healthWhenDown: "refused" });
  let runId: string | undefined;
  let after = 0;
  const ticks = await timer(plan.name, {
    maxChecks: 40,
    stop: (tick) => {
      runId ??= tick.summary.started?.runId;
      return runId !== undefined && after++ >= 3;
    },
  });
  expect(runId, `no run started in ${ticks.length} checks: ${trace(ticks)}`).toBeDefined();
  const done = await world.app.runs.waitFor(plan.name);
  expect(done.status).toBe("completed");
  const startedAt = ticks.findIndex((t) => t.summary.started);
  return { detectionMs: ticks[startedAt]!.at, startedAt, runId: runId!, output: done.output as RunOutput, ticks };
}

describe("automatic detection and failover from the health timer", () => {
  it("an outage in the estate is detected and failed over automatically within the plan's detection window", async ({ annotate }) => {
    const plan = world.plan("tailspin-auto");
    const [primary, secondary] = [plan.regions.primary.name, plan.regions.secondary.name];
    const windowMs = plan.autoFailover.downForSeconds * 1000;
    world.app.estate.setLag(plan.storage[0]!.account.id, LAG_SECONDS);

    // Healthy: a few checks decide nothing.
    const baseline = await timer(plan.name, { maxChecks: 4, stop: () => false });
    expect(baseline.length).toBe(4);
    for (const t of baseline) expect([code(t.summary), t.summary.regions[primary]?.state]).toEqual(["not-down", "healthy"]);

    const d = await outageToFailover(plan);
    await annotate(`detection ${d.detectionMs} ms of app time (window ${windowMs} ms, health check every ${INTERVAL_MS} ms)`, "figures");
    const figures = `detection ${d.detectionMs} ms; checks (ms of app time after the outage, decision): ${trace(d.ticks)}`;

    // Not before the window (one flap is not an outage), and at the first health check after the
    // window had passed since the second failure: the window plus one interval after the outage.
    expect(d.startedAt, figures).toBe(dueCheck(windowMs));
    expect(d.detectionMs, figures).toBe(windowMs + INTERVAL_MS);

    // Exactly one start, by the timer, with the probes that decided it; then only "a run is in progress"
    // (or, once it has completed, nothing to do).
    const starts = d.ticks.filter((t) => t.summary.started);
    expect(starts).toHaveLength(1);
    const decided = starts[0]!.summary;
    expect(decided.started).toEqual({ runId: d.runId, from: primary, to: secondary });
    expect(decided.changes.map((c) => [c.region, c.to])).toEqual([[primary, "down"]]);
    expect(decided.changes[0]!.signals.map((s) => s.name).sort()).toEqual(plan.regions.primary.healthEndpoints.map((e) => e.url).sort());
    const after = d.ticks.slice(d.ticks.indexOf(starts[0]!) + 1).map((t) => code(t.summary));
    expect(after.filter((c) => c !== "run-in-progress" && c !== "not-down")).toEqual([]);
    const view = await world.app.runs.get(plan.name);
    expect(view).toMatchObject({ runId: d.runId, kind: "failover", trigger: { source: "timer", by: "switchyard detection" } });

    // The run: a forced failover allowed by the RPO gate (lag measured, within the RPO), completed.
    expect(d.output, figures).toMatchObject({ outcome: "completed", kind: "failover", from: primary, to: secondary, dataLossAllowedBy: "rpo-gate" });
    expect(d.output.rpoExposureSeconds).toBeLessThanOrEqual(plan.objectives.rpoSeconds);
    const failovers = world.app.estate.requests({ writesOnly: true }).filter((r) => r.operationId === "StorageAccounts_Failover" && r.status < 300);
    expect(failovers).toHaveLength(1);

    // The journals: the detection decision with its signals, the run's start.
    const detection = await world.app.journal.read(detectionJournalId(plan.name, world.clock.now()));
    expect(detection.filter((e) => e.message.startsWith(`region ${primary} declared down`))).toHaveLength(1);
    expect(detection.filter((e) => e.data?.decision === "start").map((e) => e.data?.runId)).toEqual([d.runId]);
    expect((await world.app.journal.read(d.runId)).filter((e) => e.kind === "run-started")).toHaveLength(1);

    // What the override API shows for the plan now (over HTTP).
    const shown = await world.request("GET", `/api/plans/${plan.name}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ regions: { currentPrimary: secondary }, currentRun: { runId: d.runId, status: "completed" }, detection: { regions: { [primary]: { state: "down" } } } });
  }, 45_000);

  it("a probe that flaps (down 3 checks, up 3 checks) with downForSeconds 2 never starts a run; held down, the same plan fails over", async ({ annotate }) => {
    const plan = world.plan("tailspin-flap");
    const primary = plan.regions.primary.name;
    world.app.estate.setLag(plan.storage[0]!.account.id, LAG_SECONDS);

    // Flap with the health checks: down for 3 checks, up for 3, eight times. A probe counts as down from
    // its second failure, so it is held down for 2 checks (500 ms of app time) each time, far from the
    // 2 s window.
    const PHASE = 3;
    const CHECKS = 8 * PHASE;
    await world.app.estate.setRegion(primary, { down: true, healthWhenDown: "refused" });
    /** Per check: how many of the primary's probe signals were down (as stored after the check). */
    const signalsDown: number[] = [];
    let k = 0;
    const ticks = await timer(plan.name, {
      maxChecks: CHECKS,
      stop: async () => {
        const state = await world.state(plan.name);
        signalsDown.push(Object.values(state.signals[primary] ?? {}).filter((s) => s.status === "down").length);
        k++;
        if (k >= CHECKS) {
          await world.app.estate.setRegion(primary, { down: false });
          return true;
        }
        await world.app.estate.setRegion(primary, { down: Math.floor(k / PHASE) % 2 === 0, healthWhenDown: "refused" });
        return false;
      },
    });
    expect(ticks.length).toBe(CHECKS);
    // The probes did report it down (a quorum of them, in each down phase), but never for the window.
    expect(signalsDown.filter((n) => n >= plan.autoFailover.quorum).length, `signals down per check: ${signalsDown.join(" ")}`).toBe(8);
    expect(ticks.map((t) => [t.summary.regions[primary]?.state, code(t.summary)]).filter(([state, c]) => state !== "healthy" || c !== "not-down")).toEqual([]);
    expect(ticks.flatMap((t) => t.summary.changes)).toEqual([]);
    expect(ticks.filter((t) => t.summary.started)).toEqual([]);
    expect(await world.app.runs.get(plan.name)).toBeUndefined();
    expect((await world.state(plan.name)).regions[primary]?.state).toBe("healthy");

    // The same plan and timer do fail over on an outage that lasts.
    const d = await outageToFailover(plan);
    const windowMs = plan.autoFailover.downForSeconds * 1000;
    await annotate(`flapping: ${ticks.length} checks over ${ticks.at(-1)!.at} ms of app time, no run; held down: detection ${d.detectionMs} ms`, "figures");
    expect(d.startedAt, `checks: ${trace(d.ticks)}`).toBe(dueCheck(windowMs));
    expect(d.detectionMs, `checks: ${trace(d.ticks)}`).toBe(windowMs + INTERVAL_MS);
    expect(d.output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "rpo-gate" });
  }, 45_000);
});
