/**
 * Automatic detection end to end: the health timer (app.checkHealth(), what `switchyard serve` runs on
 * its interval) probes the estate's regional health endpoints, the quorum declares the primary down,
 * the policy starts a failover on the local durable host, and the run completes against the estate.
 *
 * Plans: test/fixtures/storage-only.plan.json (one RA-GRS account: its replication lag is measurable)
 * copied to temporary plan files, loaded as `switchyard serve --plan FILE` loads them, with two health
 * endpoints per region and autoFailover { enabled, quorum 2, downForSeconds 2, healthyForSeconds 5 }.
 *
 * Timing. The timer ticks at a fixed rate of INTERVAL_MS. A probe signal turns down at its second
 * consecutive failure (failuresBeforeDown 2, the timer's default), and the region is declared down at
 * the first tick on which both probe signals have been down for downForSeconds. An outage that starts
 * just before a tick is therefore detected one interval (the second failure) plus downForSeconds
 * rounded up to a tick after it, plus the deciding tick's own work (probes, the state update, the
 * start): at most downForSeconds + 2 × interval while a tick takes less than an interval. (An outage
 * at a random phase waits up to one more interval for its first failing probe; the tests take the
 * region down just before a tick, so that the bound checked is the plan's window and the timer's
 * granularity.) With 250 ms, 2 s ends exactly on the 9th tick after the second failure; that tick's
 * evaluation clock is read after its probes answer, so it sees the full 2 s unless the tick of the
 * second failure started later than its due time by more than that (the assertion message carries
 * every tick's timing for such a case).
 *
 * Figures (detection time, time to a completed run) are recorded as test annotations and in the
 * assertion messages; nothing is printed.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { instanceIdFor, type RunOutput } from "../../src/core/run/model.ts";
import type { EvaluationSummary } from "../../src/detection/evaluate.ts";
import { detectionJournalId } from "../../src/detection/evaluate.ts";
import { sleep, storagePlanDocument, useServeWorld, type StoragePlanSpec } from "../helpers/serveWorld.ts";

const INTERVAL_MS = 250;
const AUTO = { enabled: true, quorum: 2, downForSeconds: 2, healthyForSeconds: 5 };
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
  /** ms since the loop's start when the tick began and ended. */
  readonly began: number;
  readonly ended: number;
  readonly summary: EvaluationSummary;
}

/**
 * The health timer: app.checkHealth() at a fixed rate (tick k is due at start + k × interval; a tick
 * never overlaps the previous one), until `stop` says so or `maxMs` passed. The first tick is at once.
 */
async function timer(plan: string, options: { start?: number; maxMs: number; stop: (tick: Tick) => boolean | Promise<boolean> }): Promise<Tick[]> {
  const start = options.start ?? performance.now();
  const ticks: Tick[] = [];
  for (let k = 0; ; k++) {
    const due = start + k * INTERVAL_MS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const began = performance.now() - start;
    if (began > options.maxMs) return ticks;
    const summaries = await world.app.checkHealth();
    const summary = summaries.find((s) => s.plan === plan);
    if (!summary) throw new Error(`no summary for plan ${plan}`);
    const tick = { began, ended: performance.now() - start, summary };
    ticks.push(tick);
    if (await options.stop(tick)) return ticks;
  }
}

const code = (s: EvaluationSummary) => (s.decision.start ? "start" : s.decision.code);

/**
 * How many health checks late the run started: 0 when it started at the first check that saw the
 * probes down (two failures: the second check) for the whole window.
 */
function startTickLag(d: Detection, windowMs: number): number {
  const startedAt = d.ticks.findIndex((t) => t.summary.started);
  const downSince = d.ticks[1]?.began ?? 0;
  const due = d.ticks.findIndex((t) => t.began - downSince >= windowMs);
  return due < 0 ? Number.POSITIVE_INFINITY : startedAt - due;
}
const trace = (ticks: readonly Tick[]) => ticks.map((t) => `${Math.round(t.began)}-${Math.round(t.ended)} ${code(t.summary)}`).join(", ");

interface Detection {
  readonly detectionMs: number;
  readonly completedMs: number;
  readonly runId: string;
  readonly output: RunOutput;
  readonly ticks: Tick[];
}

/**
 * Takes the plan's primary down just before a tick and runs the timer until the failover it starts has
 * finished. Detection = outage → the run's start (the durable instance's creation time).
 */
async function outageToFailover(plan: Plan): Promise<Detection> {
  const primary = plan.regions.primary.name;
  const outageWall = Date.now();
  const start = performance.now();
  await world.app.estate.setRegion(primary, { down: true, healthWhenDown: "refused" });
  let runId: string | undefined;
  const ticks = await timer(plan.name, {
    start,
    maxMs: 30_000,
    stop: async (tick) => {
      runId ??= tick.summary.started?.runId;
      if (!runId) return false;
      const view = await world.app.runs.get(plan.name);
      return view !== undefined && view.status !== "running" && view.status !== "pending";
    },
  });
  const completedMs = performance.now() - start;
  expect(runId, `no run started in ${ticks.length} ticks: ${ticks.map((t) => code(t.summary)).join(", ")}`).toBeDefined();
  const status = await world.app.host.getStatus(instanceIdFor(plan.name));
  expect(status?.runtimeStatus).toBe("Completed");
  return { detectionMs: Date.parse(status!.createdTime) - outageWall, completedMs, runId: runId!, output: status!.output as RunOutput, ticks };
}

describe("automatic detection and failover from the health timer", () => {
  it("an outage in the estate is detected and failed over automatically within the plan's detection window", async ({ annotate }) => {
    const plan = world.plan("tailspin-auto");
    const [primary, secondary] = [plan.regions.primary.name, plan.regions.secondary.name];
    const windowMs = plan.autoFailover.downForSeconds * 1000;
    world.app.estate.setLag(plan.storage[0]!.account.id, LAG_SECONDS);

    // Healthy: a few ticks decide nothing.
    const baseline = await timer(plan.name, { maxMs: 3 * INTERVAL_MS, stop: () => false });
    expect(baseline.length).toBeGreaterThanOrEqual(3);
    for (const t of baseline) expect([code(t.summary), t.summary.regions[primary]?.state]).toEqual(["not-down", "healthy"]);

    const d = await outageToFailover(plan);
    await annotate(`detection ${d.detectionMs} ms (window ${windowMs} ms, health check every ${INTERVAL_MS} ms); outage → completed run ${Math.round(d.completedMs)} ms`, "figures");
    const figures = `detection ${d.detectionMs} ms, completed run at ${Math.round(d.completedMs)} ms after the outage; ticks (ms after the outage: began-ended decision): ${trace(d.ticks)}`;

    // Not before the window (one flap is not an outage), and at the first health check after the
    // window had passed (counted in checks, not milliseconds: a slow machine makes checks late, not wrong).
    expect(d.detectionMs, figures).toBeGreaterThanOrEqual(windowMs);
    expect(startTickLag(d, windowMs), figures).toBeLessThanOrEqual(1);

    // Exactly one start, by the timer, with the probes that decided it; then only "a run is in progress".
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
    const detection = await world.app.journal.read(detectionJournalId(plan.name, new Date()));
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

    // Flap with the health checks, not the wall clock: down for 3 checks, up for 3, eight times. A probe
    // counts as down from its second failure, so it is held down for about 2 checks (~0.5 s) each time,
    // far from the 2 s window even if the machine stalls a check or two.
    const PHASE = 3;
    const CHECKS = 8 * PHASE;
    await world.app.estate.setRegion(primary, { down: true, healthWhenDown: "refused" });
    /** Per tick: how many of the primary's probe signals were down (as stored after the tick). */
    const signalsDown: number[] = [];
    let k = 0;
    const ticks = await timer(plan.name, {
      maxMs: 60_000,
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
    expect(signalsDown.filter((n) => n >= plan.autoFailover.quorum).length, `signals down per tick: ${signalsDown.join(" ")}`).toBeGreaterThanOrEqual(3);
    expect(ticks.map((t) => [t.summary.regions[primary]?.state, code(t.summary)]).filter(([state, c]) => state !== "healthy" || c !== "not-down")).toEqual([]);
    expect(ticks.flatMap((t) => t.summary.changes)).toEqual([]);
    expect(ticks.filter((t) => t.summary.started)).toEqual([]);
    expect(await world.app.runs.get(plan.name)).toBeUndefined();
    expect((await world.state(plan.name)).regions[primary]?.state).toBe("healthy");

    // The same plan and timer do fail over on an outage that lasts.
    const d = await outageToFailover(plan);
    await annotate(`flapping: ${ticks.length} ticks over ${Math.round(ticks.at(-1)!.ended)} ms, no run; held down: detection ${d.detectionMs} ms`, "figures");
    expect(d.detectionMs, `detection ${d.detectionMs} ms; ticks: ${trace(d.ticks)}`).toBeGreaterThanOrEqual(plan.autoFailover.downForSeconds * 1000);
    expect(startTickLag(d, plan.autoFailover.downForSeconds * 1000), `ticks: ${trace(d.ticks)}`).toBeLessThanOrEqual(1);
    expect(d.output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "rpo-gate" });
  }, 45_000);
});
