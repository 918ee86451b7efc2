import type { Plan } from "../plan/index.ts";
import type {
  DecidingSignal,
  PlanState,
  QuorumThresholds,
  RegionChange,
  RegionVerdictState,
  Signal,
  SignalState,
} from "./model.ts";

/*
 * The health quorum: signals in, region verdicts out. Pure: every function takes the state and the time
 * and returns a new state, so that the store can re-apply it on an optimistic-concurrency retry.
 *
 * Signal status (recordSignal):
 * - a probe turns down only after `failuresBeforeDown` consecutive failed observations; one success
 *   turns it up again and resets the count;
 * - Front Door and alert signals take the status they report at once;
 * - an `unknown` observation (the read behind the signal failed) makes the signal unknown at once and
 *   leaves a probe's failure count as it was: it is neither a success nor a failure;
 * - `since` moves only when the status changes (so it is the time of the observation that changed it:
 *   for a probe, the failure that reached `failuresBeforeDown`);
 * - an observation older than the signal's `lastSeen` is out of order and ignored;
 * - a region keeps at most MAX_SIGNALS_PER_SOURCE signals of each source: recording one more evicts
 *   the one that matters least (up or unknown before down, then the least recently seen), never one
 *   the caller names in `keep` (the plan's probe URLs). Alert rule names come from outside: a storm of
 *   distinct rules replaces old alert signals instead of growing the state.
 *
 * Region verdicts (evaluateRegions), with N = autoFailover.quorum, W = downForSeconds,
 * H = healthyForSeconds and S = staleAfterSeconds (default max(3 × W, 300)):
 * - a signal is stale when now − lastSeen > S; a stale signal counts as NOT down, whatever it said
 *   (a probe that stopped reporting, an alert that fired long ago and never resolved);
 * - a signal is active-down when its status is down and it is not stale;
 * - a signal is held-down when it is active-down and now − since ≥ W;
 * - a signal is active-unknown when its status is unknown and it is not stale: it can change no verdict,
 *   so it counts as not down on the way down and as possibly down on the way back;
 * - HEALTHY → DOWN when at least N signals of the region are held-down and at least one of them is a
 *   probe or Front Door signal (alerts alone never declare a region down: their times and rule names
 *   come from outside); with `autoFailover.serviceHealthAlone`, a held-down Service Health alert
 *   counts as that agreeing signal (the change is dated `now`);
 * - DOWN → HEALTHY when fewer than N signals are active-down or active-unknown, and that has been so at
 *   every evaluation since `belowQuorumSince` (the first evaluation that saw it), with
 *   now − belowQuorumSince ≥ H. Any evaluation that sees N or more of them clears `belowQuorumSince`.
 * A region never evaluated is healthy. Signals of regions the plan does not name are ignored, and
 * signals not observed for 24 hours are dropped from the state.
 */

const DAY_MS = 24 * 60 * 60 * 1000;
/** The floor of the stale window: probes run every minute, so a few missed rounds are tolerated. */
export const MIN_STALE_SECONDS = 300;

export interface RecordOptions {
  /** Consecutive failed probe observations before a probe signal turns down (at least 1). */
  readonly failuresBeforeDown: number;
  /** Signal names never evicted by the cap (the plan's probe URLs). */
  readonly keep?: ReadonlySet<string>;
}

/**
 * Signals kept per region and source. A plan names a handful of probes and one Front Door signal;
 * alert rules are the open set: 32 distinct rules reporting one region at once is already far more
 * than a quorum needs, and bounds the state to a few tens of KB per region.
 */
export const MAX_SIGNALS_PER_SOURCE = 32;

export interface EvaluateOptions {
  /** Overrides the stale window (seconds); default max(3 × downForSeconds, 300). */
  readonly staleAfterSeconds?: number;
}

const ms = (iso: string): number => Date.parse(iso);

/** Records one observation. Throws on a signal of another plan or with an unreadable time. */
export function recordSignal(state: PlanState, signal: Signal, options: RecordOptions): PlanState {
  if (signal.plan !== state.plan) throw new Error(`signal for plan '${signal.plan}' recorded into the state of plan '${state.plan}'`);
  if (!Number.isFinite(ms(signal.at))) throw new Error(`signal ${signal.name}: 'at' is not an ISO time: '${signal.at}'`);
  const failuresBeforeDown = Math.max(1, Math.floor(options.failuresBeforeDown));
  const region = state.signals[signal.region] ?? {};
  const previous = region[signal.name];
  if (previous && ms(signal.at) < ms(previous.lastSeen)) return state;

  const failures =
    signal.status === "down" ? (previous?.consecutiveFailures ?? 0) + 1 : signal.status === "unknown" ? (previous?.consecutiveFailures ?? 0) : 0;
  let status: SignalState["status"];
  if (signal.status === "up" || signal.status === "unknown") status = signal.status;
  else if (signal.source === "probe") status = failures >= failuresBeforeDown ? "down" : (previous?.status ?? "up");
  else status = "down";

  const next: SignalState = {
    source: signal.source,
    status,
    since: previous && previous.status === status ? previous.since : signal.at,
    lastSeen: signal.at,
    consecutiveFailures: failures,
    ...(signal.detail !== undefined ? { detail: signal.detail } : {}),
    ...(signal.alertKind !== undefined ? { alertKind: signal.alertKind } : {}),
  };
  const updated = capSignals({ ...region, [signal.name]: next }, signal.source, signal.name, options.keep);
  return { ...state, signals: { ...state.signals, [signal.region]: updated } };
}

/** The region's signals with at most MAX_SIGNALS_PER_SOURCE of `source`: evicts up/unknown first, then the least recently seen; never `recorded` or a kept name. */
function capSignals(region: Record<string, SignalState>, source: Signal["source"], recorded: string, keep: ReadonlySet<string> | undefined): Record<string, SignalState> {
  const same = Object.entries(region).filter(([, s]) => s.source === source);
  const excess = same.length - MAX_SIGNALS_PER_SOURCE;
  if (excess <= 0) return region;
  const rank = (s: SignalState) => (s.status === "down" ? 1 : 0);
  const evict = same
    .filter(([name]) => name !== recorded && !keep?.has(name))
    .sort(([, a], [, b]) => rank(a) - rank(b) || ms(a.lastSeen) - ms(b.lastSeen))
    .slice(0, excess)
    .map(([name]) => name);
  if (evict.length === 0) return region;
  const out = { ...region };
  for (const name of evict) delete out[name];
  return out;
}

/** The thresholds of a plan's quorum. */
export function quorumThresholds(plan: Plan, options: EvaluateOptions = {}): QuorumThresholds {
  const { quorum, downForSeconds, healthyForSeconds } = plan.autoFailover;
  return {
    quorum,
    downForSeconds,
    healthyForSeconds,
    staleAfterSeconds: options.staleAfterSeconds ?? Math.max(3 * downForSeconds, MIN_STALE_SECONDS),
  };
}

/** How each signal of a region stands at `now`. */
export function describeSignals(state: PlanState, region: string, thresholds: QuorumThresholds, now: Date): (DecidingSignal & { activeDown: boolean; heldDown: boolean })[] {
  const t = now.getTime();
  return Object.entries(state.signals[region] ?? {})
    .map(([name, s]) => {
      const stale = t - ms(s.lastSeen) > thresholds.staleAfterSeconds * 1000;
      const activeDown = s.status === "down" && !stale;
      const heldDown = activeDown && t - ms(s.since) >= thresholds.downForSeconds * 1000;
      return {
        name,
        source: s.source,
        status: s.status,
        since: s.since,
        lastSeen: s.lastSeen,
        stale,
        ...(s.detail !== undefined ? { detail: s.detail } : {}),
        ...(s.alertKind !== undefined ? { alertKind: s.alertKind } : {}),
        activeDown,
        heldDown,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

const strip = ({ activeDown: _a, heldDown: _h, ...signal }: DecidingSignal & { activeDown: boolean; heldDown: boolean }): DecidingSignal => signal;

/** Applies the quorum with hysteresis to both regions of the plan at `now`. */
export function evaluateRegions(state: PlanState, plan: Plan, now: Date, options: EvaluateOptions = {}): { state: PlanState; changes: RegionChange[] } {
  const thresholds = quorumThresholds(plan, options);
  const at = now.toISOString();
  const t = now.getTime();
  const regions: Record<string, RegionVerdictState> = { ...state.regions };
  const changes: RegionChange[] = [];

  for (const region of [plan.regions.primary.name, plan.regions.secondary.name]) {
    const current: RegionVerdictState = regions[region] ?? { state: "healthy", since: at };
    const signals = describeSignals(state, region, thresholds, now);
    const held = signals.filter((s) => s.heldDown);
    // On the way back an unknown signal may still be down: it keeps the region down like a down one.
    const possiblyDown = signals.filter((s) => s.activeDown || (s.status === "unknown" && !s.stale));
    let next: RegionVerdictState = current;

    if (current.state === "healthy") {
      if (held.length >= thresholds.quorum && held.some((s) => corroborates(s, plan))) {
        next = { state: "down", since: at };
        changes.push({ plan: plan.name, region, from: "healthy", to: "down", at, signals: held.map(strip), thresholds });
      }
    } else if (possiblyDown.length >= thresholds.quorum) {
      if (current.belowQuorumSince !== undefined) next = { state: "down", since: current.since };
    } else {
      const below = current.belowQuorumSince ?? at;
      if (t - ms(below) >= thresholds.healthyForSeconds * 1000) {
        next = { state: "healthy", since: at };
        changes.push({ plan: plan.name, region, from: "down", to: "healthy", at, signals: signals.map(strip), thresholds });
      } else if (current.belowQuorumSince === undefined) {
        next = { ...current, belowQuorumSince: below };
      }
    }
    regions[region] = next;
  }

  // Forget signals not heard of for a day (removed endpoints, alert rules that no longer fire).
  const signals: PlanState["signals"] = {};
  for (const [region, byName] of Object.entries(state.signals)) {
    const kept = Object.entries(byName).filter(([, s]) => t - ms(s.lastSeen) <= DAY_MS);
    if (kept.length > 0) signals[region] = Object.fromEntries(kept);
  }
  return { state: { ...state, signals, regions }, changes };
}

/** Whether a held-down signal may stand for the region's own health: a probe or Front Door signal, or (if the plan allows) a Service Health incident. */
export function corroborates(signal: Pick<DecidingSignal, "source" | "alertKind">, plan: Plan): boolean {
  return signal.source !== "alert" || (plan.autoFailover.serviceHealthAlone && signal.alertKind === "service-health");
}

/** The verdict of a region (healthy when never evaluated). */
export function regionVerdict(state: PlanState, region: string): RegionVerdictState["state"] {
  return state.regions[region]?.state ?? "healthy";
}
