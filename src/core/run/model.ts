import type { NotificationAction, NotificationFact, NotificationKind } from "../notification.ts";
import { asObject } from "../guards.ts";
import type { ErrorEnvelope } from "../errors.ts";
import type { Plan } from "../plan/index.ts";

/** Activity names: the orchestrations call these, `src/functions` registers them. */
export const Activities = {
  assessRegions: "assessRegions",
  measureReplication: "measureReplication",
  failoverSqlGroup: "failoverSqlGroup",
  failoverStorageAccount: "failoverStorageAccount",
  reprotectStorageAccount: "reprotectStorageAccount",
  switchFrontDoorStandard: "switchFrontDoorStandard",
  switchFrontDoorClassic: "switchFrontDoorClassic",
  switchAppService: "switchAppService",
  verifyPrimary: "verifyPrimary",
  checkReprotection: "checkReprotection",
  /** Read-only: polls one long-running operation a step started (the Durable monitor pattern). */
  pollSqlFailover: "pollSqlFailover",
  pollStorageFailover: "pollStorageFailover",
  pollFrontDoorStandard: "pollFrontDoorStandard",
  pollFrontDoorClassic: "pollFrontDoorClassic",
  notify: "notify",
  journal: "journal",
} as const;
export type ActivityName = (typeof Activities)[keyof typeof Activities];

/** The run's steps, as the journal, the run's status and its output name them. */
export const Steps = {
  assess: "assess",
  measure: "measure",
  gate: "gate",
  approval: "approval",
  dataTier: "data-tier",
  settings: "settings",
  traffic: "traffic",
  standbySettings: "standby-settings",
  verify: "verify",
  reprotect: "reprotect",
  checkReprotection: "check-reprotection",
  restoreRedundancy: "restore-redundancy",
} as const;
export type StepName = (typeof Steps)[keyof typeof Steps];

/**
 * The run's step each activity's work belongs to, when it is always the same one. Activities journal
 * under the run's step, with their own name as `activity`: a call whose step differs (a site's settings
 * switched in `standby-settings`, an account re-protected in `restore-redundancy`) names it in its input
 * (`step`), and a poll takes the step of the activity that started its operation.
 */
export const ACTIVITY_STEPS: Readonly<Partial<Record<ActivityName, StepName>>> = {
  [Activities.assessRegions]: Steps.assess,
  [Activities.measureReplication]: Steps.measure,
  [Activities.failoverSqlGroup]: Steps.dataTier,
  [Activities.failoverStorageAccount]: Steps.dataTier,
  [Activities.reprotectStorageAccount]: Steps.reprotect,
  [Activities.switchFrontDoorStandard]: Steps.traffic,
  [Activities.switchFrontDoorClassic]: Steps.traffic,
  [Activities.switchAppService]: Steps.settings,
  [Activities.verifyPrimary]: Steps.verify,
  [Activities.checkReprotection]: Steps.checkReprotection,
};

/** The run's step an activity call serves (see ACTIVITY_STEPS); undefined for notify and the journal. */
export function runStepOf(activity: ActivityName, input: unknown): string | undefined {
  const given = asObject(input);
  if (typeof given?.step === "string") return given.step;
  const started = asObject(asObject(given?.pending)?.context)?.step;
  if (typeof started === "string") return isActivityName(started) ? (ACTIVITY_STEPS[started] ?? started) : started;
  return ACTIVITY_STEPS[activity];
}

function isActivityName(name: string): name is ActivityName {
  return Object.values<string>(Activities).includes(name);
}

/**
 * Orchestration names. A change to what an orchestration schedules, in what order, is deployed under a
 * new name (a new version), never over the old one: a run in flight replays its history against the
 * code registered under the name it started with, and a changed action sequence would fail it with the
 * runtime's non-determinism error. Starts use the current names; the earlier versions stay registered
 * (src/orchestrations/index.ts) until no instance of them is running in any task hub.
 */
export const Orchestrations = {
  /**
   * Version 4: the approval wait sends a reminder at half its time; the answer to it and a failed step
   * are notified. Version 3: a planned-mode failover that would need data loss asks for approval (as an automatic
   * one does), and a long-running operation that ends Failed or Canceled is started again within the
   * step's budget (OPERATION_MAX_ATTEMPTS). Long waits run in the `watch` sub-orchestration (since 2).
   */
  failover: "failoverRunV4",
  failback: "failbackRunV4",
  /** Watches a step's long-running Azure operations until they end (continues as new every few polls). */
  watch: "watchOperations",
  /** A failback's wait for storage re-protection, round by round (continues as new every few rounds). */
  reprotect: "reprotectStorage",
} as const;

/** Names of earlier versions, registered so that their runs in flight finish on their own code. */
export const EarlierOrchestrations = {
  /** Version 1 (until 0.1): polls Azure operations inside the run. */
  failoverV1: "failoverRun",
  failbackV1: "failbackRun",
  /** Version 2 (until 0.2): planned mode never asks for approval; a failed operation fails its step. */
  failoverV2: "failoverRunV2",
  failbackV2: "failbackRunV2",
  /** Version 3 (until 0.3): no approval reminder; the answer and a failed step are journaled, not notified. */
  failoverV3: "failoverRunV3",
  failbackV3: "failbackRunV3",
} as const;

/**
 * The error code of a long-running operation that Azure accepted and that then ended Failed or
 * Canceled (not a request that failed): the run may start the operation again (its activities read
 * Azure's state first), a poll of it may not.
 */
export const OPERATION_ENDED = "OperationEnded";

/** The external event a paused run waits for. */
export const APPROVAL_EVENT = "approval";
export interface ApprovalEvent {
  readonly approve: boolean;
  readonly by: string;
  readonly reason: string;
}

/**
 * The approval event as the run reads it from durable history. Only `approve: true` approves: an event
 * of any other shape (raised by hand against the instance) is read as an abort, never as consent to
 * lose data.
 */
export function approvalOf(value: unknown): ApprovalEvent {
  const given = asObject(value);
  return {
    approve: given?.approve === true,
    by: typeof given?.by === "string" ? given.by : "unknown",
    reason: typeof given?.reason === "string" ? given.reason : "an approval event of an unknown shape",
  };
}

export type RunKind = "failover" | "failback";

/** What a run shows as its custom status while it runs: its step, since when, and what it waits for. */
export interface RunStatus {
  readonly runId: string;
  readonly kind: RunKind;
  readonly step: string;
  readonly stepStartedAt: string;
  readonly waitingFor?: "approval" | "retry" | "reprotection" | "operation" | "restart" | "propagation";
}

const WAITING_FOR = new Set(["approval", "retry", "reprotection", "operation", "restart", "propagation"]);

/** The run id of a run's orchestration input as the Durable runtime hands it back (undefined if it has none). */
export function runIdOfInput(input: unknown): string | undefined {
  const runId = typeof input === "object" && input !== null ? (input as { runId?: unknown }).runId : undefined;
  return typeof runId === "string" ? runId : undefined;
}

/** A run's custom status as the Durable runtime hands it back, checked (undefined when it is not one). */
export function runStatusOf(value: unknown): RunStatus | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.runId !== "string" || (v.kind !== "failover" && v.kind !== "failback") || typeof v.step !== "string" || typeof v.stepStartedAt !== "string") return undefined;
  const waitingFor = typeof v.waitingFor === "string" && WAITING_FOR.has(v.waitingFor) ? (v.waitingFor as RunStatus["waitingFor"]) : undefined;
  return { runId: v.runId, kind: v.kind, step: v.step, stepStartedAt: v.stepStartedAt, ...(waitingFor ? { waitingFor } : {}) };
}

/**
 * `planned` loses no data without a human's approval: with the primary unreachable it asks for one;
 * `auto` fails over planned when it can and forced only when the RPO gate or an approval allows;
 * `forced` is an operator's explicit request that pre-approves data loss (still planned while the
 * primary is reachable).
 */
export type FailoverMode = "planned" | "auto" | "forced";

export interface RunTrigger {
  readonly source: "alert" | "manual" | "drill" | "timer";
  /** Who (or which alert rule) started it. */
  readonly by: string;
  readonly reason: string;
  /** When the outage was detected (ISO): the start of the measured RTO. */
  readonly detectedAt: string;
}

export interface RunInput {
  readonly runId: string;
  readonly kind: RunKind;
  readonly mode: FailoverMode;
  readonly plan: Plan;
  /** The region that is primary now, and the region to make primary. */
  readonly from: string;
  readonly to: string;
  readonly trigger: RunTrigger;
  readonly options?: RunOptions;
}

/**
 * What the run orchestration needs of its plan: names, objectives, how many of each resource, the
 * regions of sites and the Front Doors of classic entries. The whole plan is kept once per run, as a
 * snapshot written when the run starts (RunPlanStore), and activities read it there: a durable
 * history holds this outline instead of a copy of the plan in every activity call.
 */
export interface PlanOutline {
  readonly name: string;
  readonly objectives: Plan["objectives"];
  readonly autoFailover: Pick<Plan["autoFailover"], "approvalTimeoutMinutes">;
  readonly sql: readonly object[];
  readonly storage: readonly object[];
  readonly frontDoor: { readonly standard: readonly object[]; readonly classic: readonly { readonly frontDoor: { readonly id: string } }[] };
  readonly appService: readonly { readonly region?: string | undefined }[];
}

/** The outline of a plan (of an outline: itself, trimmed). */
export function outlineOf(plan: PlanOutline): PlanOutline {
  return {
    name: plan.name,
    objectives: plan.objectives,
    autoFailover: { approvalTimeoutMinutes: plan.autoFailover.approvalTimeoutMinutes },
    sql: plan.sql.map(() => ({})),
    storage: plan.storage.map(() => ({})),
    frontDoor: { standard: plan.frontDoor.standard.map(() => ({})), classic: plan.frontDoor.classic.map((c) => ({ frontDoor: { id: c.frontDoor.id } })) },
    appService: plan.appService.map((site) => (site.region === undefined ? {} : { region: site.region })),
  };
}

/** True for a whole plan (it has its regions), false for an outline or a name. */
export function isWholePlan(plan: PlanOutline | Plan | PlanName): plan is Plan {
  return typeof (plan as { regions?: unknown }).regions === "object" && (plan as { regions?: unknown }).regions !== null;
}

/**
 * The plan as activities are called with it: its name alone (the activity reads the run's snapshot),
 * or, for runs started with the whole plan (version 1), the whole plan.
 */
export function planForActivities(plan: PlanOutline | Plan | PlanName): PlanName | Plan {
  return isWholePlan(plan) ? plan : { name: plan.name };
}

/** A plan by its name alone (activities read the run's snapshot of it). */
export interface PlanName {
  readonly name: string;
}

/** What the run orchestration is started with: the run, with its plan as an outline. */
export interface RunOrchestrationInput extends Omit<RunInput, "plan"> {
  readonly plan: PlanOutline;
}

export interface RunOptions {
  /** Retries of failed steps (Retry-After is honoured on top). */
  readonly retry?: { readonly maxAttempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
  /** Overrides the plan's autoFailover.approvalTimeoutMinutes (drills, tests). */
  readonly approvalTimeoutSeconds?: number;
  /** Failback: how often and how long apart to re-check re-protection before refusing. */
  readonly reprotectionChecks?: number;
  readonly reprotectionIntervalSeconds?: number;
  /** Failback: how much Azure time storage re-protection may take before the failback is refused (default 72 h). */
  readonly reprotectionHorizonSeconds?: number;
  /**
   * Azure time divided by this (local runs at a time scale): every wait the run derives from Azure's
   * durations (poll intervals, operation deadlines, re-protection horizon) is divided by it. Default 1.
   * Human time (the approval timeout) is not scaled.
   */
  readonly timeScale?: number;
}

/** A new run id: `{plan}.{yyyymmddThhmmssZ}.{kind}-{4 hex}` (the plan name has no dots). */
export function newRunId(planName: string, kind: string, at: Date, random: () => number = Math.random): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const suffix = Math.floor(random() * 0x10000).toString(16).padStart(4, "0");
  return `${planName}.${stamp}.${kind}-${suffix}`;
}

/** The plan a run id belongs to, or undefined for an id Switchyard did not make. */
export function planOfRunId(runId: string): string | undefined {
  const match = /^([a-z][a-z0-9-]{1,38}[a-z0-9])\.\d{8}T\d{6}Z\.[a-z-]+-[0-9a-f]{4}$/.exec(runId);
  return match?.[1];
}

/** One instance per plan: a second start while it runs is refused with the running run's id. */
export function instanceIdFor(planName: string): string {
  return `switchyard-${planName}`;
}

/**
 * What every activity returns across the Durable boundary: failures travel as data (an envelope), so
 * the orchestrator decides on retries from facts, not from parsing exception text.
 */
export type ActivityResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: import("../errors.ts").ErrorEnvelope };

// ---- activity inputs and results -------------------------------------------------------------

export interface ActivityInput {
  readonly runId: string;
  readonly plan: Plan;
  /** The run's step the call serves, when it is not the activity's usual one (see ACTIVITY_STEPS). */
  readonly step?: string;
}

export interface ProbeResult {
  readonly url: string;
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly ms: number;
}

export interface RegionHealth {
  readonly healthy: boolean;
  readonly probes: readonly ProbeResult[];
}

/**
 * A region's health as the run receives it: the verdict and how many endpoints answered. The probes
 * themselves are journaled by the activity that made them (an `observation`), not carried through
 * durable history. (Runs recorded earlier received whole RegionHealth values; `healthy` is common.)
 */
export interface RegionVerdict {
  readonly healthy: boolean;
  readonly answering: number;
  readonly endpoints: number;
}

export interface AssessRegionsInput extends ActivityInput {
  readonly regions: readonly string[];
}
export interface AssessRegionsResult {
  readonly at: string;
  readonly regions: Record<string, RegionVerdict>;
}

export interface MeasureReplicationInput extends ActivityInput {
  /** The region that would become primary. */
  readonly to: string;
  /** When the outage was detected (the run's `detectedAt`): last-known lags are aged to it. Absent: now. */
  readonly outageStartedAt?: string;
}
export interface SqlReplication {
  readonly failoverGroup: string;
  /** Seconds behind, or null when Azure cannot tell (SQL reports lag only inside the primary database). */
  readonly lagSeconds: number | null;
  readonly replicationState: string;
  readonly roleInTarget: "Primary" | "Secondary";
}
export interface StorageReplication {
  readonly account: string;
  readonly lagSeconds: number | null;
  readonly lastSyncTime: string | null;
  readonly status: string;
  readonly canPlannedFailover: boolean;
  readonly canFailover: boolean;
  readonly primaryLocation: string;
}
/** What the activity measured, per replica: journaled by it as an `observation`. */
export interface ReplicationObserved {
  readonly to: string;
  readonly sql: readonly SqlReplication[];
  readonly storage: readonly StorageReplication[];
  readonly maxLagSeconds: number | null;
}
/** What the RPO gate needs (the per-replica figures are in the journal: ReplicationObserved). */
export interface MeasureReplicationResult {
  readonly at: string;
  /** The largest measured lag; null when any resource's lag could not be measured. */
  readonly maxLagSeconds: number | null;
  /** How the lags are known: resources measured now, from the last sample before the outage, unknown (absent in runs of older versions). */
  readonly basis?: { readonly live: number; readonly lastKnown: number; readonly unknown: number };
  /** One line on the lags and how they are known, for the gate's decision. */
  readonly note?: string;
  /** The largest lags (unknown first), with how each is known: what a data-loss approval puts at stake. */
  readonly largest?: readonly { readonly resourceId: string; readonly lagSeconds: number | null; readonly basis: string }[];
}

export interface DataTierInput extends ActivityInput {
  /** Index into plan.sql or plan.storage. */
  readonly index: number;
  readonly to: string;
  /** Whether a data-loss (forced/unplanned) failover is allowed: only the RPO gate or an approval sets it. */
  readonly allowDataLoss: boolean;
}
export interface DataTierResult {
  readonly resourceId: string;
  readonly changed: boolean;
  /** What was done: nothing (already there), a planned or a forced/unplanned failover. */
  readonly method: "none" | "planned" | "forced";
  /** Request ids of the Azure writes made (for the journal and the report). */
  readonly requestIds: readonly string[];
  /** The long-running operation started (or found in flight) that the run must now watch. */
  readonly pending?: PendingOperation;
}

/**
 * A long-running Azure operation a step started, which the orchestration watches on durable timers
 * (the Durable monitor pattern): no activity ever waits for Azure longer than one request. Small and
 * serialisable: it travels through durable history.
 */
export interface PendingOperation {
  /** The read-only activity that polls it once (one of the `poll…` activities). */
  readonly poll: ActivityName;
  readonly resourceId: string;
  /** The operation as the journal names it, e.g. `StorageAccounts_Failover (Planned)`. */
  readonly operation: string;
  /**
   * The SDK poller's serialised state: enough to poll the operation from any process. Absent in what
   * activities return today: the token is journaled with Azure's acceptance and the poll reads it there
   * (it stays out of durable history). Present in runs recorded before that.
   */
  readonly resumeToken?: string;
  /** Seconds of Azure time between polls for this kind of operation (a longer Retry-After wins). */
  readonly pollSeconds: number;
  /**
   * Seconds of Azure time, from when the run starts watching, past which it stops waiting and fails the
   * step. (When Azure accepted the operation is in the journal: the operation entry's time.)
   */
  readonly deadlineSeconds: number;
  /** What the poll activity needs besides (index into the plan's list, target region, kind of failover). */
  readonly context: Readonly<Record<string, string | number | boolean>>;
}

/** One operation's end, as a wait for operations returns it to the run. */
export interface WatchedOperation {
  readonly resourceId: string;
  readonly status: OperationPollResult["status"];
  readonly method?: DataTierResult["method"];
}

/**
 * One operation's end as the watch sub-orchestration reports it: by its index in the watch's
 * `pendings` (the run knows the resource). Watches recorded earlier reported the resource id and the
 * polls' request ids instead; the run reads both.
 */
export type WatchedEnd =
  | { readonly index: number; readonly status: OperationPollResult["status"]; readonly method?: DataTierResult["method"] }
  | (WatchedOperation & { readonly index?: undefined });

// ---- what activities hand the run across the Durable boundary ---------------------------------
//
// The run's durable history keeps every activity's result. An activity hands the run what the run
// decides on; what it did in detail (the resource, Azure's request ids, resume tokens, probes, checks)
// it journaled itself. The activity functions return their full results to in-process callers.

/** What a data-tier activity hands the run. */
export type DataTierOutcome = Pick<DataTierResult, "changed" | "method" | "pending">;
export function dataTierOutcome(result: DataTierResult): DataTierOutcome {
  return { changed: result.changed, method: result.method, ...(result.pending ? { pending: result.pending } : {}) };
}

/** What a traffic or settings activity hands the run. */
export type SwitchOutcome = Pick<SwitchResult, "changed" | "pending" | "alsoPending" | "restarts">;
export function switchOutcome(result: SwitchResult): SwitchOutcome {
  return {
    changed: result.changed,
    ...(result.pending ? { pending: result.pending } : {}),
    ...(result.alsoPending && result.alsoPending.length > 0 ? { alsoPending: result.alsoPending } : {}),
    ...(result.restarts !== undefined ? { restarts: result.restarts } : {}),
  };
}

/** What a poll hands the watch (the request ids of its reads are the activity's, not the run's). */
export type PollOutcome = Omit<OperationPollResult, "requestIds">;
export function pollOutcome(result: OperationPollResult): PollOutcome {
  return { status: result.status, ...(result.retryAfterSeconds !== undefined ? { retryAfterSeconds: result.retryAfterSeconds } : {}), ...(result.method !== undefined ? { method: result.method } : {}) };
}

/** The watch sub-orchestration's input: what its polls need, and its progress across continue-as-new. */
export interface WatchInput extends Pick<RunOrchestrationInput, "runId" | "kind" | "options"> {
  /** The plan by name (its polls read the run's snapshot); an outline in watches started earlier. */
  readonly plan: PlanName | PlanOutline;
  readonly step: string;
  readonly pendings: readonly PendingOperation[];
  readonly progress?: WatchProgress;
}

/** Where a watch stands, handed from one execution to the next (times: orchestration ms). */
export interface WatchProgress {
  readonly nextAt: readonly number[];
  readonly deadlineAt: readonly number[];
  /** Request ids of each operation's polls so far (watches recorded earlier; no longer kept). */
  readonly ids?: readonly (readonly string[])[];
  /** Operations that ended, in the order they did. */
  readonly done: readonly WatchedEnd[];
  /** Indexes (into `pendings`) of the operations that ended. */
  readonly ended: readonly number[];
  /** This is the watch's n-th execution. */
  readonly execution: number;
}

export type WatchOutput =
  | { readonly ok: true; readonly done: readonly WatchedEnd[]; readonly executions: number }
  | { readonly ok: false; readonly error: ErrorEnvelope; readonly executions: number };

/** The instance id of a run's n-th watch: unique per run, the same on every replay. */
export function watchInstanceId(runId: string, n: number): string {
  return `${runId}:watch-${n}`;
}

/** The re-protection sub-orchestration's input (times: orchestration ms). */
export interface ReprotectWaitInput extends Pick<RunOrchestrationInput, "runId" | "kind" | "plan" | "options"> {
  readonly to: string;
  readonly deadlineAt: number;
  readonly horizonSeconds: number;
  readonly progress?: { readonly said: readonly (readonly [string, string])[]; readonly told: boolean; readonly execution: number };
}

export interface ReprotectWaitOutput {
  readonly result: "protected" | "timeout" | "aborted";
  readonly executions: number;
}

/** The instance id of a failback's re-protection wait (one per run; an abort is sent to it too). */
export function reprotectInstanceId(runId: string): string {
  return `${runId}:reprotect`;
}

export interface OperationPollInput extends ActivityInput {
  readonly pending: PendingOperation;
}

/** One poll of a pending operation. An operation that ended Failed or Canceled comes back as the activity's error. */
export interface OperationPollResult {
  readonly status: "running" | "succeeded";
  /** Retry-After of the poll's answer, in seconds, when Azure sent one. */
  readonly retryAfterSeconds?: number;
  /** Request ids of the polls and the final read (for the report). */
  readonly requestIds: readonly string[];
  /** For a data-tier operation that succeeded: how it failed over. */
  readonly method?: DataTierResult["method"];
}

/** One step of storage re-protection (an activity call): where the account stands, and what was done. */
export interface ReprotectProgress {
  readonly resourceId: string;
  readonly state: "protected" | "waiting";
  /** E.g. `geo-redundancy`, `zone-conversion`, `initial-sync`, `done`. */
  readonly stage: string;
  /** In words, for the journal and the notification. */
  readonly why: string;
  /** Whether this call wrote to Azure. */
  readonly changed: boolean;
  readonly requestIds: readonly string[];
  /** Seconds of Azure time until it is worth asking again. */
  readonly pollSeconds: number;
}

export interface SwitchInput extends ActivityInput {
  readonly index: number;
  readonly to: string;
  /** Whether the region being left should stop taking traffic (it is unhealthy), or stay on standby. */
  readonly disableOther: boolean;
}
export interface SwitchResult {
  readonly resourceId: string;
  readonly changed: boolean;
  readonly requestIds: readonly string[];
  /** The long-running operation started (Front Door updates) that the run must now watch. */
  readonly pending?: PendingOperation;
  /** Further operations started at the same time (both origins of an AFD group updated at once): watched like `pending`. */
  readonly alsoPending?: readonly PendingOperation[];
  /** App Service: the write restarts the site; traffic waits until its region answers healthy. */
  readonly restarts?: boolean;
}

export interface RegionInput extends ActivityInput {
  readonly region: string;
  /**
   * Verification: whether the run treated the other region as down when it switched settings (its
   * sites were then left alone, and are not checked). Unset: the other region is probed.
   */
  readonly otherWasDown?: boolean;
}
export interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly settling?: boolean;
}
export interface CheckResult {
  readonly ok: boolean;
  /**
   * The checks that did not pass. Every check, passed or not, is journaled by the activity (an
   * `observation`); the run receives the failures it must act on and name. (Runs recorded earlier
   * received every check here: readers filter on `ok`.)
   */
  readonly checks: readonly Check[];
  /** How many checks passed. */
  readonly passed?: number;
  /**
   * True when every failed check is one that settles by itself (Front Door still propagating, a site
   * still restarting): the run checks again after a while instead of failing.
   */
  readonly settling?: boolean;
}

export interface NotifyInput extends ActivityInput {
  readonly event: string;
  readonly severity: "info" | "warning" | "critical";
  readonly message: string;
  readonly details?: Record<string, unknown>;
  /**
   * The event's id: the deduplication key of its delivery (stable across replays and retries). Runs
   * number their notices (`{runId}.{n}.{kind}`); without one, an id is derived from the content and time.
   */
  readonly id?: string;
  /** The kind channels filter on (derived from `event` when absent). */
  readonly kind?: NotificationKind;
  readonly title?: string;
  readonly facts?: readonly NotificationFact[];
  readonly actions?: readonly NotificationAction[];
  readonly incident?: { readonly key: string; readonly action: "trigger" | "resolve" };
  /** When it happened (orchestrator time for runs); the time of delivery when absent. */
  readonly at?: string;
}

// ---- run output --------------------------------------------------------------------------------

export type RunOutcome =
  | "completed"
  | "refused-target-unhealthy"
  | "refused-not-reprotected"
  | "stopped-approval-timeout"
  | "stopped-aborted"
  | "failed";

/**
 * A run's status as operators read it: the Durable runtime's status, except that a finished
 * orchestration's status follows its outcome (the orchestration always completes with an output, even
 * when the run failed or stopped): `completed` only when the run did what it set out to do, `failed`
 * when a step failed or verification did not pass, `stopped` when it refused or was stopped by a
 * decision (approval timeout, abort, target unhealthy, not re-protected).
 */
export type RunState = "pending" | "running" | "completed" | "stopped" | "failed" | "terminated";
export function runStateOf(runtime: "pending" | "running" | "completed" | "failed" | "terminated", output?: Pick<RunOutput, "outcome">): RunState {
  if (runtime !== "completed" || output === undefined) return runtime;
  if (output.outcome === "completed") return "completed";
  return output.outcome === "failed" ? "failed" : "stopped";
}

export interface StepRecord {
  readonly step: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly outcome: "ok" | "failed" | "skipped";
  readonly detail?: string;
}

export interface RunOutput {
  readonly runId: string;
  readonly kind: RunKind;
  readonly outcome: RunOutcome;
  readonly from: string;
  readonly to: string;
  readonly steps: readonly StepRecord[];
  /** Outage detected → new primary verified, in seconds (null when the run did not get there). */
  readonly rtoSeconds: number | null;
  readonly rtoTargetSeconds: number;
  /** Replication lag at the switch, in seconds: the data a forced failover put at risk (0 for planned). */
  readonly rpoExposureSeconds: number | null;
  readonly rpoBudgetSeconds: number;
  readonly dataLossAllowedBy: "none" | "rpo-gate" | "approval" | "operator";
  readonly message: string;
}
