/**
 * Detection: health signals about a plan's regions, the quorum that turns them into a verdict, and
 * the auto-failover policy that turns a verdict into a run (or a reason not to start one).
 */
import type { RotationStepLease } from "../rotation/model.ts";

/** Where a signal comes from. */
export type SignalSource = "probe" | "frontdoor" | "alert";

/**
 * What a signal says about its region. `unknown`: the observation could not be made (the metrics read
 * behind it failed), so it says neither up nor down; the quorum never lets it change a verdict.
 */
export type SignalStatus = "up" | "down" | "unknown";

/** One observation: this signal says the region is up or down (or could not tell), as of `at`. */
export interface Signal {
  readonly plan: string;
  readonly region: string;
  readonly source: SignalSource;
  /** Stable name of the signal within its region: the probe URL, `afd:<origin group>`, `alert:<rule id>`. */
  readonly name: string;
  readonly status: SignalStatus;
  /** ISO time of the observation. */
  readonly at: string;
  /** One line for people (never a secret). */
  readonly detail?: string;
  /** For an alert signal: the alert's kind (core/alerts ALERT_KINDS), e.g. `service-health`. */
  readonly alertKind?: string;
}

/** What the store keeps per signal: its current status and since when it has held continuously. */
export interface SignalState {
  readonly source: SignalSource;
  readonly status: SignalStatus;
  /** ISO time since which the status has held without interruption. */
  readonly since: string;
  /** ISO time of the latest observation. */
  readonly lastSeen: string;
  /** Consecutive failed observations (probes count several failures before they say "down"). */
  readonly consecutiveFailures: number;
  readonly detail?: string;
  /** For an alert signal: the alert's kind (`service-health` may declare a region down alone, if the plan allows). */
  readonly alertKind?: string;
}

export type RegionHealthState = "healthy" | "down";

export interface RegionVerdictState {
  readonly state: RegionHealthState;
  /** ISO time the region entered this state. */
  readonly since: string;
  /**
   * While the region is down: the ISO time (of the evaluation) since which fewer than `quorum` of its
   * signals have been down without interruption. Recovery needs it to hold for `healthyForSeconds`.
   */
  readonly belowQuorumSince?: string;
}

/** The kill switch and the counters the auto-failover policy needs. */
export interface PolicyState {
  readonly paused?: { readonly by: string; readonly reason: string; readonly at: string };
  /** ISO times of automatic failovers started (kept for 24 h). */
  readonly autoFailovers: readonly string[];
  /** ISO time the last run (of any kind) finished or was started, for the cooldown. */
  readonly lastRunAt?: string;
  /** The last automatic switch started, failover or failback (for the journal and status pages). */
  readonly lastAutoFailover?: { readonly runId: string; readonly at: string; readonly from: string; readonly to: string };
  /**
   * Set when the last automatic run ended without writing anything to Azure (it failed or was refused
   * before its first write): it did not count toward maxPerDay, and the next automatic start waits
   * until `notBefore` (the retry backoff) instead of the cooldown. Cleared by a run that wrote.
   */
  readonly retry?: RetryState;
}

export interface RetryState {
  /** The automatic run that ended without a write. */
  readonly runId: string;
  /** Consecutive automatic runs that ended without a write. */
  readonly failures: number;
  /** ISO time before which no automatic start is retried. */
  readonly notBefore: string;
  /** Why the run ended (its outcome or error, redacted, one line). */
  readonly reason: string;
}

/** Which region serves now, when a completed run moved it away from the plan's `regions.primary`. */
export interface PrimaryState {
  readonly region: string;
  /** ISO time it became primary. */
  readonly since: string;
  /** The run that made it primary. */
  readonly runId?: string;
}

/**
 * The run a start has reserved for the plan (src/core/run/reservation.ts): written, with the ETag,
 * before the run port starts the orchestration, so that two triggers racing to start a run of one plan
 * start one. One reservation per plan (the latest), never a list.
 */
export interface RunReservation {
  readonly runId: string;
  readonly kind: "failover" | "failback";
  /** ISO time the start reserved it (the reserving process's clock). */
  readonly reservedAt: string;
}

/** Everything kept per plan (one blob per plan in Azure; optimistic concurrency on updates). */
export interface PlanState {
  readonly plan: string;
  /** region → signal name → state */
  readonly signals: Record<string, Record<string, SignalState>>;
  readonly regions: Record<string, RegionVerdictState>;
  readonly policy: PolicyState;
  /** Alert dedupe keys (`alertId:monitorCondition`) seen recently, with when. */
  readonly seenAlerts: Record<string, string>;
  /** The current primary when it is not the plan's `regions.primary` (absent: the plan's). */
  readonly primary?: PrimaryState;
  /** The run the latest start reserved (absent in documents written before reservations existed). */
  readonly activeRun?: RunReservation;
  /** Secret rotation steps under way, by secret (core/rotation/model.ts): a run's start waits for them. */
  readonly rotationSteps?: Record<string, RotationStepLease>;
  /** The rotation each secret's latest start reserved (src/rotation/port.ts): one start per secret. */
  readonly rotationStarts?: Record<string, RotationStartReservation>;
}

export interface RotationStartReservation {
  readonly rotationId: string;
  /** ISO time the start reserved it. */
  readonly reservedAt: string;
}

/** A signal as a decision quotes it: which signal, what it said, since when. */
export interface DecidingSignal {
  readonly name: string;
  readonly source: SignalSource;
  readonly status: SignalStatus;
  readonly since: string;
  readonly lastSeen: string;
  /** Whether the signal was too old to count (it then counts as not down). */
  readonly stale: boolean;
  readonly detail?: string;
  readonly alertKind?: string;
}

/** The thresholds a region verdict was reached with. */
export interface QuorumThresholds {
  readonly quorum: number;
  readonly downForSeconds: number;
  readonly healthyForSeconds: number;
  /** A signal not observed for longer than this counts as not down. */
  readonly staleAfterSeconds: number;
}

/** A region verdict that changed in one evaluation, with the signals that decided it. */
export interface RegionChange {
  readonly plan: string;
  readonly region: string;
  readonly from: RegionHealthState;
  readonly to: RegionHealthState;
  /** ISO time of the evaluation that changed the verdict (the outage's detection time when `to` is down). */
  readonly at: string;
  /**
   * To down: the signals that had been down for at least `downForSeconds` (at least `quorum` of them).
   * To healthy: every signal of the region, as it stood (fewer than `quorum` of them down or unknown).
   */
  readonly signals: readonly DecidingSignal[];
  readonly thresholds: QuorumThresholds;
}

export function emptyPlanState(plan: string): PlanState {
  return { plan, signals: {}, regions: {}, policy: { autoFailovers: [] }, seenAlerts: {} };
}
