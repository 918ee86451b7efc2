/**
 * A plan's drill history: one record per drill (who started it, when, how it ended and why, and each
 * run's RTO and RPO exposure), the newest DRILL_HISTORY_LIMIT kept, and the trend of the failover RTO
 * over the last drills. Pure: the store (src/drills/store.ts) keeps the document, parsed here.
 *
 * RTOs are Azure seconds. A local drill at a time scale measures local seconds and records them
 * multiplied by the scale, marked `rtoProjected` (the projection multiplies Switchyard's own local
 * overhead too, so it is an upper bound); in Azure the scale is 1 and the figure is measured.
 */
import { z } from "zod";
import { SwitchyardError } from "../errors.ts";
import { DRILL_OUTCOMES, isDrillId, type DrillMode, type DrillOutcome, type DrillRunKind, type DrillTrigger } from "./model.ts";

/** Drills kept per plan: the oldest gives way to the newest. */
export const DRILL_HISTORY_LIMIT = 20;

/** Drills the trend looks at (the newest of them with a failover RTO). */
export const TREND_WINDOW = 5;

/**
 * The direction rule: the latest failover RTO against the median of the earlier ones in the window.
 * More than this fraction below it is `improving`, more than this fraction above it `worsening`, else
 * `steady`; with fewer than two RTOs there is no direction.
 */
export const TREND_BAND = 0.1;

export const TREND_RULE = `the latest failover RTO against the median of the earlier ones in the last ${TREND_WINDOW} drills: more than ${TREND_BAND * 100} % lower is improving, more than ${TREND_BAND * 100} % higher is worsening, else steady; fewer than 2 RTOs give no direction`;

/** How one run of a drill went. */
export interface DrillRunRecord {
  readonly kind: DrillRunKind;
  readonly runId: string;
  readonly from: string;
  readonly to: string;
  /** The run's outcome (RunOutcome), `terminated` (pre-empted) or `unknown` (it ended without an output). */
  readonly outcome: string;
  /** Start → new primary verified, in Azure seconds (projected when `rtoProjected`); null when not reached. */
  readonly rtoSeconds: number | null;
  /** The same, in the local seconds measured, when projected. */
  readonly rtoLocalSeconds?: number | null;
  readonly rtoProjected: boolean;
  readonly rtoTargetSeconds: number | null;
  /** Replication lag at the switch, in seconds: the data a forced switch put at risk (0 for a planned one). */
  readonly rpoExposureSeconds: number | null;
  /** Who allowed data loss: `none` for a planned switch (null when the run did not say). */
  readonly dataLossAllowedBy: "none" | "rpo-gate" | "approval" | "operator" | null;
  /** Where the run's Markdown report was stored. */
  readonly report?: string;
}

export interface DrillRecord {
  readonly drillId: string;
  readonly plan: string;
  readonly mode: DrillMode;
  readonly trigger: DrillTrigger;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly outcome: DrillOutcome;
  /** Why it ended so, in one line. */
  readonly reason: string;
  /** Azure time ÷ this during the drill (1 in Azure). */
  readonly timeScale: number;
  /** The runs it started, failover first. */
  readonly runs: readonly DrillRunRecord[];
  /** Where the drill's own Markdown report was stored. */
  readonly report?: string;
}

/** The stored document: the plan's drills, oldest first. */
export interface DrillHistory {
  readonly plan: string;
  readonly drills: readonly DrillRecord[];
}

/** A part of a stored history that did not read as its type, by path (`drills[3].runs[0].rtoSeconds`). */
export interface HistoryProblem {
  readonly path: string;
  readonly problem: string;
}

/** Problems a read reports by path; any more are counted (a document of junk must not make a huge answer). */
export const MAX_PROBLEMS = 20;

/** A history as read: the records that are whole, and what did not read (each left out, never trusted). */
export interface ReadHistory extends DrillHistory {
  /** The first MAX_PROBLEMS records that did not read. */
  readonly problems: readonly HistoryProblem[];
  /** How many more records did not read than `problems` lists. */
  readonly moreProblems?: number;
}

/** The stored history is not a drill history at all (unreadable, another plan's, not a list of drills). */
export class DrillHistoryError extends SwitchyardError {
  constructor(
    readonly plan: string,
    readonly where: string,
    readonly path: string,
    readonly problem: string,
  ) {
    // Not retryable: a person must mend or remove the document (nothing is appended over it).
    super(`the drill history of plan ${plan} (${where}) is malformed at ${path === "" ? "its root" : path}: ${problem}`, { code: "DrillHistoryMalformed" });
  }
}

export function emptyHistory(plan: string): DrillHistory {
  return { plan, drills: [] };
}

/**
 * The history with `record` added as the newest drill (a record of the same drill id already there is
 * kept as it is: a step that runs again records once), the oldest dropped beyond `limit`.
 */
export function appendDrill(history: DrillHistory, record: DrillRecord, limit: number = DRILL_HISTORY_LIMIT): DrillHistory {
  if (history.drills.some((d) => d.drillId === record.drillId)) return history;
  return { plan: history.plan, drills: [...history.drills, record].slice(-limit) };
}

/** The drill of `drillId`, when the history has it. */
export function drillOf(history: DrillHistory, drillId: string): DrillRecord | undefined {
  return history.drills.find((d) => d.drillId === drillId);
}

/** The newest drill that passed (a readiness check reads its `endedAt`). */
export function latestPassedDrill(history: DrillHistory): DrillRecord | undefined {
  return history.drills.findLast((d) => d.outcome === "passed");
}

// ---- reading ----------------------------------------------------------------------------------------

/** The longest text each field of a record may hold: the reader refuses a longer one, the writer cuts to it (fitDrillRecord). */
export const RECORD_LIMITS = {
  drillId: 200,
  plan: 40,
  by: 500,
  triggerReason: 600,
  reason: 2000,
  report: 1000,
  runId: 200,
  region: 100,
  runOutcome: 60,
} as const;

const isoTime = z.string().max(40).refine((t) => !Number.isNaN(Date.parse(t)), "an ISO time");
const seconds = z.number().finite().min(0);
const text = (max: number) => z.string().max(max);
const L = RECORD_LIMITS;

const runSchema = z.object({
  kind: z.enum(["failover", "failback"]),
  runId: text(L.runId).min(1),
  from: text(L.region),
  to: text(L.region),
  outcome: text(L.runOutcome).min(1),
  rtoSeconds: seconds.nullable(),
  rtoLocalSeconds: seconds.nullable().optional(),
  rtoProjected: z.boolean(),
  rtoTargetSeconds: seconds.nullable(),
  rpoExposureSeconds: seconds.nullable(),
  dataLossAllowedBy: z.enum(["none", "rpo-gate", "approval", "operator"]).nullable(),
  report: text(L.report).optional(),
});

const recordSchema = z.object({
  drillId: text(L.drillId).min(1),
  plan: text(L.plan),
  mode: z.literal("planned"),
  trigger: z.object({ kind: z.enum(["timer", "cli", "operator"]), by: text(L.by), reason: text(L.triggerReason).optional() }),
  startedAt: isoTime,
  endedAt: isoTime,
  outcome: z.enum(DRILL_OUTCOMES as [DrillOutcome, ...DrillOutcome[]]),
  reason: text(L.reason),
  timeScale: z.number().finite().min(1),
  runs: z.array(runSchema).max(2),
  report: text(L.report).optional(),
});

/** `value` cut to `max` characters, the cut marked with an ellipsis. */
function cut(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}

/** A record with every text cut to what the reader takes (RECORD_LIMITS), so that a record written is a record read. */
export function fitDrillRecord(record: DrillRecord): DrillRecord {
  const { reason: triggerReason, ...trigger } = record.trigger;
  return {
    ...record,
    drillId: cut(record.drillId, L.drillId),
    plan: cut(record.plan, L.plan),
    trigger: { ...trigger, by: cut(trigger.by, L.by), ...(triggerReason !== undefined ? { reason: cut(triggerReason, L.triggerReason) } : {}) },
    reason: cut(record.reason, L.reason),
    runs: record.runs.map((run) => ({
      ...run,
      runId: cut(run.runId, L.runId),
      from: cut(run.from, L.region),
      to: cut(run.to, L.region),
      outcome: cut(run.outcome, L.runOutcome),
      ...(run.report !== undefined ? { report: cut(run.report, L.report) } : {}),
    })),
    ...(record.report !== undefined ? { report: cut(record.report, L.report) } : {}),
  };
}

/** `drills[3].runs[0].rtoSeconds` from a zod issue's path under `base`. */
function pathOf(base: string, parts: readonly PropertyKey[]): string {
  let out = base;
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : `${out === "" ? "" : "."}${String(p)}`;
  return out;
}

/**
 * A stored history, checked. A document that is not JSON, is another plan's, or has no list of drills
 * is refused with DrillHistoryError (nothing is appended over it). A drill record that does not read as
 * one is left out and reported in `problems` with the path of its first bad field: it is never trusted,
 * and never dropped without a word.
 */
export function parseDrillHistory(plan: string, raw: string, where: string): ReadHistory {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new DrillHistoryError(plan, where, "", `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DrillHistoryError(plan, where, "", "not an object");
  const doc = value as Record<string, unknown>;
  if (doc.plan !== plan) throw new DrillHistoryError(plan, where, "plan", `expected "${plan}", found ${JSON.stringify(doc.plan)?.slice(0, 60)}`);
  if (!Array.isArray(doc.drills)) throw new DrillHistoryError(plan, where, "drills", "expected a list of drills");
  const drills: DrillRecord[] = [];
  const problems: HistoryProblem[] = [];
  let more = 0;
  const problem = (path: string, text: string) => (problems.length < MAX_PROBLEMS ? problems.push({ path, problem: text }) : more++);
  doc.drills.forEach((entry, i) => {
    const checked = recordSchema.safeParse(entry);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      problem(pathOf(`drills[${i}]`, issue.path), issue.message);
      return;
    }
    if (checked.data.plan !== plan) {
      problem(`drills[${i}].plan`, `expected "${plan}"`);
      return;
    }
    if (!isDrillId(checked.data.drillId) || !checked.data.drillId.startsWith(`${plan}.`)) {
      problem(`drills[${i}].drillId`, `expected a drill id of plan ${plan} ({plan}.{stamp}.drill-{hex})`);
      return;
    }
    drills.push(checked.data as DrillRecord);
  });
  return { plan, drills, problems, ...(more > 0 ? { moreProblems: more } : {}) };
}

// ---- trend ------------------------------------------------------------------------------------------

export type TrendDirection = "improving" | "worsening" | "steady";

export interface TrendPoint {
  readonly drillId: string;
  readonly endedAt: string;
  /** The drill's failover RTO in Azure seconds. */
  readonly rtoSeconds: number;
  readonly projected: boolean;
}

export interface DrillTrend {
  /** The failover RTOs of the last drills that have one (at most TREND_WINDOW), oldest first. */
  readonly rtos: readonly TrendPoint[];
  readonly medianSeconds: number | null;
  /** Null with fewer than two RTOs. */
  readonly direction: TrendDirection | null;
  /** How the direction is decided. */
  readonly rule: string;
  /** Some of the RTOs are projections from a local time scale. */
  readonly projected: boolean;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The failover RTO of a drill, when its failover reached one. */
function failoverRto(drill: DrillRecord): TrendPoint | undefined {
  const run = drill.runs.find((r) => r.kind === "failover");
  if (!run || run.rtoSeconds === null) return undefined;
  return { drillId: drill.drillId, endedAt: drill.endedAt, rtoSeconds: run.rtoSeconds, projected: run.rtoProjected };
}

/** The trend of the failover RTO over the newest drills that have one (see TREND_RULE). */
export function drillTrend(history: Pick<DrillHistory, "drills">, window: number = TREND_WINDOW): DrillTrend {
  const rtos = history.drills.map(failoverRto).filter((p): p is TrendPoint => p !== undefined).slice(-window);
  const values = rtos.map((p) => p.rtoSeconds);
  const earlier = median(values.slice(0, -1));
  const latest = values.at(-1);
  let direction: TrendDirection | null = null;
  if (latest !== undefined && earlier !== null) {
    direction = latest < earlier * (1 - TREND_BAND) ? "improving" : latest > earlier * (1 + TREND_BAND) ? "worsening" : "steady";
  }
  return { rtos, medianSeconds: median(values), direction, rule: TREND_RULE, projected: rtos.some((p) => p.projected) };
}

/** A duration for people: `42 s`, `12 min 5 s`, `3 h 20 min`. */
export function durationText(secondsValue: number): string {
  const s = Math.round(secondsValue);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The trend in one line for people. */
export function formatTrend(trend: DrillTrend): string {
  if (trend.rtos.length === 0) return "RTO trend: no drill has measured a failover RTO yet";
  const list = trend.rtos.map((p) => durationText(p.rtoSeconds)).join(", ");
  const direction =
    trend.direction === null
      ? "no direction yet (one RTO)"
      : `${trend.direction} (latest ${durationText(trend.rtos.at(-1)!.rtoSeconds)} against ${durationText(median(trend.rtos.slice(0, -1).map((p) => p.rtoSeconds))!)} before)`;
  return `RTO trend (failover, last ${trend.rtos.length} drill(s)): ${list}; median ${durationText(trend.medianSeconds!)}; ${direction}${trend.projected ? "; projected to Azure time from a local time scale" : ""}`;
}

/** What GET /api/plans/{plan} shows of the history: the last drills (newest first) and the trend. */
export interface DrillsView {
  readonly last: readonly {
    readonly drillId: string;
    readonly outcome: DrillOutcome;
    readonly reason: string;
    readonly trigger: DrillTrigger;
    readonly startedAt: string;
    readonly endedAt: string;
    readonly rtoSeconds: number | null;
    readonly rtoProjected: boolean;
    readonly failbackRtoSeconds: number | null;
    readonly rpoExposureSeconds: number | null;
  }[];
  readonly trend: DrillTrend & { readonly line: string };
  /** Records of the stored history that did not read (left out above): the first MAX_PROBLEMS. */
  readonly problems?: readonly HistoryProblem[];
  /** How many more did not read. */
  readonly moreProblems?: number;
}

export function drillsView(history: ReadHistory | DrillHistory, count: number = TREND_WINDOW): DrillsView {
  const trend = drillTrend(history);
  const problems = "problems" in history ? history.problems.slice(0, MAX_PROBLEMS) : [];
  const more = "problems" in history ? (history.moreProblems ?? 0) + Math.max(0, history.problems.length - MAX_PROBLEMS) : 0;
  return {
    last: history.drills
      .slice(-count)
      .reverse()
      .map((d) => {
        const failover = d.runs.find((r) => r.kind === "failover");
        const failback = d.runs.find((r) => r.kind === "failback");
        return {
          drillId: d.drillId,
          outcome: d.outcome,
          reason: d.reason,
          trigger: d.trigger,
          startedAt: d.startedAt,
          endedAt: d.endedAt,
          rtoSeconds: failover?.rtoSeconds ?? null,
          rtoProjected: failover?.rtoProjected ?? false,
          failbackRtoSeconds: failback?.rtoSeconds ?? null,
          rpoExposureSeconds: failover?.rpoExposureSeconds ?? null,
        };
      }),
    trend: { ...trend, line: formatTrend(trend) },
    ...(problems.length > 0 ? { problems } : {}),
    ...(more > 0 ? { moreProblems: more } : {}),
  };
}

/** One line per run of a drill, for people: outcome, RTO (projected or not), RPO exposure, who allowed data loss. */
export function runLine(run: DrillRunRecord): string {
  const rto =
    run.rtoSeconds === null
      ? "RTO not reached"
      : run.rtoProjected
        ? `RTO ${durationText(run.rtoSeconds)} projected at Azure durations (${run.rtoLocalSeconds ?? "?"} s local)`
        : `RTO ${durationText(run.rtoSeconds)}`;
  const rpo = run.rpoExposureSeconds === null ? "RPO exposure unknown" : `RPO exposure ${run.rpoExposureSeconds} s`;
  return `${run.kind} ${run.from} → ${run.to}: ${run.outcome}; ${rto}; ${rpo}; data loss allowed by: ${run.dataLossAllowedBy ?? "unknown"}`;
}
