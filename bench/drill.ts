/**
 * Drill benchmark: how much time Switchyard itself adds to a regional failover and failback, and how far
 * a run is from the fastest Azure could possibly do the same work. A measurement: it fails (exit code 1)
 * only when a drill does not complete or a run's Azure writes differ from what the model expects.
 *
 *   BENCH_DRILLS  drills per plan (default 3); each drill is a failover then a failback
 *   BENCH_SCALE   time scale (default 3600: one hour of Azure time lasts one second)
 *   BENCH_PLAN    plan file (default examples/contoso.plan.yaml)
 *
 * ── What runs ────────────────────────────────────────────────────────────────────────────────────
 * `runDrill` (src/local/drill.ts) on the local estate, Azurite and the local durable host, with the real
 * orchestration and activities, at time scale BENCH_SCALE: the estate applies the Azure time profile
 * (estate/profile.ts) itself — request latency per operation id, long-running operation durations,
 * after-effects (app restart, Front Door propagation, storage initial geo sync) — each divided by the
 * scale. The benchmark adds no latency, faults or durations of its own. Scenario: the plan's primary
 * region is down (health endpoints refuse connections, control plane down); the failover therefore needs
 * a data-loss approval, which the drill gives at once; then the region comes back and the drill fails
 * back. Two plans: the one given, and the same plan without storage accounts (and without the secrets
 * that name one), so that the storage failover's hour does not hide everything else.
 *
 * ── What is measured ─────────────────────────────────────────────────────────────────────────────
 * Each step's start and end as the run records them (`output.steps`), plus `start`: from the drill
 * starting the orchestration to its first step. The approval step is human time and is left out of the
 * run's time and of the bound alike. `run` = start → last step, less the approval. To say where the
 * time goes, the local durable host's episodes (replay + keeping the instance in Azurite, with the
 * history's size) and the journal's appends and reads are timed, and each long-running operation's
 * first status read after its end says how late the run saw it done.
 *
 * ── The physical bound ───────────────────────────────────────────────────────────────────────────
 * The least time Azure itself needs for the same change, with every parallelism the dependencies
 * allow (bench/drillModel.ts builds it from the plan's resource mix and prices it from estate/profile.ts):
 *   reprotect (failback)  geo-redundancy back by one SKU update per account, then Azure's initial geo sync
 *   data-tier             every SQL group and storage account at once: the write's latency + the
 *                         operation + one status read; the longest (a storage failover) sets the phase
 *   settings              per site whose values differ: list + write (a PUT replaces the whole set),
 *                         then the app restart when the site is in the target region (traffic waits for it)
 *   traffic               one Front Door ARM operation per resource, all origins at once; a classic
 *                         Front Door is one GET + one PUT
 *   verify                one propagation to the edge (from the end of the ARM operation) + one read
 *   restore-redundancy    the zone conversion's start request (the run does not wait for it)
 *   assess, measure, check-reprotection, start: no Azure operation is physically needed: all Switchyard's
 * The run's bound is the sum of its phases (data tier → settings → traffic → verify are dependent).
 * Switchyard adds = measured − bound, per phase and per run, in local milliseconds; projected to Azure
 * time it is × the scale — an upper bound, since most of it is the local host's per-episode cost, which
 * the scale magnifies (README, Limitations). The ratio is measured ÷ bound, both at the estate's figures.
 * A phase can show a negative difference when Azure's work finishes during an earlier phase's overhead
 * (propagation starts inside traffic and is only waited for in verify).
 *
 * ── Model check ──────────────────────────────────────────────────────────────────────────────────
 * Each run's Azure writes (the estate's request log, by operation id; storage failovers by type) are
 * compared with the writes the model expects for the plan and what Azure holds at that point: e.g. one
 * tryPlannedBeforeForcedFailover per SQL group and one unplanned storage failover per account in the
 * failover, settings writes only for sites whose values differ and whose region is up, one AFD PATCH per
 * origin that changes, one classic PUT per pool entry. A difference is printed and fails the benchmark.
 *
 * ── RTO ──────────────────────────────────────────────────────────────────────────────────────────
 * Projected end to end at Azure durations: outage → declared down (the plan's autoFailover.downForSeconds,
 * plus up to one period of the healthProbe timer, every 60 s: src/functions/http.ts) → the run
 * (measured × scale, approval excluded) → verified; next to it the same with the physical bound.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import type { Scenario } from "../estate/scenario.ts";
import type { Estate, LoggedRequest } from "../estate/server.ts";
import { loadPlanFile, parsePlanText, type Plan } from "../src/core/plan/index.ts";
import type { RunOutput } from "../src/core/run/model.ts";
import { DEFAULT_FAILURES_BEFORE_DOWN } from "../src/detection/evaluate.ts";
import { BlobJournal } from "../src/journal/blobJournal.ts";
import { runDrill, type DrillRun } from "../src/local/drill.ts";
import { LocalDurableHost } from "../src/durable/durableHost.ts";
import { BlobInstanceStore } from "../src/durable/instanceStore.ts";
import { azurePrices, describeChain, initialView, localPrices, modelRun, phaseBound, sum, writeKey, type Chain, type RunModel } from "./drillModel.ts";

/** Request log APIs that are not Azure resources: the estate's control endpoints and the notification channels. */
const NOT_AZURE_WRITES: ReadonlySet<string> = new Set(["control", "channel", "communication"]);

const DRILLS = Math.round(positive(process.env.BENCH_DRILLS, 3));
const SCALE = positive(process.env.BENCH_SCALE, 3600);
const PLAN_FILE = process.env.BENCH_PLAN ? resolve(process.env.BENCH_PLAN) : fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url));
/** The healthProbe timer's period (src/functions/http.ts: "0 *\/1 * * * *"). */
const HEALTH_TIMER_SECONDS = 60;

const AZURE = azurePrices();
const LOCAL = localPrices(SCALE);

// ---- instrumentation: where Switchyard's time goes -------------------------------------------------

interface Sample {
  readonly label: "episode" | "put" | "append" | "read";
  readonly at: number;
  readonly ms: number;
  readonly bytes?: number;
  readonly events?: number;
}
const samples: Sample[] = [];
const restores: (() => void)[] = [];

function instrument(proto: object, method: string, label: Sample["label"], measure?: (args: unknown[]) => Pick<Sample, "bytes" | "events">): void {
  const target = proto as Record<string, unknown>;
  const original = target[method];
  if (typeof original !== "function") throw new Error(`bench: ${method} is no longer a method to instrument`);
  target[method] = async function (this: unknown, ...args: unknown[]) {
    const at = Date.now();
    const t = performance.now();
    try {
      return await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
    } finally {
      samples.push({ label, at, ms: performance.now() - t, ...measure?.(args) });
    }
  };
  restores.push(() => (target[method] = original));
}

instrument(LocalDurableHost.prototype, "episode", "episode");
instrument(BlobInstanceStore.prototype, "put", "put", ([state, json]) => ({
  bytes: typeof json === "string" ? Buffer.byteLength(json) : undefined,
  events: (state as { history?: unknown[] } | undefined)?.history?.length,
}));
instrument(BlobJournal.prototype, "append", "append");
instrument(BlobJournal.prototype, "read", "read");

// ---- one drill ------------------------------------------------------------------------------------

interface PhaseResult {
  readonly phase: string;
  readonly measuredMs: number;
  readonly localBoundMs: number;
  readonly azureBoundMs: number;
  readonly critical?: Chain;
}

interface RunResult {
  readonly model: RunModel;
  readonly phases: readonly PhaseResult[];
  readonly approvalMs: number;
  /** Orchestration started → last step ended, less the approval. */
  readonly runMs: number;
  /** Orchestration started → verify ended, less the approval (the part of the RTO the run owns). */
  readonly toVerifiedMs: number;
  readonly localBoundMs: number;
  readonly azureBoundMs: number;
  /** Bound up to verify (restore-redundancy comes after the RTO). */
  readonly azureBoundToVerifiedMs: number;
  readonly mismatches: readonly string[];
  readonly writes: ReadonlyMap<string, number>;
  readonly requests: number;
  readonly polls: number;
  readonly episodes: { readonly n: number; readonly ms: number; readonly maxEvents: number; readonly maxBytes: number };
  readonly journal: { readonly appends: number; readonly reads: number };
  readonly seenLateMs: readonly number[];
  readonly drillRun: DrillRun;
}

interface DrillSample {
  readonly wallSeconds: number;
  readonly runs: readonly RunResult[];
  /** Writes no run accounts for. */
  readonly stray: readonly string[];
}

const stepMs = (s: { startedAt: string; endedAt: string }) => Date.parse(s.endedAt) - Date.parse(s.startedAt);

function analyse(drillRun: DrillRun, startedAt: number, model: RunModel, log: readonly LoggedRequest[], estate: Estate): RunResult {
  const output: RunOutput = drillRun.output;
  const steps = output.steps.filter((s) => s.step !== "approval");
  const approvalMs = sum(output.steps.filter((s) => s.step === "approval").map(stepMs));
  const first = steps[0];
  const last = steps.at(-1);
  const verify = steps.find((s) => s.step === "verify");
  if (!first || !last || !verify) throw new Error(`the ${output.kind} recorded no verify step`);

  // Phases as the run took them, against the model's.
  const taken = steps.map((s) => s.step).join(" → ");
  const modelled = model.phases.map((p) => p.phase).join(" → ");
  const phases: PhaseResult[] = [
    { phase: "start", measuredMs: Date.parse(first.startedAt) - startedAt, localBoundMs: 0, azureBoundMs: 0 },
    ...steps.map((s) => {
      const phase = model.phases.find((p) => p.phase === s.step) ?? { phase: s.step, chains: [] };
      const local = phaseBound(phase, LOCAL);
      const azure = phaseBound(phase, AZURE);
      return { phase: s.step, measuredMs: stepMs(s), localBoundMs: local.ms, azureBoundMs: azure.ms, ...(azure.critical ? { critical: azure.critical } : {}) };
    }),
  ];
  const end = Date.parse(last.endedAt);
  const untilVerify = phases.slice(0, phases.findIndex((p) => p.phase === "verify") + 1);

  // The run's Azure requests: those logged between its start and its last step.
  // Notifications (channel posts, ACS email sends) are not Azure resources' writes: the model leaves them out.
  const inRun = log.filter((r) => !NOT_AZURE_WRITES.has(r.api) && Date.parse(r.time) >= startedAt && Date.parse(r.time) <= end);
  const writes = new Map<string, number>();
  for (const r of inRun.filter((r) => r.write)) writes.set(writeKey(r.operationId, r.query), (writes.get(writeKey(r.operationId, r.query)) ?? 0) + 1);
  const mismatches = [...new Set([...model.writes.keys(), ...writes.keys()])]
    .filter((op) => (model.writes.get(op) ?? 0) !== (writes.get(op) ?? 0))
    .map((op) => `${op}: modelled ${model.writes.get(op) ?? 0}, made ${writes.get(op) ?? 0}`);
  for (const r of inRun.filter((r) => r.write && r.status >= 300)) mismatches.push(`${r.method} ${r.operationId} answered ${r.status}`);
  if (taken !== modelled) mismatches.push(`steps ${taken}; the model has ${modelled}`);

  // How late each long-running operation was seen done: its first status read after it was due.
  const seenLateMs = estate.operations
    .list()
    .filter((op) => op.startTime >= startedAt && op.startTime <= end)
    .flatMap((op) => {
      const seen = inRun.filter((r) => r.path.includes(op.id) && Date.parse(r.time) >= op.dueAt).map((r) => Date.parse(r.time));
      return seen.length > 0 ? [Math.min(...seen) - op.dueAt] : [];
    });

  const mine = samples.filter((s) => s.at >= startedAt && s.at <= end);
  const of = (label: Sample["label"]) => mine.filter((s) => s.label === label);
  const puts = of("put");
  const localBoundMs = sum(phases.map((p) => p.localBoundMs));
  return {
    model,
    phases,
    approvalMs,
    runMs: end - startedAt - approvalMs,
    toVerifiedMs: Date.parse(verify.endedAt) - startedAt - approvalMs,
    localBoundMs,
    azureBoundMs: sum(phases.map((p) => p.azureBoundMs)),
    azureBoundToVerifiedMs: sum(untilVerify.map((p) => p.azureBoundMs)),
    mismatches,
    writes,
    requests: inRun.length,
    polls: inRun.filter((r) => r.operationId === "Operations_GetStatus").length,
    episodes: {
      n: of("episode").length,
      ms: sum(of("episode").map((s) => s.ms)),
      maxEvents: Math.max(0, ...puts.map((s) => s.events ?? 0)),
      maxBytes: Math.max(0, ...puts.map((s) => s.bytes ?? 0)),
    },
    journal: { appends: of("append").length, reads: of("read").length },
    seenLateMs,
    drillRun,
  };
}

async function drill(plan: Plan, outputDir: string): Promise<DrillSample> {
  const seen: { estate?: Estate } = {};
  const started: Partial<Record<RunOutput["kind"], number>> = {};
  const progress = (line: string) => {
    const m = /^(failover|failback) \S+: /.exec(line);
    if (m) started[m[1] as RunOutput["kind"]] ??= Date.now();
  };
  const { primary, secondary } = plan.regions;
  const scenario: Scenario = { regions: { [primary.name]: { down: true, healthWhenDown: "refused", controlPlane: "down" } } };
  const result = await runDrill({ plan, timeScale: SCALE, scenario, failback: true, approve: true, outputDir, progress, inspect: (app) => void (seen.estate = app.estate) });
  const estate = seen.estate;
  if (!estate) throw new Error("runDrill did not show the benchmark its estate");
  for (const run of [result.failover, result.failback]) {
    if (run && run.output.outcome !== "completed") throw new Error(`${plan.name}: the ${run.output.kind} ended ${run.output.outcome}: ${run.output.message}`);
  }
  if (!result.failback) throw new Error(`${plan.name}: the drill did not fail back`);

  const log = estate.requests();
  const view = initialView(plan);
  const models = [
    modelRun(plan, view, { kind: "failover", from: primary.name, to: secondary.name, fromDown: true }),
    modelRun(plan, view, { kind: "failback", from: secondary.name, to: primary.name, fromDown: false }),
  ];
  const runs = [result.failover, result.failback].map((run, i) => {
    const at = started[run.output.kind];
    if (at === undefined) throw new Error(`the drill never said it started the ${run.output.kind}`);
    return analyse(run, at, models[i]!, log, estate);
  });
  // A write outside both runs is one nobody modelled.
  const windows = runs.map((r) => [started[r.model.kind]!, started[r.model.kind]! + r.runMs + r.approvalMs] as const);
  const stray = log.filter((r) => r.write && !NOT_AZURE_WRITES.has(r.api) && !windows.some(([a, b]) => Date.parse(r.time) >= a && Date.parse(r.time) <= b));
  return { wallSeconds: result.wallSeconds, runs, stray: stray.map((r) => `${r.method} ${r.operationId} outside both runs`) };
}

// ---- the plans --------------------------------------------------------------------------------------

/** The plan without storage: no accounts, and no secret whose source is a storage account. */
async function withoutStorage(file: string): Promise<Plan> {
  const doc = parse(await readFile(file, "utf8")) as { name: string; storage?: unknown; secrets?: { source?: { account?: unknown } }[] };
  const namesStorage = (s: { source?: { account?: unknown } }) => typeof s.source?.account === "string" && /\/providers\/Microsoft\.Storage\/storageAccounts\//i.test(s.source.account);
  const { storage: _dropped, ...rest } = doc;
  return parsePlanText(stringify({ ...rest, name: `${doc.name}-no-storage`, secrets: (doc.secrets ?? []).filter((s) => !namesStorage(s)) }), `${file} without storage`);
}

function mix(plan: Plan): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  return [
    n(plan.sql.length, "SQL group"),
    n(plan.storage.length, "storage account"),
    n(plan.frontDoor.standard.length, "AFD origin group"),
    n(plan.frontDoor.classic.length, "classic Front Door pool"),
    n(plan.appService.length, "site"),
  ].join(", ");
}

// ---- formatting ---------------------------------------------------------------------------------------

function positive(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && text !== "" && Number.isFinite(value) && value > 0 ? value : fallback;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmtMs = (ms: number) => `${Math.round(ms).toLocaleString("en-US")} ms`;
const signedMs = (ms: number) => `${ms >= 0 ? "+" : "−"}${fmtMs(Math.abs(ms))}`;

/** Azure time for people: `0.25 s`, `12 min 5 s`, `3 h 20 min`; signed when asked. */
function fmtAzure(ms: number, signed = false): string {
  const sign = signed ? (ms >= 0 ? "+" : "−") : ms < 0 ? "−" : "";
  const s = Math.abs(ms) / 1000;
  let text: string;
  if (s < 10) text = `${Number(s.toFixed(2))} s`;
  else if (s < 60) text = `${Math.round(s)} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  else {
    const minutes = Math.round(s / 60);
    text = `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }
  return `${sign}${text}`;
}

const ratio = (measured: number, bound: number) => (bound > 0 ? (measured / bound).toFixed(2) : "—");

// ---- main -----------------------------------------------------------------------------------------------

const benchStarted = Date.now();
const outputDir = await mkdtemp(join(tmpdir(), "switchyard-bench-"));
const results: { plan: Plan; drills: DrillSample[] }[] = [];
let failure: string | undefined;
try {
  const plans = [await loadPlanFile(PLAN_FILE), await withoutStorage(PLAN_FILE)];
  console.log(`\ndrill benchmark: ${DRILLS} drill(s) per plan at time scale ${SCALE} (1 h of Azure time = ${fmtMs(3_600_000 / SCALE)} local), figures from estate/profile.ts`);
  console.log(`  scenario: the primary region down (health refused, control plane down), data-loss approval given at once, then failback`);
  for (const plan of plans) {
    console.log(`plan ${plan.name}: ${mix(plan)}`);
    const drills: DrillSample[] = [];
    for (let i = 1; i <= DRILLS; i++) {
      const sample = await drill(plan, outputDir);
      drills.push(sample);
      const runs = sample.runs.map((r) => `${r.model.kind} ${fmtMs(r.runMs)} (bound ${fmtMs(r.localBoundMs)})`).join("; ");
      const mismatches = [...sample.runs.flatMap((r) => r.mismatches), ...sample.stray];
      console.log(`  drill ${i}/${DRILLS}: ${sample.wallSeconds.toFixed(1)} s wall; ${runs}; model ${mismatches.length === 0 ? "ok" : "MISMATCH"}`);
    }
    results.push({ plan, drills });
  }
} catch (error) {
  failure = error instanceof Error ? error.message : String(error);
} finally {
  for (const restore of restores) restore();
  await rm(outputDir, { recursive: true, force: true });
}

for (const { plan, drills } of results) report(plan, drills);
summary();

function report(plan: Plan, drills: readonly DrillSample[]): void {
  for (const kind of ["failover", "failback"] as const) {
    const runs = drills.map((d) => d.runs.find((r) => r.model.kind === kind)!);
    const example = runs[0]!;
    const { from, to } = example.model;
    console.log(`\n${plan.name} — ${kind} ${from} → ${to} (median of ${runs.length}; approval wait excluded: ${fmtMs(median(runs.map((r) => r.approvalMs)))})`);
    console.log(`  ${"phase".padEnd(20)} ${"measured".padStart(10)} ${"bound".padStart(10)} ${"Switchyard adds".padStart(16)} ${"× scale".padStart(14)}   ${"bound at Azure durations".padStart(24)}`);
    for (const phase of example.phases) {
      const measured = median(runs.map((r) => r.phases.find((p) => p.phase === phase.phase)?.measuredMs ?? Number.NaN));
      const added = measured - phase.localBoundMs;
      console.log(`  ${phase.phase.padEnd(20)} ${fmtMs(measured).padStart(10)} ${fmtMs(phase.localBoundMs).padStart(10)} ${signedMs(added).padStart(16)} ${fmtAzure(added * SCALE, true).padStart(14)}   ${fmtAzure(phase.azureBoundMs).padStart(24)}`);
    }
    const measured = median(runs.map((r) => r.runMs));
    const added = measured - example.localBoundMs;
    console.log(`  ${"run".padEnd(20)} ${fmtMs(measured).padStart(10)} ${fmtMs(example.localBoundMs).padStart(10)} ${signedMs(added).padStart(16)} ${fmtAzure(added * SCALE, true).padStart(14)}   ${fmtAzure(example.azureBoundMs).padStart(24)}   ratio ${ratio(measured, example.localBoundMs)}`);
    console.log(`  critical path at Azure durations:`);
    for (const phase of example.phases.filter((p) => p.critical)) console.log(`    ${phase.phase}: ${describeChain(phase.critical!, AZURE, (ms) => fmtAzure(ms))}`);
    for (const [scope, changes] of example.model.frontDoorChanges) {
      if (changes > 1) {
        console.log(`    note: ${changes} changes of ${scope} queue behind each other on their way to the edge (Front Door FAQ): ${fmtAzure(changes * AZURE.effect("frontDoorPropagation"))} of propagation, the bound counts one`);
      }
    }
    const late = runs.flatMap((r) => r.seenLateMs);
    console.log(
      `  where Switchyard's time goes (median per run): ${median(runs.map((r) => r.requests))} Azure requests (${median(runs.map((r) => r.polls))} status polls); ` +
        `${median(runs.map((r) => r.episodes.n))} host episodes, ${fmtMs(median(runs.map((r) => r.episodes.ms / Math.max(1, r.episodes.n))))} each ` +
        `(history up to ${median(runs.map((r) => r.episodes.maxEvents))} events, ${Math.round(median(runs.map((r) => r.episodes.maxBytes)) / 1024)} KiB kept per episode); ` +
        `${median(runs.map((r) => r.journal.appends))} journal appends, ${median(runs.map((r) => r.journal.reads))} journal reads; ` +
        `operations seen done ${late.length > 0 ? `${fmtMs(median(late))} (median), ${fmtMs(Math.max(...late))} (max) after they ended` : "—"}`,
    );
    const mismatches = [...new Set(runs.flatMap((r) => r.mismatches))];
    const made = [...example.writes].map(([op, n]) => `${op} ×${n}`).join(", ") || "none";
    console.log(`  model check: ${mismatches.length === 0 ? `ok — writes as modelled: ${made}` : `MISMATCH — ${mismatches.join("; ")}`}`);
    if (kind === "failover") printRto(plan, runs);
  }
}

function printRto(plan: Plan, runs: readonly RunResult[]): void {
  const downFor = plan.autoFailover.downForSeconds * 1000;
  const detection = [downFor, downFor + HEALTH_TIMER_SECONDS * 1000] as const;
  const run = median(runs.map((r) => r.toVerifiedMs)) * SCALE;
  const bound = runs[0]!.azureBoundToVerifiedMs;
  const target = plan.objectives.rtoMinutes * 60_000;
  const verdict = (ms: number) => (ms <= target ? "met" : "missed");
  console.log(`  RTO at Azure durations (target ${fmtAzure(target)}), outage → declared down → run → verified:`);
  console.log(
    `    projected: detection ${fmtAzure(detection[0])}–${fmtAzure(detection[1])} (downForSeconds ${plan.autoFailover.downForSeconds} + up to one ${HEALTH_TIMER_SECONDS} s health-timer period) + run ${fmtAzure(run)} (measured × ${SCALE}, approval excluded) = ${fmtAzure(detection[0] + run)}–${fmtAzure(detection[1] + run)}: ${verdict(detection[1] + run)}`,
  );
  console.log(`    physical:  detection ${fmtAzure(detection[0])}–${fmtAzure(detection[1])} + critical path ${fmtAzure(bound)} = ${fmtAzure(detection[0] + bound)}–${fmtAzure(detection[1] + bound)}: ${verdict(detection[1] + bound)}`);
  console.log(`    (health probes alone turn down after ${DEFAULT_FAILURES_BEFORE_DOWN} consecutive failures, one timer period apart: ${fmtAzure((DEFAULT_FAILURES_BEFORE_DOWN - 1) * HEALTH_TIMER_SECONDS * 1000)} more when no alert or Front Door signal makes the quorum)`);
  const own = runs.map((r) => r.drillRun.output.rtoSeconds).filter((s): s is number => s !== null);
  if (own.length > 0) console.log(`    the run's own RTO (drill outage → verified, approval wait and run start included): ${median(own)} s local = ${fmtAzure(median(own) * 1000 * SCALE)}`);
  const userFacing = runs.map((r) => userFacingRto(r.drillRun));
  if (userFacing.every((v) => v === undefined)) {
    console.log(`    user-facing RTO: not reported (DrillRun has no userFacingRtoSeconds)`);
  } else {
    const values = userFacing.filter((v): v is number => typeof v === "number");
    console.log(
      `    user-facing RTO (outage → first request through Front Door served by the new primary, data tier writable): ` +
        (values.length > 0 ? `${median(values)} s local = ${fmtAzure(median(values) * 1000 * SCALE)}, next to the run's ${median(own)} s` : "not reached"),
    );
  }
}

/** `DrillRun.userFacingRtoSeconds` when the drill reports it (local seconds, as rtoSeconds); undefined when it has no such field. */
function userFacingRto(run: DrillRun): number | null | undefined {
  if (!("userFacingRtoSeconds" in run)) return undefined;
  const value = (run as { userFacingRtoSeconds?: unknown }).userFacingRtoSeconds;
  return typeof value === "number" ? value : null;
}

function summary(): void {
  const mismatches = results.flatMap(({ plan, drills }) =>
    drills.flatMap((d) => [...d.runs.flatMap((r) => r.mismatches.map((m) => `${plan.name} ${r.model.kind}: ${m}`)), ...d.stray.map((m) => `${plan.name}: ${m}`)]),
  );
  console.log(`\nsummary — drill benchmark at time scale ${SCALE}, ${DRILLS} drill(s) per plan, medians; "adds" = measured − physical bound`);
  console.log(`  ${"plan".padEnd(28)} ${"run".padEnd(9)} ${"measured".padStart(10)} ${"bound".padStart(10)} ${"adds".padStart(10)} ${"adds × scale".padStart(13)} ${"ratio".padStart(6)}   ${"RTO projected".padStart(22)}   ${"RTO physical".padStart(22)}`);
  for (const { plan, drills } of results) {
    for (const kind of ["failover", "failback"] as const) {
      const runs = drills.map((d) => d.runs.find((r) => r.model.kind === kind)!);
      const measured = median(runs.map((r) => r.runMs));
      const bound = runs[0]!.localBoundMs;
      let rto = ["—", "—"];
      if (kind === "failover") {
        const downFor = plan.autoFailover.downForSeconds * 1000;
        const run = median(runs.map((r) => r.toVerifiedMs)) * SCALE;
        const physical = runs[0]!.azureBoundToVerifiedMs;
        const span = (ms: number) => `${fmtAzure(downFor + ms)}–${fmtAzure(downFor + HEALTH_TIMER_SECONDS * 1000 + ms)}`;
        rto = [span(run), span(physical)];
      }
      console.log(
        `  ${plan.name.padEnd(28)} ${kind.padEnd(9)} ${fmtMs(measured).padStart(10)} ${fmtMs(bound).padStart(10)} ${signedMs(measured - bound).padStart(10)} ${fmtAzure((measured - bound) * SCALE, true).padStart(13)} ${ratio(measured, bound).padStart(6)}   ${rto[0]!.padStart(22)}   ${rto[1]!.padStart(22)}`,
      );
    }
    const failovers = drills.map((d) => d.runs.find((r) => r.model.kind === "failover")!.drillRun);
    const own = failovers.map((r) => r.output.rtoSeconds).filter((s): s is number => s !== null);
    const users = failovers.map(userFacingRto).filter((s): s is number => typeof s === "number");
    console.log(
      `  ${"".padEnd(28)} RTO target ${fmtAzure(plan.objectives.rtoMinutes * 60_000)}; drill outage → verified ${own.length > 0 ? fmtAzure(median(own) * 1000 * SCALE) : "—"}` +
        `, → users served for good ${users.length > 0 ? fmtAzure(median(users) * 1000 * SCALE) : failovers.some((r) => "userFacingRtoSeconds" in r) ? "not reached" : "not reported"} (no detection, approval wait included, × scale)` +
        `; drill wall time ${median(drills.map((d) => d.wallSeconds)).toFixed(1)} s (median, estate and Azurite start included)`,
    );
  }
  console.log(`  model check: ${mismatches.length === 0 ? `ok (${results.reduce((n, r) => n + r.drills.length * 2, 0)} runs)` : `MISMATCH\n${mismatches.map((m) => `    ${m}`).join("\n")}`}`);
  if (failure) console.log(`  stopped: ${failure}`);
  console.log(`  benchmark time: ${((Date.now() - benchStarted) / 1000).toFixed(1)} s`);
  if (failure || mismatches.length > 0) process.exitCode = 1;
}
