/**
 * A planned drill's activities: `drillAdvance`, which reads where the drill stands and moves it one
 * step (the Durable monitor pattern: it starts a run or records the end, and never waits for a run),
 * and `drillNotify` (through the notify activity's delivery: the plan's channels, the outbox,
 * deduplicated by event id). Failures come back as data (wrapActivity).
 *
 * drillAdvance runs at least once per call, and again after a crash: everything it does is found again
 * by the drill's id. Its runs have ids derived from the drill's (drillRunId), so a start that ran
 * before finds its run (as the plan's run, or as the holder of the plan's reservation); the history
 * is appended once per drill id; reports are written again with the same text.
 */
import { notifyActivity, type NotifyDeps } from "../activities/notify.ts";
import { wrapActivity } from "../activities/wrap.ts";
import { currentPrimary } from "../core/detection/policy.ts";
import type { PlanState } from "../core/detection/model.ts";
import { appendDrill, drillOf, drillTrend, fitDrillRecord, formatTrend, type DrillRecord, type DrillRunRecord } from "../core/drill/history.ts";
import { DrillActivities, drillRunId, type AdvanceInput, type AdvanceResult, type DrillActivityName, type DrillNotice, type DrillOutcome, type DrillRunKind } from "../core/drill/model.ts";
import { renderDrillReport } from "../core/drill/report.ts";
import { SwitchyardError } from "../core/errors.ts";
import { entriesOf, type Journal, type JournalEntry } from "../core/journal.ts";
import { withKeys, type Logger } from "../core/logger.ts";
import type { NotificationFact } from "../core/notification.ts";
import type { Plan } from "../core/plan/index.ts";
import type { ActivityResult, RunInput, RunOutput } from "../core/run/model.ts";
import { checkRunOutput } from "../core/run/parse.ts";
import { RunInProgressError, type RunPort, type RunView } from "../core/run/port.ts";
import { renderReport } from "../core/run/report.ts";
import { isReservationLive } from "../core/run/reservation.ts";
import { redactText } from "../core/secrets.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";
import type { DrillReportStore } from "./reports.ts";
import type { DrillHistoryStore } from "./store.ts";

export interface DrillDeps {
  /** Starts, reads and (an incident pre-empting the drill) ends the plan's runs (the run reservation in front: one run per plan). */
  readonly runs: Pick<RunPort, "start" | "get" | "terminate">;
  /** The plans' state: detection's region verdicts, the run reservation, the region serving. */
  readonly store: Pick<PlanStateStore, "get">;
  /** The runs' journal: a run's output once it is no longer the plan's run, and its report. */
  readonly runJournal: Pick<Journal, "read">;
  /** The drill's plan, kept under its id when it was started. */
  readonly runPlans: Pick<RunPlanStore, "get">;
  readonly history: DrillHistoryStore;
  readonly reports: DrillReportStore;
  readonly clock: () => Date;
  readonly log: Logger;
}

/** What the drill activities need: drillAdvance's dependencies and the notify activity's (its journal: the drills'). */
export type DrillActivityDeps = DrillDeps & Omit<NotifyDeps, keyof DrillDeps>;

/** The regions of the plan detection holds down (an incident). */
export function downRegions(plan: Plan, state: PlanState): string[] {
  return [plan.regions.primary.name, plan.regions.secondary.name].filter((r) => state.regions[r]?.state === "down");
}

const ACTIVE = new Set<RunView["status"]>(["pending", "running"]);

/** Where one of the drill's runs stands. */
type RunStand =
  | { readonly active: RunView }
  | { readonly active?: undefined; readonly output?: RunOutput; readonly status: "completed" | "stopped" | "failed" | "terminated" | "unknown" | "starting"; readonly error?: string };

/** The run `runId` as the run port shows it, or, once it is no longer the plan's run, as its journal kept it. */
async function standOf(runId: string, view: RunView | undefined, state: PlanState, now: Date, deps: DrillDeps): Promise<RunStand> {
  if (view?.runId === runId) {
    if (ACTIVE.has(view.status)) return { active: view };
    return { ...(view.output ? { output: view.output } : {}), status: view.status === "pending" || view.status === "running" ? "unknown" : view.status, ...(view.error ? { error: view.error } : {}) };
  }
  const finished = entriesOf(await deps.runJournal.read(runId), "run-finished").at(-1);
  const checked = finished ? checkRunOutput(finished.data.output) : undefined;
  if (checked?.ok) return { output: checked.value, status: checked.value.outcome === "completed" ? "completed" : checked.value.outcome === "failed" ? "failed" : "stopped" };
  // Reserved and not visible yet: its start is in flight.
  if (state.activeRun?.runId === runId && isReservationLive(state.activeRun, view, now)) return { status: "starting" };
  return { status: "unknown" };
}

async function outputOf(runId: string, view: RunView | undefined, deps: DrillDeps): Promise<RunOutput | undefined> {
  if (view?.runId === runId && view.output) return view.output;
  const finished = entriesOf(await deps.runJournal.read(runId), "run-finished").at(-1);
  const checked = finished ? checkRunOutput(finished.data.output) : undefined;
  return checked?.ok ? checked.value : undefined;
}

function triggerOf(input: AdvanceInput): RunInput["trigger"]["by"] {
  return redactText(`planned drill ${input.drillId} (${input.trigger.kind}: ${input.trigger.by})`);
}

/** Reads where the drill stands and moves it on; see the module's comment. */
export async function advanceDrill(input: AdvanceInput, deps: DrillDeps): Promise<AdvanceResult> {
  const plan = await deps.runPlans.get(input.drillId);
  if (!plan) throw new SwitchyardError(`the plan of drill ${input.drillId} is not stored`, { code: "DrillPlanMissing" });
  const history = await deps.history.read(plan.name);
  const recorded = drillOf(history, input.drillId);
  if (recorded) return { state: "ended", outcome: recorded.outcome, reason: recorded.reason, record: recorded, trend: formatTrend(drillTrend(history)) };

  const now = deps.clock();
  const ids = { failover: drillRunId(input.drillId, "failover"), failback: drillRunId(input.drillId, "failback") };
  const [view, { state }] = await Promise.all([deps.runs.get(plan.name), deps.store.get(plan.name)]);
  const started = new Set<DrillRunKind>(input.started);
  if (view?.runId === ids.failover) started.add("failover");
  if (view?.runId === ids.failback) started.add("failback");
  const end = (outcome: DrillOutcome, reason: string) => finish(plan, input, outcome, reason, [...started], view, now, deps);
  const down = downRegions(plan, state);
  const incident = down.length > 0 ? `${down.join(" and ")} ${down.length > 1 ? "are" : "is"} down (detection's verdict)` : undefined;
  // An incident pre-empts the drill whatever detection's policy does with it (automatic failover off or
  // paused, or the drill's target region down): the drill ends its own run and goes no further.
  const own = view && (view.runId === ids.failover || view.runId === ids.failback) && ACTIVE.has(view.status) ? view : undefined;
  if (incident && own) return preempt(plan, input, own, own.runId === ids.failover ? "failover" : "failback", incident, started, now, deps);
  if (input.abandon) return end("failed", input.abandon);
  const watching = (kind: DrillRunKind, run: RunView | undefined, startedNow: boolean): AdvanceResult => ({
    state: "watching",
    kind,
    runId: ids[kind],
    startedNow,
    ...(run?.progress?.step ? { step: run.progress.step } : {}),
    ...(run?.progress?.waitingFor ? { waitingFor: run.progress.waitingFor } : {}),
  });
  /** How a run of the drill that ended short ends the drill. */
  const endShort = (kind: DrillRunKind, stand: Exclude<RunStand, { active: RunView }>) => {
    if (stand.status === "terminated" || (stand.status === "unknown" && (incident || (view && view.runId !== ids[kind])))) {
      const by = view && view.runId !== ids[kind] ? `; run ${view.runId} holds the plan now` : "";
      return end("preempted", `pre-empted: its ${kind} run ${ids[kind]} was terminated${incident ? ` for an incident: ${incident}` : ""}${by}${kind === "failover" ? "; no failback was started" : ""}`);
    }
    const output = stand.output;
    // A run that failed once a region of the plan was down (by detection's verdict) met the incident: an
    // incident pre-empts a drill, whether it terminated the run or the outage failed it first.
    if (incident && stand.status === "failed") {
      const why = output ? output.message : stand.error ? stand.error : "without an output";
      return end("preempted", `pre-empted: its ${kind} run ${ids[kind]} ended failed during an incident: ${incident}: ${why}${kind === "failover" ? "; no failback was started" : ""}`);
    }
    return end("failed", `its ${kind} run ${ids[kind]} ended ${output ? `${output.outcome}: ${output.message}` : stand.error ? `without an output: ${stand.error}` : "without an output"}`);
  };

  if (started.has("failback")) {
    const stand = await standOf(ids.failback, view, state, now, deps);
    if (stand.active || stand.status === "starting") return watching("failback", stand.active, false);
    if (stand.status === "completed") return end("passed", `failed over to ${plan.regions.secondary.name} and back to ${plan.regions.primary.name}, planned`);
    return endShort("failback", stand);
  }

  if (started.has("failover")) {
    const stand = await standOf(ids.failover, view, state, now, deps);
    if (stand.active || stand.status === "starting") return watching("failover", stand.active, false);
    if (stand.status !== "completed") return endShort("failover", stand);
    // The failover is done: an incident since stops the drill before it starts its failback.
    if (incident) return end("preempted", `pre-empted after its failover: ${incident}; no failback was started (going home after the incident is a failback for an operator or the policy)`);
    // Another run took the plan over after the failover (an operator's, the policy's): the failback is not the drill's to start.
    if (view?.runId !== ids.failover) {
      return end("preempted", `pre-empted after its failover: ${view ? `run ${view.runId} (${view.kind} ${view.from} → ${view.to}, ${view.status}) holds the plan now` : "the plan shows no run, not its failover"}; no failback was started`);
    }
    const home = plan.regions.primary.name;
    if (state.primary?.region === home && state.primary.runId !== undefined && state.primary.runId !== ids.failover && Date.parse(state.primary.since) >= Date.parse(input.startedAt)) {
      return end("preempted", `pre-empted after its failover: run ${state.primary.runId} brought the plan home to ${home} already; no failback was started`);
    }
    return startRun("failback", plan, input, ids.failback, now, deps, (reason) => end("preempted", `its failback could not start: ${reason}`), (run, now) => watching("failback", run, now));
  }

  // Not started: the interlocks, then the planned failover.
  if (incident) return end("refused", `refused: ${incident}; drills never start during an incident`);
  if (view && ACTIVE.has(view.status)) return end("refused", `refused: run ${view.runId} of the plan is in progress (${view.kind} ${view.from} → ${view.to})`);
  // (The drill's own reservation, from a start that ran before and did not finish, is started again.)
  if (state.activeRun && state.activeRun.runId !== ids.failover && isReservationLive(state.activeRun, view, now)) return end("refused", `refused: run ${state.activeRun.runId} has reserved the plan (its start is in flight)`);
  const serving = currentPrimary(plan, state);
  if (serving !== plan.regions.primary.name) return end("refused", `refused: ${serving} serves the plan, not its home region ${plan.regions.primary.name}; a planned drill starts from home (fail back first)`);
  return startRun("failover", plan, input, ids.failover, now, deps, (reason) => end("refused", `refused: ${reason}`), (run, now) => watching("failover", run, now));
}

/**
 * Ends the drill's run in progress for an incident and records the drill `preempted`. The terminate is
 * a request (Durable applies it later) and the activity does not wait for it: the run is recorded as
 * terminated when it still shows running, and nothing further is started.
 */
async function preempt(plan: Plan, input: AdvanceInput, run: RunView, kind: DrillRunKind, incident: string, started: Set<DrillRunKind>, now: Date, deps: DrillDeps): Promise<AdvanceResult> {
  const no = kind === "failover" ? "; no failback was started" : "";
  await deps.runs.terminate(plan.name, `planned drill ${input.drillId} pre-empted by an incident: ${incident}`);
  deps.log.warn(`drill ${input.drillId}: ${kind} run ${run.runId} terminated: ${incident}`, { runId: run.runId, kind });
  const after = await deps.runs.get(plan.name);
  const shown: RunView = after?.runId === run.runId ? (ACTIVE.has(after.status) ? { ...after, status: "terminated" } : after) : { ...run, status: "terminated" };
  // A run that ended on its own as it was being terminated is named by how it ended.
  const how = shown.status === "terminated" ? "was terminated" : `ended ${shown.status} as it was being terminated`;
  const reason = `pre-empted: its ${kind} run ${run.runId} ${how} for an incident: ${incident}${no}`;
  return finish(plan, input, "preempted", reason, [...started, kind], shown, now, deps);
}

/** Starts one of the drill's runs (planned, never approving data loss); refused by the run port's interlock → `refused`. */
async function startRun(
  kind: DrillRunKind,
  plan: Plan,
  input: AdvanceInput,
  runId: string,
  now: Date,
  deps: DrillDeps,
  refused: (reason: string) => Promise<AdvanceResult>,
  watching: (run: RunView | undefined, startedNow: boolean) => AdvanceResult,
): Promise<AdvanceResult> {
  const [from, to] = kind === "failover" ? [plan.regions.primary.name, plan.regions.secondary.name] : [plan.regions.secondary.name, plan.regions.primary.name];
  const run: RunInput = {
    runId,
    kind,
    // Planned: no data is lost without a person's approval, and the drill never gives one.
    mode: "planned",
    plan,
    from,
    to,
    trigger: { source: "drill", by: triggerOf(input), reason: `planned drill: ${kind} ${from} → ${to}`, detectedAt: input.at ?? now.toISOString() },
    ...(input.timeScale !== 1 ? { options: { timeScale: input.timeScale } } : {}),
  };
  try {
    const view = await deps.runs.start(run);
    deps.log.info(`drill ${input.drillId}: ${kind} run ${runId} started`, { runId, kind, from, to });
    return watching(view, true);
  } catch (error) {
    // This very run, started by an earlier attempt of this step: watch it.
    if (error instanceof RunInProgressError && error.runningRunId === runId) return watching(undefined, false);
    if (error instanceof RunInProgressError) return refused(`run ${error.runningRunId} of the plan is in progress or reserved`);
    throw error;
  }
}

/** One run's record: its outcome, RTO in Azure seconds (projected at a time scale), RPO exposure, its report. */
async function runRecord(kind: DrillRunKind, runId: string, plan: Plan, view: RunView | undefined, scale: number, deps: DrillDeps): Promise<DrillRunRecord> {
  const entries: JournalEntry[] = await deps.runJournal.read(runId);
  const output = await outputOf(runId, view, deps);
  const [from, to] = kind === "failover" ? [plan.regions.primary.name, plan.regions.secondary.name] : [plan.regions.secondary.name, plan.regions.primary.name];
  const status =
    view?.runId === runId && ACTIVE.has(view.status) ? "running" : view?.runId === runId && view.status === "terminated" ? "terminated" : output ? output.outcome : entries.length > 0 ? "terminated" : "unknown";
  const report = entries.length > 0 ? await deps.reports.put(runId, renderReport(entries, output)) : undefined;
  const local = output?.rtoSeconds ?? null;
  return {
    kind,
    runId,
    from: output?.from ?? from,
    to: output?.to ?? to,
    outcome: status,
    rtoSeconds: local === null ? null : Math.round(local * scale * 10) / 10,
    ...(scale !== 1 ? { rtoLocalSeconds: local } : {}),
    rtoProjected: scale !== 1,
    rtoTargetSeconds: output?.rtoTargetSeconds ?? plan.objectives.rtoMinutes * 60,
    rpoExposureSeconds: output?.rpoExposureSeconds ?? null,
    dataLossAllowedBy: output?.dataLossAllowedBy ?? null,
    ...(report ? { report } : {}),
  };
}

/** Records the drill's end: each run's report, the drill's report with the trend, the history entry. */
async function finish(plan: Plan, input: AdvanceInput, outcome: DrillOutcome, reason: string, started: readonly DrillRunKind[], view: RunView | undefined, now: Date, deps: DrillDeps): Promise<AdvanceResult> {
  const scale = input.timeScale > 0 ? input.timeScale : 1;
  const runs: DrillRunRecord[] = [];
  for (const kind of ["failover", "failback"] as const) {
    if (started.includes(kind)) runs.push(await runRecord(kind, drillRunId(input.drillId, kind), plan, view, scale, deps));
  }
  if (outcome === "passed") {
    const allowed = [...new Set(runs.map((r) => r.dataLossAllowedBy).filter((by) => by !== "none"))];
    reason += allowed.length === 0 ? ", with no data loss allowed" : `; data loss was allowed by ${allowed.map((by) => by ?? "an unknown decision").join(" and ")}`;
  }
  // Every field within what the history's reader takes: a record it refused would be invisible (and done again).
  const base: DrillRecord = fitDrillRecord({
    drillId: input.drillId,
    plan: plan.name,
    mode: "planned",
    trigger: { kind: input.trigger.kind, by: redactText(input.trigger.by), ...(input.trigger.reason ? { reason: redactText(input.trigger.reason) } : {}) },
    startedAt: input.startedAt,
    endedAt: input.at ?? now.toISOString(),
    outcome,
    reason: redactText(reason),
    timeScale: scale,
    runs,
  });
  // The drill's report shows the trend with this drill in it.
  const before = await deps.history.read(plan.name);
  const report = await deps.reports.put(input.drillId, renderDrillReport(base, appendDrill(before, base)));
  const record: DrillRecord = fitDrillRecord({ ...base, report });
  const appended = await deps.history.append(record);
  for (const problem of appended.history.problems) deps.log.warn(`a record of the drill history did not read and was not kept: ${problem.path}: ${problem.problem}`, { plan: plan.name, drillId: input.drillId });
  if (appended.history.moreProblems) deps.log.warn(`${appended.history.moreProblems} more records of the drill history did not read and were not kept`, { plan: plan.name, drillId: input.drillId });
  const kept = drillOf(appended.history, input.drillId) ?? record;
  deps.log.info(`drill ${input.drillId} ${kept.outcome}: ${kept.reason}`, { plan: plan.name, drillId: input.drillId, outcome: kept.outcome });
  return { state: "ended", outcome: kept.outcome, reason: kept.reason, record: kept, trend: formatTrend(drillTrend(appended.history)) };
}

async function notifyDrill(input: DrillNotice, deps: DrillActivityDeps): Promise<{ delivered: boolean; error?: string }> {
  const plan = await deps.runPlans.get(input.drillId);
  if (!plan) throw new SwitchyardError(`the plan of drill ${input.drillId} is not stored`, { code: "DrillPlanMissing" });
  const trigger = `${input.trigger.kind} by ${redactText(input.trigger.by)}`;
  const facts: NotificationFact[] = [
    { name: "Plan", value: input.plan },
    { name: "Drill", value: input.drillId },
    { name: "Trigger", value: trigger },
    ...(input.outcome ? [{ name: "Outcome", value: input.outcome }] : []),
    ...(input.runs ?? []).map((line, i) => ({ name: `Run ${i + 1}`, value: line })),
    ...(input.trend ? [{ name: "RTO trend", value: input.trend }] : []),
  ];
  const started = input.kind === "drill-started";
  const title = started ? `${input.plan}: planned drill started` : `${input.plan}: planned drill ${input.outcome}`;
  const message = started
    ? `Switchyard ${input.plan}: planned drill ${input.drillId} started (${trigger}): a planned failover from ${plan.regions.primary.name} to ${plan.regions.secondary.name}, then a failback. No data is lost without a person's approval; an incident pre-empts it.`
    : `Switchyard ${input.plan}: planned drill ${input.drillId} ${input.outcome}: ${redactText(input.reason ?? "")}.${input.trend ? ` ${input.trend}.` : ""}`;
  const result = await notifyActivity(
    {
      runId: input.drillId,
      plan,
      id: `${input.drillId}.${input.n}.${input.kind}`,
      at: input.at,
      event: input.kind,
      kind: input.kind,
      severity: started || input.outcome === "passed" ? "info" : "warning",
      title,
      message,
      facts,
      actions: [],
    },
    deps,
  );
  return { delivered: result.delivered, ...(result.error ? { error: result.error } : {}) };
}

export type DrillActivityHandlers = Record<DrillActivityName, (input: unknown) => Promise<ActivityResult<unknown>>>;

/** The drill activities, bound to their dependencies; each logs with its drill and plan. */
export function createDrillActivities(deps: DrillActivityDeps): DrillActivityHandlers {
  const keyed = (name: string, input: unknown): DrillActivityDeps => {
    const given = (input ?? {}) as Partial<AdvanceInput>;
    return { ...deps, log: withKeys(deps.log, { activity: name, ...(given.drillId ? { drillId: given.drillId } : {}), ...(given.plan ? { plan: given.plan } : {}) }) };
  };
  const bind = <I>(name: DrillActivityName, fn: (input: I, deps: DrillActivityDeps) => Promise<unknown>) => wrapActivity(name, (input: I) => fn(input, keyed(name, input)), deps.log);
  return {
    [DrillActivities.advance]: bind(DrillActivities.advance, advanceDrill),
    [DrillActivities.notify]: bind(DrillActivities.notify, notifyDrill),
  } as DrillActivityHandlers;
}
