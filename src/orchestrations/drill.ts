/**
 * A plan's planned drill as a durable orchestration (core/drill/model.ts), and the scheduledDrill
 * timer's pass that drills every plan of the catalog, one at a time.
 *
 * The drill is a monitor: `drillAdvance` reads where the drill stands and moves it one step (it starts
 * the planned failover, then the failback, and records the end), and the orchestration calls it again
 * every POLL_MS of Azure time on a durable timer while a run is under way. No activity waits for a run.
 * Every POLLS_PER_EXECUTION polls it continues as new, carrying what it knows, so its history stays
 * bounded however long the runs take (a failback that waits for storage re-protection takes hours).
 * A run still going after WATCH_HORIZON_MS of Azure time ends the drill `failed` (the run goes on; its
 * own deadlines end it). A retryable failure of the activity, or one it threw past its wrapper (a
 * Functions timeout, a worker lost), is tried again after 30 s doubling (at most MAX_BACKOFF_MS) until
 * it has failed for WATCH_HORIZON_MS; a failure for good, or one that outlasts the horizon, is followed
 * by one last advance that records the drill `failed` with the reason, so that its history has it.
 */
import type * as df from "durable-functions";
import {
  DrillActivities,
  DrillOrchestrations,
  drillInstanceId,
  type AdvanceInput,
  type AdvanceResult,
  type DrillNotice,
  type DrillProgress,
  type DrillRunKind,
  type DrillStatus,
  type PlannedDrillInput,
  type PlannedDrillOutput,
  type ScheduledDrillsInput,
  type ScheduledDrillsOutput,
} from "../core/drill/model.ts";
import { runLine } from "../core/drill/history.ts";
import { decodeEnvelope, type ErrorEnvelope } from "../core/errors.ts";
import type { ActivityResult } from "../core/run/model.ts";

type Gen<T> = Generator<df.Task, T, any>;

/** Azure time between two advances of a drill whose run is under way. */
export const POLL_MS = 60_000;
/** Polls per execution before the drill continues as new (half an hour of Azure time at POLL_MS). */
export const POLLS_PER_EXECUTION = 30;
/** How long (Azure time) a drill watches one of its runs before it gives up on it. */
export const WATCH_HORIZON_MS = 96 * 3600_000;
const BACKOFF_MS = 30_000;
/** The longest wait (Azure time) between two tries of a failing activity. */
export const MAX_BACKOFF_MS = 15 * 60_000;

export function* plannedDrill(context: df.OrchestrationContext): Gen<PlannedDrillOutput | undefined> {
  const input = context.df.getInput<PlannedDrillInput>();
  const scale = input.timeScale && input.timeScale > 0 ? input.timeScale : 1;
  const now = () => context.df.currentUtcDateTime.getTime();
  const at = () => context.df.currentUtcDateTime.toISOString();
  const base = { drillId: input.drillId, plan: input.plan };
  const progress: DrillProgress = input.progress ?? { started: [], polls: 0, notices: 0, execution: 1, startedAt: at() };
  const started: DrillRunKind[] = [...progress.started];
  let polls = progress.polls;
  let notices = progress.notices;
  let watchingSince = progress.watchingSince;
  let failingSince = progress.failingSince;
  let attempts = 0;
  let abandon = progress.abandon;

  const status = (s: Omit<DrillStatus, "kind" | "drillId" | "plan">) => context.df.setCustomStatus({ kind: "drill", ...base, ...s } satisfies DrillStatus);
  const notify = (notice: Omit<DrillNotice, "drillId" | "plan" | "n" | "at" | "trigger">) =>
    context.df.callActivity(DrillActivities.notify, { ...base, n: ++notices, at: at(), trigger: input.trigger, ...notice } satisfies DrillNotice);
  const wait = (ms: number) => context.df.createTimer(new Date(now() + Math.max(1, Math.round(ms / scale))));

  if (!input.progress) status({ phase: "starting" });
  /** One call of drillAdvance; a failure thrown past the activity's wrapper comes back as data too. */
  function* advance(abandoning?: string): Gen<ActivityResult<AdvanceResult>> {
    const call: AdvanceInput = { ...base, trigger: input.trigger, timeScale: scale, startedAt: progress.startedAt, started, at: at(), ...(abandoning ? { abandon: abandoning } : {}) };
    try {
      return yield context.df.callActivity(DrillActivities.advance, call);
    } catch (error) {
      const envelope: ErrorEnvelope = decodeEnvelope(error instanceof Error ? error.message : String(error));
      return { ok: false, error: envelope };
    }
  }
  for (;;) {
    const result: ActivityResult<AdvanceResult> = yield* advance(abandon);
    if (!result.ok) {
      failingSince ??= now();
      if (result.error.retryable && now() - failingSince < WATCH_HORIZON_MS / scale) {
        attempts++;
        yield wait(Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** Math.min(attempts - 1, 20)));
        if (++polls % POLLS_PER_EXECUTION === 0) return continueAsNew();
        continue;
      }
      // One last advance records the drill's end, so that its history has it; if that fails too
      // (its plan or its history cannot be read), the drill ends unrecorded.
      const reason = `the drill could not go on: drillAdvance failed${result.error.retryable ? ` for ${WATCH_HORIZON_MS / 3600_000} h of Azure time` : ""}: ${result.error.message}`;
      // (A drill already abandoning its run was asking the activity to record its end: that is what failed.)
      const last: ActivityResult<AdvanceResult> = abandon === undefined ? yield* advance(reason) : result;
      if (last.ok && last.value.state === "ended") return yield* ended(last.value);
      status({ phase: "done", outcome: "failed" });
      yield notify({ kind: "drill-finished", outcome: "failed", reason });
      return { ...base, outcome: "failed", reason };
    }
    attempts = 0;
    failingSince = undefined;
    const r = result.value;
    if (r.state === "ended") return yield* ended(r);
    if (!started.includes(r.kind)) {
      started.push(r.kind);
      watchingSince = now();
      if (r.kind === "failover") yield notify({ kind: "drill-started" });
    }
    watchingSince ??= now();
    status({ phase: r.kind, runId: r.runId, ...(r.step ? { step: r.step } : {}), ...(r.waitingFor ? { waitingFor: r.waitingFor } : {}) });
    if (now() - watchingSince >= WATCH_HORIZON_MS / scale) {
      abandon = `its ${r.kind} run ${r.runId} was still in progress after ${WATCH_HORIZON_MS / 3600_000} h of Azure time: the drill stopped watching it (the run goes on)`;
      continue;
    }
    yield wait(POLL_MS);
    if (++polls % POLLS_PER_EXECUTION === 0) return continueAsNew();
  }

  function* ended(r: Extract<AdvanceResult, { state: "ended" }>): Gen<PlannedDrillOutput> {
    status({ phase: "done", outcome: r.outcome });
    yield notify({ kind: "drill-finished", outcome: r.outcome, reason: r.reason, runs: r.record.runs.map(runLine), ...(r.trend ? { trend: r.trend } : {}) });
    return { ...base, outcome: r.outcome, reason: r.reason, record: r.record };
  }

  function continueAsNew(): undefined {
    const next: DrillProgress = {
      started,
      polls,
      notices,
      execution: progress.execution + 1,
      startedAt: progress.startedAt,
      ...(watchingSince !== undefined ? { watchingSince } : {}),
      ...(failingSince !== undefined ? { failingSince } : {}),
      ...(abandon !== undefined ? { abandon } : {}),
    };
    context.df.continueAsNew({ ...input, progress: next } satisfies PlannedDrillInput);
    return undefined;
  }
}

/**
 * The scheduledDrill timer's pass: each plan's drill in turn, as a sub-orchestration on the plan's drill
 * instance (a plan whose drill is already running is reported `not-run`; the next plan still drills).
 */
export function* scheduledDrills(context: df.OrchestrationContext): Gen<ScheduledDrillsOutput> {
  const input = context.df.getInput<ScheduledDrillsInput>();
  const drills: ScheduledDrillsOutput["drills"][number][] = [];
  for (const [index, drill] of input.drills.entries()) {
    context.df.setCustomStatus({ kind: "drills", passId: input.passId, plan: drill.plan, drill: index + 1, of: input.drills.length });
    try {
      const output: PlannedDrillOutput | undefined = yield context.df.callSubOrchestrator(DrillOrchestrations.planned, drill, drillInstanceId(drill.plan));
      drills.push({ plan: drill.plan, drillId: drill.drillId, outcome: output?.outcome ?? "not-run", reason: output?.reason ?? "the drill returned no outcome" });
    } catch (error) {
      drills.push({ plan: drill.plan, drillId: drill.drillId, outcome: "not-run", reason: `the drill did not run: ${error instanceof Error ? error.message : String(error)}` });
    }
  }
  return { passId: input.passId, drills };
}
