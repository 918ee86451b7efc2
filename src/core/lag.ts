/**
 * Replication lag: what a measurement is, when it breaches the RPO (with hysteresis), and what the RPO
 * gate may conclude from the last lag measured before an outage. Pure: the measuring is in src/lag.
 */

export type LagResourceKind = "sqlDatabase" | "storageAccount";

/** Where a lag figure comes from. */
export const LAG_SOURCES = {
  /** `replication_lag_sec` of `sys.dm_geo_replication_link_status`, asked in the primary database over TDS. */
  sql: "tds:sys.dm_geo_replication_link_status",
  /** now − `geoReplicationStats.lastSyncTime` of the storage account, from Resource Manager. */
  storage: "arm:geoReplicationStats.lastSyncTime",
} as const;
export type LagSource = (typeof LAG_SOURCES)[keyof typeof LAG_SOURCES];

/** One resource's lag, as measured at `measuredAt`. */
export interface LagSample {
  /**
   * SQL: the database's ARM id under the plan's primary server (stable whichever server is primary
   * now); storage: the account's id.
   */
  readonly resourceId: string;
  readonly kind: LagResourceKind;
  /** Database or account name. */
  readonly name: string;
  /** SQL: the plan's failover group id. */
  readonly group?: string;
  /** Seconds of writes not yet replicated; null when it could not be measured (see `state`, `error`). */
  readonly lagSeconds: number | null;
  /**
   * SQL: the link's `replication_state_desc` (CATCH_UP, SEEDING, SUSPENDED), or `unreachable`;
   * storage: `geoReplicationStats.status` (Live, Bootstrap, Unavailable) or `NoSecondary`/`unreachable`.
   */
  readonly state: string;
  readonly measuredAt: string;
  readonly source: LagSource;
  /** SQL: the server that answered as primary; storage: the account's primary location. */
  readonly primary?: string;
  /** SQL `last_replication` / storage `lastSyncTime`, when known. */
  readonly lastReplication?: string;
  /** Storage: whether Azure would accept a customer-managed (unplanned) / a planned failover now. */
  readonly canFailover?: boolean;
  readonly canPlannedFailover?: boolean;
  /** Why the lag is unknown (no secret: error texts are redacted where recorded). */
  readonly error?: string;
  /**
   * Whether the primary was reached: `answered` (it answered, with or without a usable figure),
   * `silent` (no connection could be made at all: what ends a last-known lag's aging), `refused` (it
   * answered and refused the login or the query), `unasked` (not asked: the group could not be listed,
   * a deadline, a read that failed).
   */
  readonly reach?: "answered" | "silent" | "refused" | "unasked";
}

/** The default of a plan's `objectives.lagSampleMaxAgeSeconds`: five rounds of the one-minute lag timer. */
export const DEFAULT_LAG_SAMPLE_MAX_AGE_SECONDS = 300;

/** Whether a sample is within the RPO budget (null: unknown). */
export function withinRpo(sample: Pick<LagSample, "lagSeconds">, rpoSeconds: number): boolean | null {
  return sample.lagSeconds === null ? null : sample.lagSeconds <= rpoSeconds;
}

/**
 * A breach is declared on the first sample above the RPO, and over only once the lag is back at or
 * below this fraction of it: a lag that hovers around the budget is one breach, not one per sample.
 */
export const RECOVERY_FRACTION = 0.8;

export type BreachEvent = "breach" | "recovery";

/** The next breach state of a resource after one sample; `event` is set only on a change. */
export function nextBreach(breached: boolean, lagSeconds: number | null, rpoSeconds: number): { breached: boolean; event?: BreachEvent } {
  if (lagSeconds === null) return { breached }; // an unknown lag neither starts nor ends a breach
  if (!breached && lagSeconds > rpoSeconds) return { breached: true, event: "breach" };
  if (breached && lagSeconds <= rpoSeconds * RECOVERY_FRACTION) return { breached: false, event: "recovery" };
  return { breached };
}

/** How the RPO gate knows a resource's lag. */
export type LagBasis = "live" | "last-known" | "none";

/** One resource's lag as the RPO gate uses it, with its inputs (journaled with the decision). */
export interface LagEvidence {
  readonly resourceId: string;
  readonly kind: LagResourceKind;
  /** SQL: the plan's failover group of the database. */
  readonly group?: string;
  readonly basis: LagBasis;
  /** The lag the gate uses: live, or the last sample plus the time from it to the outage; null: unknown. */
  readonly lagSeconds: number | null;
  /** Last-known: the sample's lag and time, its age at the outage start, and the age limit. */
  readonly sampleLagSeconds?: number;
  readonly sampledAt?: string;
  readonly ageSeconds?: number;
  readonly maxAgeSeconds?: number;
  readonly why: string;
}

/** A sample dated more than this after the time of the measurement is not believed (clock skew or tampering). */
export const FUTURE_SKEW_MS = 60_000;

/**
 * The data at risk of a resource the primary of which can no longer be asked, from the last sample
 * that had a lag. Nothing is assumed to have replicated after the sample, and writes are assumed to
 * have gone on until the primary stopped answering, so every second from the sample to then counts:
 * `lag at the sample + (end − sample time)`, where the end is the later of the outage start and the
 * first failed sample after it (`failedAfter`; without one, `now`: the primary may have answered and
 * taken writes until the moment of this measurement). The sample must be at most `maxAgeSeconds`
 * older than that end; a sample dated after `now` (beyond a minute of skew), with an unreadable time,
 * or none at all leaves the lag unknown.
 */
export function lastKnownLag(
  resource: { resourceId: string; kind: LagResourceKind; group?: string | undefined },
  sample: Pick<LagSample, "lagSeconds" | "measuredAt"> | undefined,
  outageStart: Date,
  maxAgeSeconds: number,
  at: { readonly now: Date; readonly failedAfter?: string | undefined },
): LagEvidence {
  const base = { resourceId: resource.resourceId, kind: resource.kind, ...(resource.group !== undefined ? { group: resource.group } : {}) };
  const none = (why: string, facts: object = {}): LagEvidence => ({ ...base, basis: "none", lagSeconds: null, maxAgeSeconds, ...facts, why });
  if (!sample || typeof sample.lagSeconds !== "number" || !Number.isFinite(sample.lagSeconds) || sample.lagSeconds < 0) return none("no lag was measured before the outage");
  const sampled = Date.parse(sample.measuredAt);
  if (Number.isNaN(sampled)) return none("the last sample has no readable time");
  if (sampled > at.now.getTime() + FUTURE_SKEW_MS) return none(`the last sample is dated ${sample.measuredAt}, after the time of this measurement: not believed`);
  const failed = at.failedAfter !== undefined ? Date.parse(at.failedAfter) : NaN;
  const end = Math.max(outageStart.getTime(), Number.isNaN(failed) ? at.now.getTime() : failed);
  // A sample dated after now (clock skew within the minute allowed) is aged as if taken now.
  const age = Math.max(0, Math.ceil((end - Math.min(sampled, at.now.getTime())) / 1000));
  const facts = { sampleLagSeconds: sample.lagSeconds, sampledAt: sample.measuredAt, ageSeconds: age, maxAgeSeconds };
  const until = end === outageStart.getTime() ? "the outage start" : end === failed ? "the first failed sample after it" : "now";
  if (age > maxAgeSeconds) return none(`the last sample (${sample.lagSeconds} s at ${sample.measuredAt}) is ${age} s older than ${until}, more than the ${maxAgeSeconds} s allowed`, facts);
  const lag = sample.lagSeconds + age;
  return { ...base, basis: "last-known", lagSeconds: lag, ...facts, why: `${sample.lagSeconds} s at ${sample.measuredAt} + ${age} s to ${until} = ${lag} s` };
}

/** The largest lag of all resources, or null when any is unknown. */
export function largestLag(evidence: readonly Pick<LagEvidence, "lagSeconds">[]): number | null {
  let largest = 0;
  for (const e of evidence) {
    if (e.lagSeconds === null) return null;
    largest = Math.max(largest, e.lagSeconds);
  }
  return largest;
}
