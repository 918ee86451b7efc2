/**
 * The safety gates, as pure decisions: each returns what to do and the facts it used, so the journal
 * and the notifications can say why.
 */
import type { FailoverMode } from "./model.ts";

export interface DataLossGateInput {
  readonly mode: FailoverMode;
  /** Is the region being left (the current primary) reachable? */
  readonly primaryHealthy: boolean;
  /** Largest measured replication lag; null when it could not be measured. */
  readonly maxLagSeconds: number | null;
  readonly rpoSeconds: number;
  /** How the lags are known (measured now / last sample before the outage / unknown); absent: measured now. */
  readonly lagBasis?: { readonly live: number; readonly lastKnown: number; readonly unknown: number };
}

/** The lag as a sentence part: `the measured lag 12 s`, or the largest lag with how it is known when samples stood in. */
function lagPhrase(input: DataLossGateInput): string {
  const lastKnown = input.lagBasis?.lastKnown ?? 0;
  if (lastKnown === 0) return `the measured lag ${input.maxLagSeconds} s`;
  const live = input.lagBasis?.live ?? 0;
  return `the largest lag ${input.maxLagSeconds} s (${lastKnown} replica(s) by their last sample, aged until the primary stopped answering${live > 0 ? `, ${live} measured now` : ""})`;
}

export type DataLossDecision =
  | { readonly kind: "planned"; readonly why: string }
  | { readonly kind: "forced"; readonly by: "rpo-gate" | "operator"; readonly why: string }
  | { readonly kind: "needs-approval"; readonly why: string };

/**
 * Planned (no data loss) whenever the primary is reachable. With the primary unreachable: forced when
 * an operator asked for it; in planned mode, a human must approve any data loss (Azure completes a
 * planned failover only with both regions reachable); automatically, forced only when every lag was
 * measured and is within the RPO, otherwise a human must approve.
 */
export function decideDataLoss(input: DataLossGateInput): DataLossDecision {
  if (input.primaryHealthy) return { kind: "planned", why: "the current primary region is reachable, so a planned failover loses no data" };
  if (input.mode === "planned") {
    return {
      kind: "needs-approval",
      why: `the primary region is unreachable, so only a failover that may lose data can complete, and the run was started in planned mode (measured lag: ${input.maxLagSeconds ?? "unknown"} s, RPO budget ${input.rpoSeconds} s)`,
    };
  }
  if (input.mode === "forced") {
    return {
      kind: "forced",
      by: "operator",
      why: `the primary region is unreachable and an operator requested a forced failover (measured lag: ${input.maxLagSeconds ?? "unknown"} s, RPO budget ${input.rpoSeconds} s)`,
    };
  }
  if (input.maxLagSeconds === null) {
    return {
      kind: "needs-approval",
      why: `the primary region is unreachable and the replication lag is unknown for ${input.lagBasis ? `${input.lagBasis.unknown} of ${input.lagBasis.live + input.lagBasis.lastKnown + input.lagBasis.unknown} replica(s) (neither measured now nor sampled recently enough before the outage)` : "some resources"}, so the data at risk is unknown (RPO budget ${input.rpoSeconds} s)`,
    };
  }
  if (input.maxLagSeconds <= input.rpoSeconds) {
    return { kind: "forced", by: "rpo-gate", why: `the primary region is unreachable and ${lagPhrase(input)} is within the RPO budget of ${input.rpoSeconds} s` };
  }
  return {
    kind: "needs-approval",
    why: `the primary region is unreachable and ${lagPhrase(input)} exceeds the RPO budget of ${input.rpoSeconds} s`,
  };
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 2_000, maxDelayMs: 60_000 };

/**
 * How many times a step starts a long-running operation that Azure accepted and that then ended Failed
 * or Canceled: the first start and two more, each after the run's backoff (retryDelayMs) on a durable
 * timer. Azure reports such ends as terminal states of the operation, not of the resource; the start
 * activities read the resource's state before they write, so starting again does only what is left.
 */
export const OPERATION_MAX_ATTEMPTS = 3;

/** Delay before attempt `attempt + 1`: exponential backoff, never shorter than Azure's Retry-After. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfterSeconds: number | undefined): number {
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.max(backoff, (retryAfterSeconds ?? 0) * 1000);
}
