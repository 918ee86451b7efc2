/**
 * Readiness: a plan evaluated against Azure as it is now, without changing anything — does every
 * resource exist in the role and state the plan expects, may Switchyard's identity perform every
 * action a run would take, is the standby region healthy, is replication within the RPO and able to
 * fail over, does Front Door have the standby's origin, do the sites have their settings, are the
 * secrets in every vault and not about to expire, and has the plan been drilled lately.
 *
 * A check that could not be made (a read that failed) is `unknown`, and an unknown is not ready:
 * readiness never pretends. Advisory checks are shown and recorded but decide nothing.
 */

export type ReadinessArea = "regions" | "resources" | "replication" | "front-door" | "settings" | "secrets" | "permissions" | "drills";

export const READINESS_AREAS: readonly ReadinessArea[] = ["regions", "resources", "replication", "front-door", "settings", "secrets", "permissions", "drills"];

export type CheckResult = "pass" | "fail" | "unknown";

export interface ReadinessCheck {
  readonly area: ReadinessArea;
  /** What was checked, for people: `storage account contosoordersdata`. */
  readonly subject: string;
  readonly resourceId?: string;
  readonly result: CheckResult;
  /** One line: what was found (never a secret value). */
  readonly detail: string;
  /** Recorded and shown, but not part of the verdict. */
  readonly advisory?: boolean;
  /** Permissions: the actions the identity lacks on the resource. */
  readonly missingActions?: readonly string[];
}

export interface ReadinessResult {
  readonly plan: string;
  /** ISO time the evaluation began. */
  readonly evaluatedAt: string;
  /** The region serving now, and the one a failover would make primary. */
  readonly primary: string;
  readonly standby: string;
  readonly ready: boolean;
  readonly checks: readonly ReadinessCheck[];
}

/** How many days before its expiry a secret's current version makes a plan not ready. */
export const SECRET_EXPIRY_MARGIN_DAYS = 7;
/** A plan's last passed drill older than this is reported (advisory). */
export const DRILL_MAX_AGE_DAYS = 30;

/** Ready when every check that is not advisory passed. */
export function isReady(checks: readonly ReadinessCheck[]): boolean {
  return checks.every((c) => c.advisory === true || c.result === "pass");
}

/** The checks that make a plan not ready, failed ones first. */
export function blocking(result: Pick<ReadinessResult, "checks">): ReadinessCheck[] {
  const open = result.checks.filter((c) => c.advisory !== true && c.result !== "pass");
  return [...open.filter((c) => c.result === "fail"), ...open.filter((c) => c.result === "unknown")];
}

// ---- drift: what the readiness timer keeps per plan, and when it tells people ---------------------

export type ReadinessState = "ready" | "not-ready";

/** One evaluation, as kept in a plan's readiness record (the blocking checks only). */
export interface ReadinessSummary {
  readonly evaluatedAt: string;
  readonly ready: boolean;
  readonly checks: number;
  readonly blocking: readonly Pick<ReadinessCheck, "area" | "subject" | "result" | "detail" | "resourceId" | "missingActions">[];
}

export interface ReadinessRecord {
  readonly plan: string;
  /** The state people were last told of (absent until the first evaluation). */
  readonly state?: ReadinessState;
  readonly since?: string;
  /** Consecutive not-ready evaluations whose blocking checks were all unknown (a read failing). */
  readonly unknownStreak: number;
  readonly latest?: ReadinessSummary;
  /** The last evaluations, newest last. */
  readonly history: readonly { readonly at: string; readonly ready: boolean; readonly blocking: number }[];
  /**
   * A change people have not been told of yet: kept with the record that found it, cleared once the
   * notification is handed over (`settle`), so that a notice that failed, or a host that stopped in
   * between, is told at the next evaluation instead of never.
   */
  readonly pending?: { readonly change: ReadinessChange; readonly at: string };
}

/** Evaluations kept in a record's history (a day at the default schedule of every 30 minutes). */
export const READINESS_HISTORY = 48;
/** Not ready only because reads failed: told after this many evaluations in a row, not at the first. */
export const UNKNOWN_EVALUATIONS_BEFORE_DRIFT = 2;
/** Blocking checks kept in a record (the rest are counted). */
const KEPT_BLOCKING = 50;

export type ReadinessChange = "drift" | "restored";

/** Longest subject and detail kept in a record (a check naming many settings is cut, with a count). */
export const KEPT_TEXT = 600;

const clip = (text: string) => (text.length <= KEPT_TEXT ? text : `${text.slice(0, KEPT_TEXT - 30)}… (${text.length - KEPT_TEXT + 30} more characters)`);

export function summarise(result: ReadinessResult): ReadinessSummary {
  return {
    evaluatedAt: result.evaluatedAt,
    ready: result.ready,
    checks: result.checks.length,
    blocking: blocking(result)
      .slice(0, KEPT_BLOCKING)
      .map((c) => ({
        area: c.area,
        subject: clip(c.subject),
        result: c.result,
        detail: clip(c.detail),
        ...(c.resourceId ? { resourceId: clip(c.resourceId) } : {}),
        ...(c.missingActions ? { missingActions: c.missingActions.slice(0, 100).map(clip) } : {}),
      })),
  };
}

/**
 * The record after an evaluation, and whether people are to be told: a plan that becomes not ready
 * (drift) is told once, when it happens — at once when a check failed, after
 * UNKNOWN_EVALUATIONS_BEFORE_DRIFT evaluations when only reads failed — and told again only after it
 * was ready once more (restored). A first evaluation that finds the plan not ready is a drift too:
 * nobody has been told it is ready.
 */
export function applyEvaluation(record: ReadinessRecord, result: ReadinessResult): { record: ReadinessRecord; change?: ReadinessChange } {
  const next = transition(record, result);
  // A change not yet told is replaced by a newer one (what people need to know is where it stands now).
  const pending = next.change ? { change: next.change, at: result.evaluatedAt } : record.pending;
  const { pending: _, ...rest } = next.record;
  return { record: { ...rest, ...(pending ? { pending } : {}) }, ...(next.change ? { change: next.change } : {}) };
}

function transition(record: ReadinessRecord, result: ReadinessResult): { record: ReadinessRecord; change?: ReadinessChange } {
  const summary = summarise(result);
  const history = [...record.history, { at: result.evaluatedAt, ready: result.ready, blocking: summary.blocking.length }].slice(-READINESS_HISTORY);
  const onlyUnknown = !result.ready && blocking(result).every((c) => c.result === "unknown");
  const unknownStreak = onlyUnknown ? record.unknownStreak + 1 : 0;
  const base = { plan: record.plan, unknownStreak, latest: summary, history };
  if (result.ready) {
    if (record.state === "ready") return { record: { ...base, state: "ready", since: record.since ?? result.evaluatedAt } };
    return { record: { ...base, state: "ready", since: result.evaluatedAt }, ...(record.state === "not-ready" ? { change: "restored" as const } : {}) };
  }
  if (record.state === "not-ready") return { record: { ...base, state: "not-ready", since: record.since ?? result.evaluatedAt } };
  if (onlyUnknown && unknownStreak < UNKNOWN_EVALUATIONS_BEFORE_DRIFT) {
    return { record: { ...base, ...(record.state ? { state: record.state } : {}), ...(record.since ? { since: record.since } : {}) } };
  }
  return { record: { ...base, state: "not-ready", since: result.evaluatedAt }, change: "drift" };
}

/** The record once the pending change found at `at` has been handed to the notifier (unchanged if another is pending). */
export function settlePending(record: ReadinessRecord, at: string): ReadinessRecord {
  if (record.pending?.at !== at) return record;
  const { pending: _, ...rest } = record;
  return rest;
}

export const emptyReadinessRecord = (plan: string): ReadinessRecord => ({ plan, unknownStreak: 0, history: [] });

// ---- for people -----------------------------------------------------------------------------------

const MARK: Record<CheckResult, string> = { pass: "ok", fail: "FAIL", unknown: "??" };

/** Each check on a line, then `ready` or what is not. */
export function formatReadiness(result: ReadinessResult): string {
  const lines = [`readiness of ${result.plan}: ${result.primary} serving, ${result.standby} standing by (evaluated ${result.evaluatedAt})`];
  for (const area of READINESS_AREAS) {
    for (const c of result.checks.filter((x) => x.area === area)) {
      // An advisory check that did not pass is a note: it decides nothing.
      const mark = c.advisory && c.result !== "pass" ? "note" : MARK[c.result];
      lines.push(`  ${mark.padEnd(4)} ${area.padEnd(11)} ${c.subject}: ${c.detail}${c.advisory ? " (advisory)" : ""}`);
    }
  }
  const open = blocking(result);
  if (result.ready) lines.push("ready");
  else {
    lines.push(`not ready: ${open.length} check(s)`);
    for (const c of open) lines.push(`  - ${c.area}: ${c.subject}: ${c.detail}`);
  }
  return lines.join("\n");
}
