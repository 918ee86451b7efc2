import type { Plan } from "../plan/index.ts";
import type { DecidingSignal, PlanState, PolicyState, QuorumThresholds, RegionHealthState } from "./model.ts";
import { currentPrimary, otherRegionOf, recentAutoFailovers } from "./policy.ts";
import { describeSignals, quorumThresholds, type EvaluateOptions } from "./quorum.ts";

/** What an operator (GET /api/plans/{plan}) sees of a plan's health and policy. Pure; holds no secrets. */
export interface PlanHealthView {
  readonly plan: string;
  readonly at: string;
  /** The region serving now, and the standby. */
  readonly primary: string;
  readonly secondary: string;
  readonly regions: Readonly<Record<string, RegionHealthView>>;
  readonly quorum: QuorumThresholds;
  readonly policy: PolicyView;
}

export interface RegionHealthView {
  readonly role: "primary" | "secondary";
  readonly state: RegionHealthState;
  /** Since when the verdict holds (absent: never evaluated). */
  readonly since?: string;
  readonly belowQuorumSince?: string;
  /** Signals down and not stale now / of those, down for at least downForSeconds. */
  readonly signalsDown: number;
  readonly signalsHeldDown: number;
  /**
   * Signals that could not be observed (their read failed) and are not stale: they say neither up nor
   * down, count toward no outage, and hold a down region down (see core/detection/quorum.ts).
   */
  readonly signalsUnknown: number;
  readonly signals: readonly (DecidingSignal & { readonly activeDown: boolean; readonly heldDown: boolean })[];
}

export interface PolicyView {
  /** The plan's switch (autoFailover.enabled); the API's kill switch is `paused`. */
  readonly enabled: boolean;
  readonly paused?: PolicyState["paused"];
  readonly cooldownMinutes: number;
  /** When the cooldown after the last run ends (absent: not in cooldown). */
  readonly cooldownUntil?: string;
  readonly maxPerDay: number;
  readonly autoFailoversLast24h: readonly string[];
  readonly lastRunAt?: string;
  readonly lastAutoFailover?: PolicyState["lastAutoFailover"];
}

export function planHealthView(plan: Plan, state: PlanState, now: Date, options: EvaluateOptions = {}): PlanHealthView {
  const thresholds = quorumThresholds(plan, options);
  const primary = currentPrimary(plan, state);
  const secondary = otherRegionOf(plan, primary);
  const region = (name: string, role: "primary" | "secondary"): RegionHealthView => {
    const verdict = state.regions[name];
    const signals = describeSignals(state, name, thresholds, now);
    return {
      role,
      state: verdict?.state ?? "healthy",
      ...(verdict ? { since: verdict.since } : {}),
      ...(verdict?.belowQuorumSince ? { belowQuorumSince: verdict.belowQuorumSince } : {}),
      signalsDown: signals.filter((s) => s.activeDown).length,
      signalsHeldDown: signals.filter((s) => s.heldDown).length,
      signalsUnknown: signals.filter((s) => s.status === "unknown" && !s.stale).length,
      signals,
    };
  };
  const auto = plan.autoFailover;
  const lastRunAt = state.policy.lastRunAt;
  const cooldownEnd = lastRunAt !== undefined ? Date.parse(lastRunAt) + auto.cooldownMinutes * 60_000 : undefined;
  return {
    plan: plan.name,
    at: now.toISOString(),
    primary,
    secondary,
    regions: { [primary]: region(primary, "primary"), [secondary]: region(secondary, "secondary") },
    quorum: thresholds,
    policy: {
      enabled: auto.enabled,
      ...(state.policy.paused ? { paused: state.policy.paused } : {}),
      cooldownMinutes: auto.cooldownMinutes,
      ...(cooldownEnd !== undefined && cooldownEnd > now.getTime() ? { cooldownUntil: new Date(cooldownEnd).toISOString() } : {}),
      maxPerDay: auto.maxPerDay,
      autoFailoversLast24h: recentAutoFailovers(state.policy, now),
      ...(lastRunAt !== undefined ? { lastRunAt } : {}),
      ...(state.policy.lastAutoFailover ? { lastAutoFailover: state.policy.lastAutoFailover } : {}),
    },
  };
}
