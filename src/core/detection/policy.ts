import type { Plan } from "../plan/index.ts";
import { Steps, type RunKind, type RunTrigger } from "../run/model.ts";
import type { RunView } from "../run/port.ts";
import { isReservationLive, RESERVATION_GRACE_MS } from "../run/reservation.ts";
import { redactText } from "../secrets.ts";
import type { DecidingSignal, PlanState, PolicyState, RegionChange, RetryState } from "./model.ts";
import { describeSignals as signalsOf, quorumThresholds, regionVerdict } from "./quorum.ts";

/*
 * The auto-failover policy: whether a region verdict starts a failover, and the bookkeeping it needs
 * (kill switch, cooldown, daily cap, the current primary). Pure.
 *
 * The policy is level-triggered: it considers starting whenever the CURRENT primary's verdict is down,
 * not only in the evaluation where the verdict changed, so that a start blocked for a while (a run in
 * progress, a drill being pre-empted, the cooldown, a failed start) is retried at the next evaluation
 * while the outage lasts. Starting twice is prevented by the run singleton, the cooldown after every
 * run (lastRunAt is updated when a start is reserved and whenever a run is seen running or finishing),
 * and the daily cap.
 *
 * Going home is a failback: when the region to move to is the plan's `regions.primary`, the start is of
 * kind "failback" (it re-protects before it moves anything), whatever trigger asks; every automatic
 * switch, failover or failback, counts toward maxPerDay.
 *
 * A run that ended without writing to Azure (see `wroteNothing`), unless a person stopped it or its
 * approval timed out (`decidedByPerson`), moved nothing: it does not count
 * toward maxPerDay, and instead of the cooldown the next automatic start waits for a backoff
 * (`retryBackoffMs`: 1, 2, 4, 8, 16, then every 30 minutes), recorded as `policy.retry`.
 *
 * Checks, in order (the first that applies is the answer):
 *   not-down         the current primary's verdict is not down (and no change says a region went down)
 *   not-primary      a region went down, but it is not the current primary (or the primary is fine)
 *   disabled         plan.autoFailover.enabled is false
 *   paused           the kill switch is on (policy.paused: by, reason, at)
 *   target-down      the region to fail over to is itself down
 *   run-in-progress  a run of this plan is in progress (a drill: `preemptDrill` is set, see below)
 *   retry-backoff    the last automatic run wrote nothing and now < policy.retry.notBefore (replaces the cooldown)
 *   cooldown         now − policy.lastRunAt < cooldownMinutes
 *   daily-cap        maxPerDay automatic failovers started in the last 24 h (maxPerDay 0: never)
 */

export type PolicyCode = "not-down" | "paused" | "disabled" | "cooldown" | "retry-backoff" | "daily-cap" | "run-in-progress" | "target-down" | "not-primary";

export type PolicyDecision =
  | {
      readonly start: true;
      /** "failback" when `to` is the plan's primary (going home re-protects first), else "failover". */
      readonly kind: RunKind;
      readonly from: string;
      readonly to: string;
      readonly reason: string;
      /** When the outage was detected: the primary's down verdict's `since` (the start of the RTO). */
      readonly detectedAt: string;
      /** The primary's down signals, as they stand now. */
      readonly signals: readonly DecidingSignal[];
    }
  | {
      readonly start: false;
      readonly code: PolicyCode;
      readonly reason: string;
      /** Set with `run-in-progress` when the run is a drill and the primary is down: the caller pre-empts it. */
      readonly preemptDrill?: true;
    };

export interface PolicyInput {
  readonly plan: Plan;
  readonly state: PlanState;
  /** The change of this evaluation that concerns the decision, if any (for the reason it gives). */
  readonly change: RegionChange | undefined;
  /** The run id of the plan's run in progress, if any. */
  readonly runInProgress: string | undefined;
  /** What started the run in progress (a drill is pre-empted by an incident). */
  readonly runInProgressSource?: RunTrigger["source"];
  readonly now: Date;
  /** The quorum's stale window, when not the default (only for quoting the primary's down signals). */
  readonly staleAfterSeconds?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const ms = (iso: string) => Date.parse(iso);

/** The region that serves now: the plan's primary unless a completed run moved it. */
export function currentPrimary(plan: Plan, state: PlanState): string {
  const recorded = state.primary?.region;
  return recorded === plan.regions.secondary.name || recorded === plan.regions.primary.name ? recorded : plan.regions.primary.name;
}

/** The plan's other region. */
export function otherRegionOf(plan: Plan, region: string): string {
  return region === plan.regions.primary.name ? plan.regions.secondary.name : plan.regions.primary.name;
}

/** Automatic failovers started within 24 h before `now`. */
export function recentAutoFailovers(policy: PolicyState, now: Date): string[] {
  const t = now.getTime();
  return policy.autoFailovers.filter((at) => t - ms(at) < DAY_MS && ms(at) <= t);
}

/** At most this many signals are quoted in a reason or a journal entry (the rest are counted). */
export const MAX_QUOTED_SIGNALS = 5;

/** The signals that decided, for people: at most MAX_QUOTED_SIGNALS, redacted (names and details come from outside). */
export function quoteSignals(signals: readonly DecidingSignal[], separator = ", "): string {
  const shown = signals.slice(0, MAX_QUOTED_SIGNALS).map((s) => redactText(`${s.name} (${s.status} since ${s.since}${s.detail ? `: ${s.detail}` : ""})`));
  const more = signals.length - shown.length;
  return `${shown.join(separator)}${more > 0 ? `${separator}and ${more} more` : ""}`;
}

/** The kind of a switch to `to`: going home (the plan's primary) is always a failback. */
export function switchKind(plan: Plan, to: string): RunKind {
  return to === plan.regions.primary.name ? "failback" : "failover";
}

export function decideAutoFailover(input: PolicyInput): PolicyDecision {
  const { plan, state, change, now } = input;
  const primary = currentPrimary(plan, state);
  const target = otherRegionOf(plan, primary);
  const verdict = state.regions[primary];
  const auto = plan.autoFailover;

  if (verdict?.state !== "down") {
    if (change?.to === "down") {
      return { start: false, code: "not-primary", reason: `${change.region} is down, but ${primary} is the primary and it is not down: nothing to fail over` };
    }
    return { start: false, code: "not-down", reason: `the primary ${primary} is not down` };
  }
  const primaryChange = change?.region === primary && change.to === "down" ? change : undefined;
  const signals: readonly DecidingSignal[] =
    primaryChange?.signals ??
    signalsOf(state, primary, quorumThresholds(plan, input.staleAfterSeconds !== undefined ? { staleAfterSeconds: input.staleAfterSeconds } : {}), now)
      .filter((s) => s.activeDown)
      .map(({ activeDown: _a, heldDown: _h, ...s }) => s);
  const why = `the primary ${primary} is down since ${verdict.since}${signals.length > 0 ? ` (${quoteSignals(signals)})` : ""}`;

  if (!auto.enabled) return { start: false, code: "disabled", reason: `${why}; automatic failover is disabled in the plan` };
  if (state.policy.paused) {
    const p = state.policy.paused;
    return { start: false, code: "paused", reason: `${why}; automatic failover is paused by ${p.by} since ${p.at}: ${p.reason}` };
  }
  if (regionVerdict(state, target) === "down") {
    return { start: false, code: "target-down", reason: `${why}; the target ${target} is down too (since ${state.regions[target]?.since}): never fail over into an unhealthy region` };
  }
  if (input.runInProgress !== undefined) {
    const drill = input.runInProgressSource === "drill";
    return {
      start: false,
      code: "run-in-progress",
      reason: `${why}; run ${input.runInProgress} is in progress${drill ? " (a drill: the incident pre-empts it)" : ""}`,
      ...(drill ? { preemptDrill: true as const } : {}),
    };
  }
  const lastRunAt = state.policy.lastRunAt;
  const retry = state.policy.retry;
  if (retry !== undefined) {
    if (now.getTime() < ms(retry.notBefore)) {
      return {
        start: false,
        code: "retry-backoff",
        reason: `${why}; automatic run ${retry.runId} ended without writing to Azure (${retry.reason}); attempt ${retry.failures + 1} waits until ${retry.notBefore}`,
      };
    }
  } else if (lastRunAt !== undefined) {
    const elapsed = now.getTime() - ms(lastRunAt);
    if (elapsed < auto.cooldownMinutes * 60_000) {
      const until = new Date(ms(lastRunAt) + auto.cooldownMinutes * 60_000).toISOString();
      return { start: false, code: "cooldown", reason: `${why}; in the ${auto.cooldownMinutes}-minute cooldown after the run at ${lastRunAt} (until ${until})` };
    }
  }
  const recent = recentAutoFailovers(state.policy, now);
  if (recent.length >= auto.maxPerDay) {
    return {
      start: false,
      code: "daily-cap",
      reason: `${why}; ${recent.length} automatic failover(s) started in the last 24 h (${recent.join(", ") || "none"}), the plan allows ${auto.maxPerDay}`,
    };
  }
  const kind = switchKind(plan, target);
  return {
    start: true,
    kind,
    from: primary,
    to: target,
    detectedAt: verdict.since,
    signals,
    reason: `${why}; ${target} is healthy, no run in progress, cooldown and daily cap (${recent.length}/${auto.maxPerDay}) allow it${kind === "failback" ? `; ${target} is the plan's primary: a failback, which re-protects first` : ""}`,
  };
}

/** Records an automatic failover started at `at` (counts toward the daily cap; starts the cooldown). */
export function recordAutoFailover(state: PlanState, at: Date | string, run?: { runId: string; from: string; to: string }): PlanState {
  const iso = typeof at === "string" ? at : at.toISOString();
  const now = new Date(iso);
  const policy: PolicyState = {
    ...state.policy,
    autoFailovers: [...recentAutoFailovers(state.policy, now), iso],
    lastRunAt: laterOf(state.policy.lastRunAt, iso),
    ...(run ? { lastAutoFailover: { ...run, at: iso } } : {}),
  };
  return { ...state, policy };
}

/**
 * Undoes a `recordAutoFailover` whose start the run port refused: the reserved entry no longer counts
 * toward the daily cap, and the cooldown goes back to `previous.lastRunAt` unless `keepCooldown` (a run
 * is in progress: cooldown from now is right).
 */
export function unrecordAutoFailover(state: PlanState, at: string, previous: Pick<PolicyState, "lastRunAt" | "lastAutoFailover">, keepCooldown: boolean): PlanState {
  const index = state.policy.autoFailovers.lastIndexOf(at);
  const autoFailovers = index < 0 ? state.policy.autoFailovers : [...state.policy.autoFailovers.slice(0, index), ...state.policy.autoFailovers.slice(index + 1)];
  const { lastRunAt: _l, lastAutoFailover: _a, ...rest } = state.policy;
  const lastRunAt = keepCooldown || state.policy.lastRunAt !== at ? state.policy.lastRunAt : previous.lastRunAt;
  const lastAutoFailover = state.policy.lastAutoFailover?.at === at ? previous.lastAutoFailover : state.policy.lastAutoFailover;
  return {
    ...state,
    policy: { ...rest, autoFailovers, ...(lastRunAt !== undefined ? { lastRunAt } : {}), ...(lastAutoFailover !== undefined ? { lastAutoFailover } : {}) },
  };
}

/** Records that a run (of any kind, e.g. a manual override) started or finished at `at`: the cooldown counts from it. */
export function recordRun(state: PlanState, at: Date | string): PlanState {
  const iso = typeof at === "string" ? at : at.toISOString();
  const lastRunAt = laterOf(state.policy.lastRunAt, iso);
  return lastRunAt === state.policy.lastRunAt ? state : { ...state, policy: { ...state.policy, lastRunAt } };
}

/** The kill switch: automatic failover stops until `resume`. Pausing again replaces who and why. */
export function pause(state: PlanState, by: { by: string; reason: string; at: Date | string }): PlanState {
  const at = typeof by.at === "string" ? by.at : by.at.toISOString();
  return { ...state, policy: { ...state.policy, paused: { by: by.by, reason: by.reason, at } } };
}

/** Lifts the kill switch (who and why belong in the journal entry the caller writes). */
export function resume(state: PlanState, _by?: { by: string; reason: string; at: Date | string }): PlanState {
  if (!state.policy.paused) return state;
  const { paused: _p, ...policy } = state.policy;
  return { ...state, policy };
}

/** Records the region that serves now (after a completed failover or failback). */
export function setPrimary(state: PlanState, plan: Plan, region: string, at: Date | string, runId?: string): PlanState {
  if (region !== plan.regions.primary.name && region !== plan.regions.secondary.name) throw new Error(`'${region}' is not a region of plan ${plan.name}`);
  if (state.primary ? state.primary.region === region && (runId === undefined || state.primary.runId === runId) : region === plan.regions.primary.name) return state;
  const since = typeof at === "string" ? at : at.toISOString();
  return { ...state, primary: { region, since, ...(runId !== undefined ? { runId } : {}) } };
}

const ACTIVE = new Set<RunView["status"]>(["pending", "running"]);

/** Whether the view shows a run in progress. */
export function isRunActive(view: RunView | undefined): view is RunView & { status: "pending" | "running" } {
  return view !== undefined && ACTIVE.has(view.status);
}

/**
 * Folds what the run port says about the plan's latest run into the state: a run seen in progress
 * keeps the cooldown from starting (lastRunAt = now); a finished run's last step end is when it
 * finished (lastRunAt); a completed failover or failback makes its target the current primary, and a
 * completed failback resets detection for home (`resetRegion`): its down verdict and down signals from
 * before the run ended.
 * Drills (`source` "drill") do not start the cooldown: an incident pre-empts them and fails over at once.
 */
export function observeRun(state: PlanState, plan: Plan, view: RunView | undefined, now: Date, source?: RunTrigger["source"]): PlanState {
  if (!view) return state;
  const cools = source !== "drill";
  if (isRunActive(view)) return cools ? recordRun(state, now) : state;
  const endedAt = view.output?.steps.at(-1)?.endedAt;
  let next = cools && endedAt !== undefined && Number.isFinite(ms(endedAt)) ? recordRun(state, endedAt) : state;
  next = observeRetry(next, view, now);
  if (view.status === "completed" && view.output?.outcome === "completed" && (view.to === plan.regions.primary.name || view.to === plan.regions.secondary.name)) {
    if (state.primary?.runId !== view.runId) {
      const at = endedAt ?? now.toISOString();
      next = setPrimary(next, plan, view.to, at, view.runId);
      if (view.kind === "failback") {
        // Home again, verified by the run: what detection held against home before it is stale. The run
        // is recorded as the one that made home primary, so that this happens once per failback.
        next = resetRegion(next, view.to, at);
        if (next.primary?.runId !== view.runId) next = { ...next, primary: { region: view.to, since: at, runId: view.runId } };
      }
    }
  }
  return next;
}

/**
 * Forgets what detection held against `region` up to `at` (a completed failback verified it then): a
 * down verdict declared before `at` becomes healthy since `at`, and down signals last seen before `at`
 * are dropped. Anything observed after `at` stands, so a stale verdict cannot fail the plan over again
 * while an outage that starts after the failback is still detected.
 */
export function resetRegion(state: PlanState, region: string, at: string): PlanState {
  const cutoff = ms(at);
  const verdict = state.regions[region];
  const staleVerdict = verdict?.state === "down" && ms(verdict.since) <= cutoff;
  const signals = state.signals[region] ?? {};
  const kept = Object.entries(signals).filter(([, s]) => !(s.status === "down" && ms(s.lastSeen) <= cutoff));
  const dropped = kept.length !== Object.keys(signals).length;
  if (!staleVerdict && !dropped) return state;
  return {
    ...state,
    regions: staleVerdict ? { ...state.regions, [region]: { state: "healthy", since: at } } : state.regions,
    signals: dropped ? { ...state.signals, [region]: Object.fromEntries(kept) } : state.signals,
  };
}

/** The plan's read-only steps: a run that ended in (or before) them wrote nothing to Azure. */
const READ_ONLY_STEPS: ReadonlySet<string> = new Set([Steps.assess, Steps.measure, Steps.gate, Steps.approval, Steps.checkReprotection]);

/**
 * Whether a finished run moved nothing in Azure: it did not complete, and
 * - its output lists only read-only steps (assess, measure, gate, approval, check-reprotection), or
 * - it has no output (it failed, e.g. its first journal entry was refused) and its last status shows
 *   no step, or a read-only step of a failover (a failback re-protects, a write, before any of them).
 * Anything else (a step that writes, even one that failed) counts as written.
 */
export function wroteNothing(view: RunView): boolean {
  if (isRunActive(view)) return false;
  if (view.output) return view.output.outcome !== "completed" && view.output.steps.every((s) => READ_ONLY_STEPS.has(s.step));
  if (view.status === "completed") return false;
  if (!view.progress) return true;
  return view.kind === "failover" && READ_ONLY_STEPS.has(view.progress.step);
}

/**
 * Whether a person ended the run, or it waited for a person in vain: an abort, an approval that timed
 * out, a run that ended while waiting for approval. Such a run is not retried (that would ask again, or
 * go on without the approval that was refused): it counts toward maxPerDay and the cooldown applies.
 */
export function decidedByPerson(view: RunView): boolean {
  if (view.output) return view.output.outcome === "stopped-aborted" || view.output.outcome === "stopped-approval-timeout";
  return view.progress?.step === Steps.approval || view.progress?.waitingFor === "approval";
}

const RETRY_BASE_MS = 60_000;
const RETRY_MAX_MS = 30 * 60_000;

/** The wait before retry number `failures` (1, 2, 4, 8, 16, then every 30 minutes). */
export function retryBackoffMs(failures: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, Math.min(failures - 1, 10)));
}

/**
 * The retry bookkeeping of a finished run: the last automatic run that wrote nothing no longer counts
 * toward maxPerDay and sets `policy.retry` (once per run); any other finished run that is not the one
 * retried clears it (a run that wrote starts the cooldown again).
 */
function observeRetry(state: PlanState, view: RunView, now: Date): PlanState {
  const policy = state.policy;
  const last = policy.lastAutoFailover;
  if (last?.runId === view.runId && wroteNothing(view) && !decidedByPerson(view)) {
    if (policy.retry?.runId === view.runId) return state;
    const failures = (policy.retry?.failures ?? 0) + 1;
    const index = policy.autoFailovers.lastIndexOf(last.at);
    const autoFailovers = index < 0 ? policy.autoFailovers : [...policy.autoFailovers.slice(0, index), ...policy.autoFailovers.slice(index + 1)];
    const why = view.output ? `${view.output.outcome}: ${view.output.message}` : `${view.status}${view.error ? `: ${view.error}` : ""}`;
    const retry: RetryState = {
      runId: view.runId,
      failures,
      notBefore: new Date(now.getTime() + retryBackoffMs(failures)).toISOString(),
      reason: redactText(why.replace(/\s+/g, " ").slice(0, 300)),
    };
    return { ...state, policy: { ...policy, autoFailovers, retry } };
  }
  if (policy.retry === undefined || policy.retry.runId === view.runId) return state;
  const { retry: _cleared, ...rest } = policy;
  return { ...state, policy: rest };
}

/**
 * The run that holds the plan as the state knows it: the run port's view when it shows one in
 * progress, else a live reservation (src/core/run/reservation.ts) of a start that may be in flight.
 * The decision inside the state update uses it, so that two evaluations of one outage start one run.
 */
export function runHolding(state: PlanState, view: RunView | undefined, now: Date, graceMs = RESERVATION_GRACE_MS): string | undefined {
  if (isRunActive(view)) return view.runId;
  const reserved = state.activeRun;
  return reserved && isReservationLive(reserved, view, now, graceMs) ? reserved.runId : undefined;
}

/**
 * Whether a running drill is to be pre-empted: an incident (a region of the plan going down) pre-empts
 * a drill. `decideAutoFailover` sets `preemptDrill` on its run-in-progress answer for the case that
 * matters (the current primary is down); this is the same rule for callers that only have a change.
 */
export function shouldPreemptDrill(runningSource: RunTrigger["source"] | undefined, change: RegionChange | undefined): boolean {
  return runningSource === "drill" && change?.to === "down";
}

/** Drills never start during an incident: any region of the plan with a down verdict forbids one. */
export function mayStartDrill(state: PlanState, plan: Plan): { ok: true } | { ok: false; reason: string } {
  const down = [plan.regions.primary.name, plan.regions.secondary.name].filter((r) => regionVerdict(state, r) === "down");
  if (down.length > 0) return { ok: false, reason: `incident in progress: ${down.join(", ")} down` };
  return { ok: true };
}

function laterOf(a: string | undefined, b: string): string {
  return a !== undefined && ms(a) >= ms(b) ? a : b;
}
