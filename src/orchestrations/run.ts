/**
 * The failover and failback orchestration. Deterministic: time only from context.df.currentUtcDateTime,
 * waits only with durable timers, every effect through an activity. Each activity is idempotent, so
 * a replay or a retry never writes twice.
 */
import type * as df from "durable-functions";
import { decodeEnvelope, type ErrorEnvelope } from "../core/errors.ts";
import { type DataLossDecision, decideDataLoss, DEFAULT_RETRY, OPERATION_MAX_ATTEMPTS, retryDelayMs, type RetryPolicy } from "../core/run/gates.ts";
import {
  Activities,
  type ActivityResult,
  APPROVAL_EVENT,
  type ApprovalEvent,
  approvalOf,
  type AssessRegionsResult,
  type CheckResult,
  type DataTierResult,
  type MeasureReplicationResult,
  type NotifyInput,
  type OperationPollResult,
  type PollOutcome,
  type DataTierOutcome,
  type SwitchOutcome,
  type PendingOperation,
  type ReprotectProgress,
  type RunOrchestrationInput,
  type RunOutcome,
  type RunOutput,
  type StepRecord,
  Orchestrations,
  type WatchedOperation,
  type WatchInput,
  type WatchOutput,
  watchInstanceId,
  reprotectInstanceId,
  type ReprotectWaitInput,
  type ReprotectWaitOutput,
  planForActivities,
  type PlanName,
  type PlanOutline,
  Steps,
  type RunStatus,
  OPERATION_ENDED,
} from "../core/run/model.ts";
import { armName } from "../core/plan/armId.ts";
import { kindOfEvent } from "../core/notification.ts";
import { approvalAnsweredNotice, approvalNeededNotice, noticeInput, runFinishedNotice, runStartedNotice, stepFailedNotice, type Notice } from "../core/run/notices.ts";
import type { JournalEntry, JournalEntryKind } from "../core/journal.ts";
import { runFinishedEntry, runStartedEntry, type JournalDraft } from "../core/run/entries.ts";

type Ctx = df.OrchestrationContext;
type Gen<T> = Generator<df.Task, T, any>;

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly envelope: ErrorEnvelope,
  ) {
    super(envelope.message);
  }
}

const isPlainInput = (input: unknown): input is Record<string, unknown> => typeof input === "object" && input !== null && !Array.isArray(input);

/** What a Run needs of its input (the watch sub-orchestration carries just this much). */
export type RunBasics = Pick<RunOrchestrationInput, "runId" | "kind" | "options"> & { readonly plan: PlanOutline | PlanName };

/**
 * The orchestration versions (see Orchestrations in core/run/model.ts). 1: Azure operations polled in
 * the run itself; 2: polled in the watch sub-orchestration; 3: planned mode asks for approval before
 * data loss, and an operation that ended Failed or Canceled is started again (OPERATION_MAX_ATTEMPTS);
 * 4: the approval wait sends a reminder at half its time, and the run notifies the answer and a failed step.
 */
export type RunVersion = 1 | 2 | 3 | 4;

/** The run's bookkeeping: steps, journal entries (flushed through the journal activity), status. */
export class Run {
  readonly steps: StepRecord[] = [];
  private pending: JournalDraft[] = [];
  /** Watch sub-orchestrations started so far: numbers their instance ids, deterministically. */
  private watches = 0;
  /** Notices made so far: numbers their event ids, deterministically. */
  private notices = 0;

  constructor(
    readonly context: Ctx,
    readonly input: RunBasics,
    readonly version: RunVersion = 2,
  ) {}

  get now(): string {
    return this.context.df.currentUtcDateTime.toISOString();
  }

  add(entry: JournalEntry | JournalDraft): void {
    this.pending.push(entry);
  }

  note(kind: JournalEntryKind, message: string, data?: Record<string, unknown>, step?: string): void {
    this.pending.push({ runId: this.input.runId, at: this.now, kind, message, ...(step ? { step } : {}), ...(data ? { data } : {}) });
  }

  /** Writes the pending entries (retried like any step); a journal that refuses them fails the step. */
  *flush(): Gen<void> {
    if (this.pending.length === 0) return;
    // The run is named once, in the input: the history does not repeat it for every entry.
    const entries = this.pending.map(({ runId: _run, ...entry }) => entry);
    this.pending = [];
    yield* this.call<null>("journal", Activities.journal, { runId: this.input.runId, entries });
  }

  status(step: string, waitingFor?: RunStatus["waitingFor"]): void {
    const status: RunStatus = { runId: this.input.runId, kind: this.input.kind, step, stepStartedAt: this.now, ...(waitingFor ? { waitingFor } : {}) };
    this.context.df.setCustomStatus(status);
  }

  /** Runs one step: status, journal boundaries and timing around `body`. */
  *step<T>(name: string, body: () => Gen<T>): Gen<T> {
    const startedAt = this.now;
    this.status(name);
    // Step boundaries go without a message: the journal activity words them (impliedMessage).
    this.add({ at: startedAt, kind: "step-started", step: name });
    yield* this.flush();
    try {
      const result = yield* body();
      this.steps.push({ step: name, startedAt, endedAt: this.now, outcome: "ok" });
      this.add({ at: this.now, kind: "step-finished", step: name, data: { outcome: "ok", durationMs: Date.parse(this.now) - Date.parse(startedAt) } });
      return result;
    } catch (error) {
      const detail = error instanceof StepFailed ? error.envelope.message : error instanceof Error ? error.message : String(error);
      this.steps.push({ step: name, startedAt, endedAt: this.now, outcome: "failed", detail });
      this.note("step-finished", `${name} failed: ${detail}`, { outcome: "failed", durationMs: Date.parse(this.now) - Date.parse(startedAt), detail }, name);
      throw error;
    }
  }

  /** The step `name` ran to its end but what it found fails the run (verification): its record says so. */
  markFailed(name: string, detail: string): void {
    const index = this.steps.findLastIndex((s) => s.step === name);
    if (index >= 0) this.steps[index] = { ...this.steps[index]!, outcome: "failed", detail };
  }

  get retry(): RetryPolicy {
    return this.input.options?.retry ?? DEFAULT_RETRY;
  }

  /** Calls one activity, retrying retryable failures with backoff that honours Retry-After. */
  *call<T>(step: string, name: string, input: unknown): Gen<T> {
    const [result] = yield* this.callAll<T>(step, [{ name, input }]);
    return result!;
  }

  /**
   * Calls activities in parallel, in rounds: every call of a round is scheduled at once; the calls that
   * failed retryably are retried together after a durable timer (backoff that honours Retry-After).
   * A call that fails for good fails the step.
   */
  *callAll<T>(step: string, calls: readonly { name: string; input: unknown }[]): Gen<T[]> {
    const df = this.context.df;
    const results: T[] = new Array(calls.length);
    let pending = calls.map((call, index) => ({ call, index, attempt: 1 }));
    while (pending.length > 0) {
      let outcomes: ActivityResult<T>[];
      try {
        // A retry names its attempt in the input (for the activity's telemetry span); a first call is unchanged.
        outcomes = yield df.Task.all(pending.map((p) => df.callActivity(p.call.name, p.attempt > 1 && isPlainInput(p.call.input) ? { ...p.call.input, attempt: p.attempt } : p.call.input)));
      } catch (error) {
        // An activity failed outside its wrapper (it never should): not retried, the step fails.
        throw new StepFailed(step, decodeEnvelope(error instanceof Error ? error.message : String(error)));
      }
      const retry: typeof pending = [];
      let delay = 0;
      let failure: StepFailed | undefined;
      outcomes.forEach((outcome, i) => {
        const p = pending[i]!;
        if (outcome.ok) {
          results[p.index] = outcome.value;
          return;
        }
        const envelope = outcome.error;
        if (envelope.retryable && p.attempt < this.retry.maxAttempts) {
          const wait = retryDelayMs(this.retry, p.attempt, envelope.retryAfterSeconds);
          delay = Math.max(delay, wait);
          this.note("wait", `${p.call.name} attempt ${p.attempt} failed (${envelope.message}); retrying`, { activity: p.call.name, attempt: p.attempt, code: envelope.code, ...(envelope.retryAfterSeconds !== undefined ? { retryAfterSeconds: envelope.retryAfterSeconds } : {}) }, step);
          retry.push({ ...p, attempt: p.attempt + 1 });
        } else {
          failure ??= new StepFailed(step, envelope);
        }
      });
      if (failure) throw failure;
      if (retry.length > 0) {
        this.status(step, "retry");
        this.note("wait", `retrying ${retry.length} call(s) in ${delay} ms`, { delayMs: delay }, step);
        yield df.createTimer(new Date(df.currentUtcDateTime.getTime() + delay));
      }
      pending = retry;
    }
    return results;
  }

  /** Azure time is divided by this in local runs (RunOptions.timeScale); 1 in Azure. */
  get timeScale(): number {
    const scale = this.input.options?.timeScale;
    return scale !== undefined && Number.isFinite(scale) && scale >= 1 ? scale : 1;
  }

  /** Milliseconds of orchestration time for `seconds` of Azure time (at least 1 ms). */
  azureMs(seconds: number): number {
    return Math.max(1, Math.round((seconds * 1000) / this.timeScale));
  }

  /** A durable timer `ms` from now. */
  *sleep(ms: number): Gen<void> {
    const df = this.context.df;
    yield df.createTimer(new Date(df.currentUtcDateTime.getTime() + ms));
  }

  /**
   * Calls activities that may start long-running Azure operations, then watches what they started on
   * durable timers (the monitor pattern) and calls each again once its operations ended, until none
   * starts anything more: a second call reads the state and finds it done, or takes the next step (a
   * Front Door whose other origin could only change after the first). Each call's result is the first
   * one it gave (what it did), with the request ids of every call and poll.
   */
  *converge<T extends { readonly pending?: PendingOperation; readonly alsoPending?: readonly PendingOperation[] }>(
    step: string,
    calls: readonly { name: string; input: unknown }[],
    maxRounds = 4,
  ): Gen<T[]> {
    const first: (T | undefined)[] = new Array(calls.length);
    const latest: (T | undefined)[] = new Array(calls.length);
    const methods: (DataTierResult["method"] | undefined)[] = new Array(calls.length);
    // The calls to make now (all of them at first, then those whose operations ended), and the calls
    // whose operations are being watched.
    let making = calls.map((_, i) => i);
    let open: number[] = [];
    let rounds = 0;
    let attempt = 1;
    for (;;) {
      try {
        if (making.length > 0) {
          const results = yield* this.callAll<T>(step, making.map((i) => calls[i]!));
          making.forEach((i, k) => {
            const result = results[k]!;
            latest[i] = result;
            if (first[i] === undefined) {
              first[i] = result;
              if ("method" in result && isMethod(result.method)) methods[i] = result.method;
            }
          });
          open = making.filter((i) => pendingOf(latest[i]!).length > 0);
          making = [];
        }
        if (open.length === 0) break;
        if (++rounds > maxRounds) {
          throw new StepFailed(step, { name: "SwitchyardError", message: `${step}: still starting operations after ${maxRounds} rounds`, code: "DidNotConverge", retryable: false });
        }
        const polled = yield* this.awaitOperations(step, open.flatMap((i) => pendingOf(latest[i]!)));
        for (const p of polled) {
          const owner = open.find((i) => pendingOf(latest[i]!).some((q) => q.resourceId === p.resourceId));
          if (owner === undefined) continue;
          // What the operation turned out to be (a watched failover someone else started may have lost data).
          if (p.method !== undefined) methods[owner] = strongerMethod(methods[owner], p.method);
        }
        making = open;
      } catch (error) {
        if (!(error instanceof StepFailed) || error.envelope.code !== OPERATION_ENDED || this.version < 3) throw error;
        // An operation Azure accepted ended Failed or Canceled: often transient. The calls are made
        // again (each reads Azure's state and starts only what is left; operations still in flight
        // are watched again, never sent twice), after a backoff, within the step's budget.
        if (attempt >= OPERATION_MAX_ATTEMPTS) {
          throw new StepFailed(step, {
            ...error.envelope,
            message: `${error.envelope.message} (the operation ended without being applied ${attempt} times in a row, each started again after a backoff; the resource's activity log in Azure says why)`,
          });
        }
        const delay = retryDelayMs(this.retry, attempt, undefined);
        this.note("wait", `an Azure operation ended without being applied (${error.envelope.message}); starting it again in ${delay} ms (attempt ${attempt + 1} of ${OPERATION_MAX_ATTEMPTS})`, { attempt: attempt + 1, maxAttempts: OPERATION_MAX_ATTEMPTS, delayMs: delay, code: error.envelope.code, ...(error.envelope.azureCode ? { azureCode: error.envelope.azureCode } : {}) }, step);
        attempt += 1;
        if (making.length === 0) making = open;
        open = [];
        this.status(step, "retry");
        yield* this.flush();
        yield* this.sleep(delay);
      }
    }
    return first.map((r, i) => ({ ...r!, pending: undefined, alsoPending: undefined, ...(methods[i] !== undefined ? { method: methods[i] } : {}) }));
  }

  /**
   * Journals the operations a step now waits for, by resource name: the activity that started each
   * journaled its full resource id, request ids and resume token already.
   */
  noteWatching(step: string, pendings: readonly PendingOperation[]): void {
    const operations = pendings.map((p) => ({ operation: p.operation, resource: armName(p.resourceId) }));
    const counts = new Map<string, number>();
    for (const p of pendings) counts.set(p.operation, (counts.get(p.operation) ?? 0) + 1);
    const summary = [...counts].map(([operation, n]) => (n > 1 ? `${n} × ${operation}` : operation)).join(", ");
    this.note("wait", `watching ${pendings.length} Azure operation(s): ${summary}`, { operations }, step);
  }

  /** Journals how the operations a step waited for ended (each poll journaled its own end in full). */
  noteEnded(step: string, done: readonly WatchedOperation[], extra: Record<string, unknown> = {}): void {
    const operations = done.map((d) => ({ resource: armName(d.resourceId), status: d.status, ...(d.method ? { method: d.method } : {}) }));
    this.note("wait", `${done.length} Azure operation(s) ended`, { operations, ...extra }, step);
  }

  /**
   * Waits until each long-running operation has ended, in a watch sub-orchestration (the monitor
   * pattern): it polls each at its own interval (Azure time, a longer Retry-After wins) divided by the
   * time scale, and continues as new every few polls, so neither its history nor the run's grows with
   * the length of the wait (the run's gains two events per wait). An operation past its deadline fails
   * the step (the operation may still complete: a new run reads the resource's state before it
   * writes). Returns each operation's last poll.
   */
  *awaitOperations(step: string, pendings: readonly PendingOperation[]): Gen<WatchedOperation[]> {
    if (this.version === 1) return yield* this.awaitOperationsInline(step, pendings);
    this.noteWatching(step, pendings);
    yield* this.flush();
    this.status(step, "operation");
    this.watches += 1;
    const watch: WatchInput = { runId: this.input.runId, kind: this.input.kind, plan: { name: this.input.plan.name }, ...(this.input.options ? { options: this.input.options } : {}), step, pendings };
    const output: WatchOutput = yield this.context.df.callSubOrchestrator(Orchestrations.watch, watch, watchInstanceId(this.input.runId, this.watches));
    if (!output.ok) throw new StepFailed(step, output.error);
    const done = output.done.map((end): WatchedOperation => ({ resourceId: end.index === undefined ? end.resourceId : pendings[end.index]!.resourceId, status: end.status, ...(end.method !== undefined ? { method: end.method } : {}) }));
    this.noteEnded(step, done, { watchExecutions: output.executions });
    return done;
  }

  /**
   * Version 1 (frozen: runs started under it replay this code): polls long-running operations on
   * durable timers in the run itself until each has ended: each at its own interval
   * (Azure time, a longer Retry-After wins), divided by the time scale. An operation past its deadline
   * fails the step (the operation may still complete: a new run reads the resource's state before it
   * writes). Returns each poll's result.
   */
  *awaitOperationsInline(step: string, pendings: readonly PendingOperation[]): Gen<WatchedOperation[]> {
    const df = this.context.df;
    const start = df.currentUtcDateTime.getTime();
    const watch = pendings.map((pending) => ({ pending, nextAt: start + this.azureMs(pending.pollSeconds), deadlineAt: start + this.azureMs(pending.deadlineSeconds), ended: false }));
    const done: WatchedOperation[] = [];
    this.noteWatching(step, pendings);
    yield* this.flush();
    let open = watch;
    while (open.length > 0) {
      const wakeAt = Math.min(...open.map((w) => w.nextAt));
      const now = df.currentUtcDateTime.getTime();
      if (wakeAt > now) {
        this.status(step, "operation");
        yield df.createTimer(new Date(wakeAt));
      }
      const at = df.currentUtcDateTime.getTime();
      const due = open.filter((w) => w.nextAt <= at);
      const results = yield* this.callAll<PollOutcome & Partial<Pick<OperationPollResult, "requestIds">>>(step, due.map((w) => ({ name: w.pending.poll, input: { runId: this.input.runId, plan: planForActivities(this.input.plan), pending: w.pending } })));
      const after = df.currentUtcDateTime.getTime();
      due.forEach((w, k) => {
        const result = results[k]!;
        if (result.status === "succeeded") {
          w.ended = true;
          done.push({ resourceId: w.pending.resourceId, status: result.status, ...(result.method !== undefined ? { method: result.method } : {}) });
          return;
        }
        if (after >= w.deadlineAt) {
          throw new StepFailed(step, {
            name: "SwitchyardError",
            message: `${w.pending.operation} on ${w.pending.resourceId} did not end within ${w.pending.deadlineSeconds} s of Azure time; it may still complete (a new run reads the resource's state before it writes)`,
            code: "OperationDeadlineExceeded",
            retryable: false,
          });
        }
        w.nextAt = after + this.azureMs(Math.max(w.pending.pollSeconds, result.retryAfterSeconds ?? 0));
      });
      open = open.filter((w) => !w.ended);
    }
    this.noteEnded(step, done);
    return done;
  }

  /** Notifies stakeholders (a notice of the kind `event` names). */
  *notify(event: string, severity: "info" | "warning" | "critical", message: string, details?: Record<string, unknown>, id?: string): Gen<void> {
    // The title is the message without its "Switchyard " lead (the plan's name comes first, as in every notice's title).
    yield* this.notice({ event, kind: kindOfEvent(event), severity, title: message.replace(/^Switchyard /, ""), message, facts: [], actions: [], ...(details ? { details } : {}) }, id);
  }

  /**
   * Notifies stakeholders through the notify activity (journal, then the plan's channels). Notices are
   * numbered in the order the run makes them, so a notice has the same id on every replay: its
   * delivery is deduplicated by it. A notification that cannot be delivered is journaled, never fatal
   * to the run, and never waited for beyond the activity's one attempt per channel.
   */
  *notice(n: Notice, id?: string): Gen<void> {
    this.notices += 1;
    const input = noticeInput(n, { runId: this.input.runId, plan: planForActivities(this.input.plan) as NotifyInput["plan"], id: id ?? `${this.input.runId}.${this.notices}.${n.kind}`, at: this.now });
    try {
      yield* this.call<void>("notify", Activities.notify, input);
    } catch (error) {
      const detail = error instanceof StepFailed ? error.envelope.message : String(error);
      this.note("notification", `notification ${n.event} could not be delivered: ${detail}`, { event: n.event, delivered: false });
    }
  }
}

/** Azure time the run gives storage re-protection (back to geo-redundancy, then the initial geo sync) before refusing a failback. */
export const REPROTECTION_HORIZON_SECONDS = 72 * 60 * 60;
/** After an abort: how long the run waits for its re-protection wait to confirm it has stopped. */
const REPROTECT_ABORT_GRACE_SECONDS = 5 * 60;
/** After settings writes: how often and how long to wait for the target region's sites to answer again. */
const RESTART_POLL_SECONDS = 15;
/** An answer counts as "restarted" only this long after the write (the time profile assumes a one-minute restart). */
const RESTART_MIN_SECONDS = 60;
const RESTART_SETTLE_SECONDS = 10 * 60;
/** Probes after RESTART_MIN_SECONDS before the settle deadline may fail the step (version 3 on). */
const RESTART_MIN_PROBES = 4;
/** Verification: how often and how long to re-check what settles by itself (Front Door propagation, restarts). */
const VERIFY_POLL_SECONDS = 30;
const VERIFY_SETTLE_SECONDS = 45 * 60; // two queued Front Door propagations (up to 20 min each, Front Door FAQ) and a restart
const FRONT_DOOR_PROPAGATION_SECONDS = 20 * 60;

/**
 * How long verification waits for what settles by itself: VERIFY_SETTLE_SECONDS, or longer when the
 * traffic step queued more Front Door changes behind each other than two — each origin group's switch
 * writes two origins, and changes to one Front Door queue (Front Door FAQ). The outline does not say
 * which profile a group is in, so every group is counted as in one profile: a longer wait only delays
 * a verdict on what has not settled, never one that has. A plan of one origin group waits as before.
 */
export function verifySettleSeconds(plan: Pick<PlanOutline, "frontDoor">): number {
  const perClassic = new Map<string, number>();
  for (const entry of plan.frontDoor.classic) perClassic.set(entry.frontDoor.id.toLowerCase(), (perClassic.get(entry.frontDoor.id.toLowerCase()) ?? 0) + 1);
  const queued = Math.max(2 * plan.frontDoor.standard.length, ...perClassic.values(), 0);
  return Math.max(VERIFY_SETTLE_SECONDS, queued * FRONT_DOOR_PROPAGATION_SECONDS + 5 * 60);
}

/** Indexes of classic Front Door entries in waves: at most one entry per Front Door in each wave. */
export function classicWaves(frontDoorIds: readonly string[]): number[][] {
  const waves: number[][] = [];
  const seen = new Map<string, number>();
  frontDoorIds.forEach((id, index) => {
    const key = id.toLowerCase();
    const wave = seen.get(key) ?? 0;
    seen.set(key, wave + 1);
    (waves[wave] ??= []).push(index);
  });
  return waves;
}

/** The method that says more about data loss: forced over planned over none. */
function isMethod(value: unknown): value is DataTierResult["method"] {
  return value === "none" || value === "planned" || value === "forced";
}

function strongerMethod(a: DataTierResult["method"] | undefined, b: DataTierResult["method"]): DataTierResult["method"] {
  const rank = { none: 0, planned: 1, forced: 2 } as const;
  return a === undefined || rank[b] > rank[a] ? b : a;
}

function pendingOf(result: { readonly pending?: PendingOperation; readonly alsoPending?: readonly PendingOperation[] }): PendingOperation[] {
  return [...(result.pending ? [result.pending] : []), ...(result.alsoPending ?? [])];
}

function seconds(fromIso: string, toIso: string): number {
  return Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 100) / 10;
}

/**
 * How an operator finishes a run that stopped halfway: what is switched already, and the two ways on
 * (resume the run, or start the same run again: every step reads Azure's state before it writes, so
 * either does only what is left).
 */
export function resumeHint(input: Pick<RunOrchestrationInput, "runId" | "kind" | "to" | "plan">, steps: readonly StepRecord[]): string {
  const done = steps.filter((s) => s.outcome === "ok" && WRITING_STEPS.has(s.step)).map((s) => s.step);
  const state = done.length > 0 ? `Already switched to ${input.to}: ${done.join(", ")}; those stay switched.` : `Nothing was switched to ${input.to}.`;
  return `${state} To finish the ${input.kind}, resume the run: POST /api/runs/${input.runId}/resume, or switchyard resume-run ${input.runId} --reason "<why>" --app <app URL>; every step reads Azure's state first and does only what is left.`;
}

/** The steps that change Azure. */
const WRITING_STEPS: ReadonlySet<string> = new Set([Steps.dataTier, Steps.settings, Steps.traffic, Steps.standbySettings, Steps.restoreRedundancy]);

/** The orchestration, current version: failover or failback, by `input.kind`. */
export function* runOrchestration(context: Ctx): Gen<RunOutput> {
  return yield* orchestrateRun(context, 4);
}

/** Version 3, for runs started under it (no approval reminder; the answer and a failed step are journaled, not notified). */
export function* runOrchestrationV3(context: Ctx): Gen<RunOutput> {
  return yield* orchestrateRun(context, 3);
}

/** Version 2, for runs started under it (planned mode never asks; an operation that ended fails its step). */
export function* runOrchestrationV2(context: Ctx): Gen<RunOutput> {
  return yield* orchestrateRun(context, 2);
}

/** Version 1, for runs started under it (Azure operations polled in the run itself). */
/** The checks of a result that did not pass (results recorded before carried every check). */
function failedChecks(result: CheckResult): CheckResult["checks"] {
  return result.checks.filter((c) => !c.ok);
}

export function* runOrchestrationV1(context: Ctx): Gen<RunOutput> {
  return yield* orchestrateRun(context, 1);
}

function* orchestrateRun(context: Ctx, version: RunVersion): Gen<RunOutput> {
  const input = context.df.getInput<RunOrchestrationInput>();
  const run = new Run(context, input, version);
  const { plan, from, to, runId } = input;
  const base = { runId, plan: planForActivities(plan) };
  let outcome: RunOutcome = "completed";
  let message = "";
  let rtoSeconds: number | null = null;
  let rpoExposure: number | null = null;
  let dataLossAllowedBy: RunOutput["dataLossAllowedBy"] = "none";

  run.add(runStartedEntry(input, run.now));
  yield* run.flush();
  yield* run.notice(runStartedNotice(input));

  try {
    if (input.kind === "failback") {
      // One wait for an operator's abort across every round of both waits below: a wait made per round
      // would stay open after its round and take the event instead of the round that is waiting, and
      // an abort that arrives while a round's activities run is seen by the next round's check.
      const abort = context.df.waitForExternalEvent(APPROVAL_EVENT);
      const aborted = (step: string): boolean => {
        if (!abort.isCompleted) return false;
        const event = approvalOf(abort.result);
        run.note("decision", `aborted by ${event.by} while waiting for re-protection: ${event.reason}`, { ...event }, step);
        return true;
      };
      const reprotected = yield* run.step(Steps.reprotect, function* () {
        return yield* reprotectAll(abort, aborted);
      });
      if (reprotected !== "protected") {
        outcome = reprotected === "aborted" ? "stopped-aborted" : "refused-not-reprotected";
        message =
          reprotected === "aborted"
            ? `Stopped: the failback was aborted while it waited for storage re-protection. Nothing was failed back.`
            : `Failback to ${to} refused: storage re-protection did not complete within ${reprotectionHorizonSeconds()} s of Azure time (geo-redundancy must be back and in sync first).`;
        return yield* finish();
      }
      const ready = yield* run.step(Steps.checkReprotection, function* () {
        const checks = input.options?.reprotectionChecks ?? 10;
        const interval = input.options?.reprotectionIntervalSeconds ?? 30;
        for (let attempt = 1; ; attempt++) {
          if (aborted(Steps.checkReprotection)) return "aborted" as const;
          const result = yield* run.call<CheckResult>(Steps.checkReprotection, Activities.checkReprotection, { ...base, region: to });
          run.note("decision", result.ok ? `${to} is re-protected: failback may proceed` : `${to} is not re-protected yet (check ${attempt} of ${checks})`, { passed: result.passed, failed: failedChecks(result) }, Steps.checkReprotection);
          if (result.ok) return true;
          if (attempt >= checks) return false;
          run.status(Steps.checkReprotection, "reprotection");
          const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + run.azureMs(interval)));
          if (abort.isCompleted) continue; // seen at the top of the next round
          const winner: df.Task = yield context.df.Task.any([timer, abort]);
          if (winner === abort) timer.cancel();
        }
      });
      if (ready === "aborted") {
        outcome = "stopped-aborted";
        message = `Stopped: the failback was aborted while it checked re-protection. Nothing was failed back.`;
        return yield* finish();
      }
      if (!ready) {
        outcome = "refused-not-reprotected";
        message = `Failback to ${to} refused: re-protection checks did not pass (storage geo-redundancy and SQL partner health are required first).`;
        return yield* finish();
      }
    }

    const health = yield* run.step(Steps.assess, function* () {
      return yield* run.call<AssessRegionsResult>(Steps.assess, Activities.assessRegions, { ...base, regions: [from, to] });
    });
    const primaryHealthy = health.regions[from]?.healthy ?? false;
    const targetHealthy = health.regions[to]?.healthy ?? false;
    run.note("decision", targetHealthy ? `target ${to} is healthy` : `target ${to} is unhealthy: refusing to fail over into it`, { regions: health.regions }, Steps.assess);
    if (!targetHealthy) {
      outcome = "refused-target-unhealthy";
      message = `Refused: the target region ${to} is not healthy, and Switchyard never fails over into an unhealthy region.`;
      return yield* finish();
    }

    const replication = yield* run.step(Steps.measure, function* () {
      return yield* run.call<MeasureReplicationResult>(Steps.measure, Activities.measureReplication, { ...base, to, outageStartedAt: input.trigger.detectedAt });
    });

    // A failback never loses data (it goes home only once re-protected); runs of version 2 read
    // planned mode the same way.
    const neverDataLoss = input.kind === "failback" || (version < 3 && input.mode === "planned");
    const decision: DataLossDecision =
      neverDataLoss && !primaryHealthy
        ? { kind: "planned", why: `the run is a ${input.kind === "failback" ? "failback" : "planned-mode failover"}: no data-loss failover, even with ${from} unreachable` }
        : decideDataLoss({
            mode: input.kind === "failback" ? "planned" : input.mode,
            primaryHealthy,
            maxLagSeconds: replication.maxLagSeconds,
            rpoSeconds: plan.objectives.rpoSeconds,
            ...(replication.basis ? { lagBasis: replication.basis } : {}),
          });
    run.note("decision", `data-loss gate: ${decision.kind} — ${decision.why}`, {
      decision: decision.kind,
      primaryHealthy,
      maxLagSeconds: replication.maxLagSeconds,
      rpoSeconds: plan.objectives.rpoSeconds,
      ...(replication.basis ? { lagBasis: replication.basis } : {}),
      ...(replication.note ? { lag: replication.note } : {}),
    }, Steps.gate);
    let allowDataLoss = decision.kind === "forced";
    if (decision.kind === "forced") dataLossAllowedBy = decision.by;

    if (decision.kind === "needs-approval") {
      const approval = yield* run.step(Steps.approval, function* () {
        const timeoutSeconds = input.options?.approvalTimeoutSeconds ?? plan.autoFailover.approvalTimeoutMinutes * 60;
        const deadline = new Date(context.df.currentUtcDateTime.getTime() + timeoutSeconds * 1000);
        const asking = { to, timeoutSeconds, deadline: deadline.toISOString(), decision, replication };
        yield* run.notice(approvalNeededNotice(input, asking));
        run.note("wait", `waiting up to ${timeoutSeconds} s for approval of a data-loss failover`, { until: deadline.toISOString(), why: decision.why }, Steps.approval);
        yield* run.flush();
        run.status(Steps.approval, "approval");
        const event = context.df.waitForExternalEvent(APPROVAL_EVENT);
        if (version >= 4) {
          // A reminder at half the time, unless the answer came first.
          const half = new Date(context.df.currentUtcDateTime.getTime() + Math.max(0, deadline.getTime() - context.df.currentUtcDateTime.getTime()) / 2);
          const reminderTimer = context.df.createTimer(half);
          const first: df.Task = yield context.df.Task.any([event, reminderTimer]);
          if (first === reminderTimer) {
            // The approval deadline is kept in the orchestration's own time (it is not scaled): so is what is left of it.
            const secondsLeft = Math.max(0, Math.round((deadline.getTime() - context.df.currentUtcDateTime.getTime()) / 1000));
            yield* run.notice(approvalNeededNotice(input, { ...asking, reminder: { secondsLeft } }));
            run.status(Steps.approval, "approval");
          } else reminderTimer.cancel();
        }
        if (!event.isCompleted) {
          const timer = context.df.createTimer(deadline);
          const winner: df.Task = yield context.df.Task.any([event, timer]);
          if (winner === timer) return undefined;
          timer.cancel();
        }
        return approvalOf(event.result);
      });
      if (!approval) {
        outcome = "stopped-approval-timeout";
        message = `Stopped: no approval for a data-loss failover arrived in time. Nothing was failed over with data loss; the data tier is unchanged.`;
        run.note("decision", "approval timed out: no forced failover", {}, Steps.approval);
        return yield* finish();
      }
      run.note("decision", `${approval.approve ? "approved" : "aborted"} by ${approval.by}: ${approval.reason}`, { ...approval }, Steps.approval);
      if (version >= 4) yield* run.notice(approvalAnsweredNotice(input, approval));
      if (!approval.approve) {
        outcome = "stopped-aborted";
        message = `Stopped: ${approval.by} aborted the data-loss failover (${approval.reason}). The data tier is unchanged.`;
        return yield* finish();
      }
      allowDataLoss = true;
      dataLossAllowedBy = "approval";
    }

    const dataTier = yield* run.step(Steps.dataTier, function* () {
      return yield* run.converge<DataTierOutcome>(Steps.dataTier, [
        ...plan.sql.map((_, index) => ({ name: Activities.failoverSqlGroup, input: { ...base, index, to, allowDataLoss } })),
        ...plan.storage.map((_, index) => ({ name: Activities.failoverStorageAccount, input: { ...base, index, to, allowDataLoss } })),
      ]);
    });
    const forced = dataTier.some((r) => r.method === "forced");
    rpoExposure = forced ? replication.maxLagSeconds : 0;
    run.note("decision", forced ? `data tier failed over with possible data loss (lag at the switch: ${replication.maxLagSeconds ?? "unknown"} s)` : "data tier failed over without data loss", { sql: dataTier.slice(0, plan.sql.length).map((r) => r.method), storage: dataTier.slice(plan.sql.length).map((r) => r.method) }, Steps.dataTier);

    const sw = (name: string, index: number, step?: string) => ({ name, input: { ...base, index, to, disableOther: !primaryHealthy, ...(step ? { step } : {}) } });
    // Each settings write restarts its site. Sites in the target region are written before traffic
    // arrives there (and the run waits for their restart); sites elsewhere are still serving until the
    // traffic switch, so they are written after it, when a restart no longer reaches users.
    const targetSites = plan.appService.flatMap((site, i) => (site.region === to ? [i] : []));
    const otherSites = plan.appService.flatMap((site, i) => (site.region === to ? [] : [i]));
    if (targetSites.length > 0) {
      yield* run.step(Steps.settings, function* () {
        const results = yield* run.callAll<SwitchOutcome>(Steps.settings, targetSites.map((i) => sw(Activities.switchAppService, i)));
        if (results.some((r) => r.restarts)) yield* awaitHealthy(Steps.settings);
        return results;
      });
    }

    yield* run.step(Steps.traffic, function* () {
      // The target was assessed before the approval wait and the data tier, which can take hours: it is
      // asked again right before users are sent there.
      const now = yield* run.call<AssessRegionsResult>(Steps.traffic, Activities.assessRegions, { ...base, regions: [to], step: Steps.traffic });
      run.note("decision", now.regions[to]?.healthy ? `${to} is still healthy: switching traffic` : `${to} is no longer healthy: traffic is not switched`, { regions: now.regions }, Steps.traffic);
      if (!now.regions[to]?.healthy) {
        throw new StepFailed(Steps.traffic, { name: "SwitchyardError", code: "TargetUnhealthy", retryable: false, message: `${to} stopped answering healthy before traffic was switched to it; the data tier is there, traffic stays where it was` });
      }
      // A classic Front Door is written whole (GET + PUT): two entries on one Front Door go one after
      // the other, or the second PUT would undo the first. Everything else switches at once.
      const waves = classicWaves(plan.frontDoor.classic.map((c) => c.frontDoor.id));
      const results: SwitchOutcome[] = [];
      for (let wave = 0; wave < Math.max(1, waves.length); wave++) {
        const calls = [
          ...(wave === 0 ? plan.frontDoor.standard.map((_, i) => sw(Activities.switchFrontDoorStandard, i)) : []),
          ...(waves[wave] ?? []).map((i) => sw(Activities.switchFrontDoorClassic, i)),
        ];
        if (calls.length > 0) results.push(...(yield* run.converge<SwitchOutcome>(Steps.traffic, calls)));
      }
      return results;
    });

    if (otherSites.length > 0) {
      yield* run.step(Steps.standbySettings, function* () {
        return yield* run.callAll<SwitchOutcome>(Steps.standbySettings, otherSites.map((i) => sw(Activities.switchAppService, i, Steps.standbySettings)));
      });
    }

    const verification = yield* run.step(Steps.verify, function* () {
      // Front Door propagation and site restarts settle by themselves: checked again until they do or
      // verifySettleSeconds of Azure time have passed.
      const deadline = context.df.currentUtcDateTime.getTime() + run.azureMs(verifySettleSeconds(plan));
      for (;;) {
        const result = yield* run.call<CheckResult>(Steps.verify, Activities.verifyPrimary, { ...base, region: to, otherWasDown: !primaryHealthy });
        if (result.ok || !result.settling || context.df.currentUtcDateTime.getTime() >= deadline) return result;
        run.status(Steps.verify, "propagation");
        yield* run.sleep(run.azureMs(VERIFY_POLL_SECONDS));
      }
    });
    run.note("decision", verification.ok ? `${to} verified as primary end to end` : `${to} failed verification`, { passed: verification.passed, failed: failedChecks(verification) }, Steps.verify);
    if (!verification.ok) {
      run.markFailed(Steps.verify, failedChecks(verification).map((c) => c.what).join("; "));
      outcome = "failed";
      message = `The switch to ${to} completed but verification failed: ${failedChecks(verification).map((c) => c.what).join("; ")}. ${resumeHint(input, run.steps)}`;
      return yield* finish();
    }
    rtoSeconds = seconds(input.trigger.detectedAt, run.now);
    if (input.kind === "failback" && plan.storage.length > 0) {
      // Zone redundancy can only come back once an account is home again (Azure refuses a zone
      // conversion of an account that failed over): started here, after the failback is verified,
      // and left to Azure (it can take days); the run says so and does not wait for it.
      const restored = yield* run.step(Steps.restoreRedundancy, function* () {
        return yield* run.callAll<ReprotectProgress>(Steps.restoreRedundancy, plan.storage.map((_, index) => ({ name: Activities.reprotectStorageAccount, input: { ...base, index, to, allowDataLoss: false, step: Steps.restoreRedundancy } })));
      });
      for (const p of restored) run.note(p.state === "protected" ? "decision" : "wait", `${armName(p.resourceId)}: ${p.why}`, { resourceId: p.resourceId, state: p.state, stage: p.stage, changed: p.changed }, Steps.restoreRedundancy);
    }
    message = `${input.kind === "failover" ? "Switched to" : "Returned to"} ${to} in ${rtoSeconds} s from detection (RTO target ${plan.objectives.rtoMinutes * 60} s); ${forced ? (rpoExposure === null ? `writes not yet replicated when the outage began may be lost; the lag could not be measured (RPO budget ${plan.objectives.rpoSeconds} s)` : `up to ${rpoExposure} s of writes at risk (RPO budget ${plan.objectives.rpoSeconds} s)`) : "no data loss"}.`;
    return yield* finish();
  } catch (error) {
    outcome = "failed";
    const envelope = error instanceof StepFailed ? error.envelope : decodeEnvelope(error instanceof Error ? error.message : String(error));
    const step = error instanceof StepFailed ? error.step : "run";
    message = `Failed in ${step}: ${envelope.message}. ${resumeHint(input, run.steps)}`;
    if (version >= 4) yield* run.notice(stepFailedNotice(input, step, envelope.message));
    return yield* finish();
  }

  function reprotectionHorizonSeconds(): number {
    return input.options?.reprotectionHorizonSeconds ?? REPROTECTION_HORIZON_SECONDS;
  }

  /**
   * Re-protects every storage account, one step per account per round (an SKU change, a zone
   * conversion, or nothing while Azure converts or geo-replication bootstraps), on durable timers,
   * until every account is back to the plan's redundancy and in sync, the horizon passes, or an
   * operator aborts the wait.
   */
  function* reprotectAll(abort: df.Task, aborted: (step: string) => boolean): Gen<"protected" | "timeout" | "aborted"> {
    if (version === 1) return yield* reprotectAllInline(abort, aborted);
    if (plan.storage.length === 0) return "protected";
    if (aborted(Steps.reprotect)) return "aborted";
    yield* run.flush();
    run.status(Steps.reprotect, "reprotection");
    const wait: ReprotectWaitInput = {
      runId,
      kind: input.kind,
      plan,
      ...(input.options ? { options: input.options } : {}),
      to,
      deadlineAt: context.df.currentUtcDateTime.getTime() + run.azureMs(reprotectionHorizonSeconds()),
      horizonSeconds: reprotectionHorizonSeconds(),
    };
    const child = context.df.callSubOrchestrator(Orchestrations.reprotect, wait, reprotectInstanceId(runId));
    const winner: df.Task = yield context.df.Task.any([child, abort]);
    if (winner !== child && aborted(Steps.reprotect)) {
      // The abort is sent to the wait too (it stops at once); the run waits for it to end, bounded, so
      // that no re-protection round runs on after the run, and the run does not stay open behind it.
      const grace = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + run.azureMs(REPROTECT_ABORT_GRACE_SECONDS)));
      const ended: df.Task = yield context.df.Task.any([child, grace]);
      if (ended === child) grace.cancel();
      else run.note("wait", `the re-protection wait did not confirm the abort within ${REPROTECT_ABORT_GRACE_SECONDS} s; it ends at its next round`, { instanceId: reprotectInstanceId(runId) }, Steps.reprotect);
      return "aborted";
    }
    const output: ReprotectWaitOutput = yield child;
    return output.result;
  }

  /** Version 1 (frozen): the same rounds in the run itself. */
  function* reprotectAllInline(abort: df.Task, aborted: (step: string) => boolean): Gen<"protected" | "timeout" | "aborted"> {
    if (plan.storage.length === 0) return "protected";
    const deadline = context.df.currentUtcDateTime.getTime() + run.azureMs(reprotectionHorizonSeconds());
    const said = new Map<string, string>();
    let told = false;
    for (;;) {
      if (aborted(Steps.reprotect)) return "aborted";
      const progress = yield* run.callAll<ReprotectProgress>(Steps.reprotect, plan.storage.map((_, index) => ({ name: Activities.reprotectStorageAccount, input: { ...base, index, to, allowDataLoss: false } })));
      const waiting = progress.filter((p) => p.state !== "protected");
      for (const p of progress) {
        if (said.get(p.resourceId) === p.why) continue;
        said.set(p.resourceId, p.why);
        run.note(p.state === "protected" ? "decision" : "wait", `${armName(p.resourceId)}: ${p.why}`, { resourceId: p.resourceId, state: p.state, stage: p.stage, changed: p.changed }, Steps.reprotect);
      }
      if (waiting.length === 0) return "protected";
      if (context.df.currentUtcDateTime.getTime() >= deadline) return "timeout";
      if (!told) {
        told = true;
        yield* run.notify("failback-waiting", "info", `Switchyard ${plan.name}: the failback to ${to} waits for storage re-protection (${waiting.map((p) => p.why).join("; ")}); this can take up to ${reprotectionHorizonSeconds()} s of Azure time. Abort run ${runId} to stop waiting.`);
      }
      yield* run.flush();
      run.status(Steps.reprotect, "reprotection");
      if (abort.isCompleted) continue; // an abort that came while this round's activities ran
      const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + run.azureMs(Math.min(...waiting.map((p) => p.pollSeconds)))));
      const winner: df.Task = yield context.df.Task.any([timer, abort]);
      if (winner === abort) timer.cancel();
    }
  }

  /** After settings writes restarted sites: waits until `to` answers healthy (bounded), or fails the step. */
  /**
   * After settings writes restarted sites: waits until `to` answers healthy, bounded. Azure does not say
   * when the restart begins, so an answer counts only from RESTART_MIN_SECONDS after the write, and
   * two in a row are needed: a probe that lands before the restart has begun proves nothing.
   */
  function* awaitHealthy(step: string): Gen<void> {
    const writtenAt = context.df.currentUtcDateTime.getTime();
    const deadline = writtenAt + run.azureMs(RESTART_SETTLE_SECONDS);
    run.note("wait", `settings written: waiting for ${to} to answer healthy after its sites restart`, { region: to, limitSeconds: RESTART_SETTLE_SECONDS }, step);
    let healthyInRow = 0;
    let probesAfterRestart = 0;
    for (;;) {
      run.status(step, "restart");
      yield* run.sleep(run.azureMs(RESTART_POLL_SECONDS));
      const health = yield* run.call<AssessRegionsResult>(step, Activities.assessRegions, { ...base, regions: [to], step });
      const now = context.df.currentUtcDateTime.getTime();
      healthyInRow = health.regions[to]?.healthy ? healthyInRow + 1 : 0;
      if (healthyInRow >= 2 && now - writtenAt >= run.azureMs(RESTART_MIN_SECONDS)) {
        run.note("decision", `${to} answers healthy after the restart`, { regions: health.regions }, step);
        return;
      }
      if (now - writtenAt >= run.azureMs(RESTART_MIN_SECONDS)) probesAfterRestart++;
      // The deadline is in Azure time; since version 3 it also takes RESTART_MIN_PROBES answers after
      // the restart could have happened, so that a slow host (local time × scale) cannot use the whole
      // window up on one or two probes. In Azure a probe takes seconds of a ten-minute window: same result.
      if (now >= deadline && (version < 3 || probesAfterRestart >= RESTART_MIN_PROBES)) {
        throw new StepFailed(step, { name: "SwitchyardError", code: "RestartNotSettled", retryable: false, message: `${to} did not answer healthy within ${RESTART_SETTLE_SECONDS} s of Azure time after its settings changed; traffic was not switched to it` });
      }
    }
  }

  function* finish(): Gen<RunOutput> {
    const output: RunOutput = {
      runId,
      kind: input.kind,
      outcome,
      from,
      to,
      steps: run.steps,
      rtoSeconds,
      rtoTargetSeconds: plan.objectives.rtoMinutes * 60,
      rpoExposureSeconds: rpoExposure,
      rpoBudgetSeconds: plan.objectives.rpoSeconds,
      dataLossAllowedBy,
      message,
    };
    run.status("finished");
    run.add(runFinishedEntry(output, run.now));
    try {
      yield* run.flush();
    } catch (error) {
      // The run's outcome stands; the journal could not take its last entries (the output still has them).
      const detail = error instanceof StepFailed ? error.envelope.message : String(error);
      return { ...output, message: `${output.message} The journal could not record the end of the run: ${detail}` };
    }
    yield* run.notice(runFinishedNotice(input, output));
    return output;
  }
}
