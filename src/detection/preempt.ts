import { SwitchyardError } from "../core/errors.ts";
import { planOfRunId } from "../core/run/model.ts";
import type { RunPort, RunView } from "../core/run/port.ts";

export interface PreemptOptions {
  /** Read "now" to measure the wait. Default the system clock. */
  readonly clock?: () => Date;
  /** Waits between polls of the run's status. Default setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Between polls. Default 1 s. */
  readonly pollIntervalMs?: number;
  /**
   * How long to wait for the run to end before giving up. Default 60 s: an idle task hub on the Azure
   * Storage backend polls its control queues at up to 30 s (maxQueuePollingInterval), and the
   * termination is applied at the episode after that.
   */
  readonly timeoutMs?: number;
}

/** The pre-empted run was told to terminate but had not ended when the wait for it ran out. */
export class PreemptionTimeoutError extends SwitchyardError {
  constructor(
    readonly planName: string,
    readonly runId: string,
    /** Its status at the last poll. */
    readonly status: RunView["status"],
    readonly waitedMs: number,
  ) {
    super(
      `run ${runId} was told to terminate but is still ${status} after ${Math.round(waitedMs / 100) / 10} s: ` +
        `no failover is started while it may still act; the next evaluation asks again`,
      { code: "PreemptionTimeout", retryable: true },
    );
  }
}

const ACTIVE = new Set<RunView["status"]>(["pending", "running"]);
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An incident pre-empts a drill: the drill's run is terminated, and the pre-emption resolves once the
 * run port shows it ended, so that the failover can start. Terminating is a request, not the end: the
 * Durable client's terminate returns (202) while the instance is still Running and the runtime applies
 * it later (the local durable host too), and a failover started before then is refused, or runs beside
 * a drill still writing to Azure. The wait is bounded (`timeoutMs`): past it the pre-emption fails
 * with PreemptionTimeoutError and nothing is started; the caller journals it and retries later.
 */
export function preemptWith(runs: RunPort, options: PreemptOptions = {}) {
  const clock = options.clock ?? (() => new Date());
  const sleep = options.sleep ?? defaultSleep;
  const intervalMs = options.pollIntervalMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 60_000;
  // A clock that does not move (or moves backwards) still ends the wait: after this many polls.
  const maxPolls = Math.ceil(timeoutMs / Math.max(intervalMs, 1)) + 1;
  return async (view: RunView, reason: string): Promise<void> => {
    const plan = planOfRunId(view.runId) ?? view.instanceId.replace(/^switchyard-/, "");
    const startedAt = clock().getTime();
    await runs.terminate(plan, reason);
    for (let poll = 1; ; poll++) {
      const now = await runs.get(plan);
      // Ended, or no longer the plan's run (the instance now holds another run): the drill is gone.
      if (!now || now.runId !== view.runId || !ACTIVE.has(now.status)) return;
      const waitedMs = clock().getTime() - startedAt;
      if (waitedMs >= timeoutMs || poll >= maxPolls) throw new PreemptionTimeoutError(plan, view.runId, now.status, waitedMs);
      await sleep(Math.min(intervalMs, Math.max(0, timeoutMs - waitedMs)));
    }
  };
}
