import type { Logger } from "../core/logger.ts";
export type { Logger } from "../core/logger.ts";
export type { Probe } from "../core/probe.ts";
import type { Probe } from "../core/probe.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { Journal } from "../core/journal.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";
import type { LagStore } from "../lag/store.ts";



/**
 * A lease on one classic Front Door, in Switchyard's own blob storage: writers that share a Front Door
 * (a full PUT with no ETag) hold it from their GET to their PUT, so that one does not undo another.
 */
export interface FrontDoorLease {
  /** Waits (briefly) for the lease; rejects with a retryable error when another writer keeps it. */
  acquire(frontDoorId: string): Promise<{ release(): Promise<void> }>;
}

/** What every activity may use: built in src/app/composition.ts (Azure) and src/local/app.ts (locally). */
export interface ActivityDeps {
  readonly clients: ClientFactory;
  readonly journal: Journal;
  readonly probe: Probe;
  readonly log: Logger;
  /** Read "now" once per operation. */
  readonly clock: () => Date;
  /** Interval between polls of long-running operations (ms); near zero in tests. */
  readonly pollIntervalMs: number;
  /** Leases of classic Front Doors (src/activities/frontDoorLease.ts); without it, classic switches take none. */
  readonly frontDoorLease?: FrontDoorLease;
  /**
   * Each activity invocation's time budget (ms): every Azure request and probe it makes is aborted
   * when it runs out (src/azure/budget.ts), before the Functions host's functionTimeout would stop the
   * invocation. Unset: no budget beyond the host's own limit.
   */
  readonly activityBudgetMs?: number;
  /** The plan snapshot of each run: activities called with a plan outline read the whole plan here. */
  readonly runPlans?: Pick<RunPlanStore, "get">;
  /** The lag samples of the `replicationLag` timer: the RPO gate's last-known lag in an outage. Absent: live measurements only. */
  readonly lag?: Pick<LagStore, "get">;
}
