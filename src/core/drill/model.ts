/**
 * Planned drills, as the orchestration, its activities and its starters share them: names, ids,
 * inputs and outputs. Pure.
 *
 * A planned drill rehearses a switch without an outage: a planned failover of the whole plan from its
 * home region (mode `planned`: no data is lost without a person's approval, and the drill never gives
 * one), then a failback home, each a run of its own started through the run port (one run per plan),
 * with the RTO and RPO exposure of each kept in the plan's drill history (history.ts). It is refused
 * while any region of the plan is in an incident (detection's verdict `down`) or while the plan has a
 * run in progress or reserved, and an incident pre-empts it: detection terminates the drill's run (an
 * incident failover), or the drill terminates its own run at its next poll once detection holds a
 * region of the plan down (whatever the policy decides), and the drill ends `preempted` without
 * starting its failback.
 *
 * The orchestration follows the Durable monitor pattern: one idempotent activity (`drillAdvance`)
 * reads where the drill stands (its runs, the plan's detection state, the history) and moves it one
 * step (start a run, record the end), never waiting; the orchestration polls it on durable timers.
 */
import type { DrillRecord } from "./history.ts";

export const DrillOrchestrations = {
  /** One plan's planned drill (one instance per plan: drillInstanceId). */
  planned: "plannedDrillV1",
  /** The scheduledDrill timer's pass: every plan of the catalog drilled, one at a time. */
  scheduled: "scheduledDrillsV1",
} as const;

export const DrillActivities = {
  /** Reads where the drill stands and moves it on (starts a run, records the end). */
  advance: "drillAdvance",
  /** Notifies the plan's channels that a drill started or finished. */
  notify: "drillNotify",
} as const;
export type DrillActivityName = (typeof DrillActivities)[keyof typeof DrillActivities];

/** The kinds of drill a history records. Only `planned` exists today. */
export type DrillMode = "planned";

/** What started a drill: the scheduledDrill timer, the command line, an operator. */
export interface DrillTrigger {
  readonly kind: "timer" | "cli" | "operator";
  /** Who: the timer's name, the command, the operator's name (redacted where recorded). */
  readonly by: string;
  readonly reason?: string;
}

/** How a drill ended. */
export type DrillOutcome = "passed" | "failed" | "refused" | "preempted";
export const DRILL_OUTCOMES: readonly DrillOutcome[] = ["passed", "failed", "refused", "preempted"];

export type DrillRunKind = "failover" | "failback";

export interface PlannedDrillInput {
  /** `{plan}.{stamp}.drill-{hex}`: a run id's form (the plan's snapshot is kept under it). */
  readonly drillId: string;
  readonly plan: string;
  readonly trigger: DrillTrigger;
  /** Local drills at a time scale: Azure waits are divided by it and RTOs multiplied back. Default 1. */
  readonly timeScale?: number;
  /** Where an execution that continued as new left off. */
  readonly progress?: DrillProgress;
}

/** What a drill carries into its next execution when it continues as new. */
export interface DrillProgress {
  /** The runs the drill has seen started (the activity is told, so that it never starts one twice). */
  readonly started: readonly DrillRunKind[];
  /** Polls made since the drill began watching its current run. */
  readonly polls: number;
  /** When it began watching its current run (orchestration ms). */
  readonly watchingSince?: number;
  /** When drillAdvance began failing, if it is failing (orchestration ms). */
  readonly failingSince?: number;
  /** The reason the drill stopped watching its run, if it did (its end is still to be recorded). */
  readonly abandon?: string;
  /** Notices sent (the event id is `{drillId}.{n}.{kind}`). */
  readonly notices: number;
  readonly execution: number;
  /** When the drill began (orchestration time, ISO). */
  readonly startedAt: string;
}

/** The input of drillAdvance: the drill and what the orchestration knows of it. */
export interface AdvanceInput {
  readonly drillId: string;
  readonly plan: string;
  readonly trigger: DrillTrigger;
  readonly timeScale: number;
  readonly startedAt: string;
  readonly started: readonly DrillRunKind[];
  /**
   * The orchestration's time of this call (ISO): a run started now counts its RTO from it, and a drill
   * that ends now ends at it, so that a drill's times are all the orchestration's. Absent: the activity's clock.
   */
  readonly at?: string;
  /** Ends the drill `failed` with this reason if it has not ended (the orchestration stops watching). */
  readonly abandon?: string;
}

/** Where a drill stands after one advance. */
export type AdvanceResult =
  | {
      readonly state: "watching";
      readonly kind: DrillRunKind;
      readonly runId: string;
      /** The run was started by this call. */
      readonly startedNow: boolean;
      /** The run's step and what it waits for, as its status says. */
      readonly step?: string;
      readonly waitingFor?: string;
    }
  | {
      readonly state: "ended";
      readonly outcome: DrillOutcome;
      readonly reason: string;
      readonly record: DrillRecord;
      /** The plan's RTO trend with this drill in it, in one line. */
      readonly trend?: string;
    };

/** A notice of a drill: what the orchestration knows, for the notify activity. */
export interface DrillNotice {
  readonly drillId: string;
  readonly plan: string;
  /** The notice's number in its drill (the event id is `{drillId}.{n}.{kind}`). */
  readonly n: number;
  readonly at: string;
  readonly kind: "drill-started" | "drill-finished";
  readonly trigger: DrillTrigger;
  readonly outcome?: DrillOutcome;
  readonly reason?: string;
  /** One line per run (outcome, RTO, RPO exposure). */
  readonly runs?: readonly string[];
  /** The trend line of the plan's history, after this drill. */
  readonly trend?: string;
}

/** What a planned drill's orchestration returns. */
export interface PlannedDrillOutput {
  readonly drillId: string;
  readonly plan: string;
  readonly outcome: DrillOutcome;
  readonly reason: string;
  /** The record appended to the history (absent when the drill could not record itself). */
  readonly record?: DrillRecord;
}

/** The scheduledDrill timer's pass: the drills it runs, one after another, prepared when the timer fired. */
export interface ScheduledDrillsInput {
  readonly passId: string;
  readonly drills: readonly PlannedDrillInput[];
}

export interface ScheduledDrillsOutput {
  readonly passId: string;
  readonly drills: readonly { readonly plan: string; readonly drillId: string; readonly outcome: DrillOutcome | "not-run"; readonly reason: string }[];
}

/** A drill's custom status while it runs. */
export interface DrillStatus {
  readonly kind: "drill";
  readonly drillId: string;
  readonly plan: string;
  readonly phase: "starting" | DrillRunKind | "done";
  readonly runId?: string;
  readonly step?: string;
  readonly waitingFor?: string;
  readonly outcome?: DrillOutcome;
}

/** The one instance of a plan's planned drill. */
export function drillInstanceId(plan: string): string {
  return `switchyard-drill-${plan}`;
}

/** The one instance of the scheduled pass over every plan. */
export const SCHEDULED_DRILLS_INSTANCE = "switchyard-drills";

const DRILL_ID = /^([a-z][a-z0-9-]{1,38}[a-z0-9])\.(\d{8}T\d{6}Z)\.drill-([0-9a-f]{4})$/;

/** Whether `id` is a drill id (`{plan}.{stamp}.drill-{hex}`). */
export function isDrillId(id: string): boolean {
  return DRILL_ID.test(id);
}

/**
 * The run id of a drill's failover or failback: the drill's, with the run's kind
 * (`{plan}.{stamp}.drill-failover-{hex}`), so that a step that runs again finds the run it started.
 */
export function drillRunId(drillId: string, kind: DrillRunKind): string {
  const match = DRILL_ID.exec(drillId);
  if (!match) throw new Error(`'${drillId}' is not a drill id`);
  return `${match[1]}.${match[2]}.drill-${kind}-${match[3]}`;
}
