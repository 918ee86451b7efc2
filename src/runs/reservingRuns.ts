import type { Logger } from "../core/logger.ts";
import type { ApprovalEvent, RunInput } from "../core/run/model.ts";
import { RunInProgressError, type RunPort, type RunView } from "../core/run/port.ts";
import { MalformedValueError } from "../core/run/parse.ts";
import { releaseRun, reserveRun, RESERVATION_GRACE_MS, type ReserveDecision } from "../core/run/reservation.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";

export interface ReservingRunsOptions {
  /** The plans' state documents (ETag-checked updates): where runs are reserved. */
  readonly store: PlanStateStore;
  readonly clock: () => Date;
  /** How long a reservation whose run is not visible holds the plan (default RESERVATION_GRACE_MS). */
  readonly graceMs?: number;
  readonly log?: Logger;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A run port that reserves every run in the plan's state document before the inner port starts it
 * (src/core/run/reservation.ts): of any number of racing starts of one plan, in any process, one
 * reserves and reaches the inner port; the others are refused with RunInProgressError naming the run
 * that holds the plan. Reads, approvals and terminations go straight to the inner port.
 */
export class ReservingRuns implements RunPort {
  constructor(
    private readonly inner: RunPort,
    private readonly options: ReservingRunsOptions,
  ) {}

  async start(input: RunInput): Promise<RunView> {
    const plan = input.plan.name;
    const view = await this.inner.get(plan).catch((error: unknown) => {
      // The plan's last run cannot be read back: a start in an outage must not wait on it. The inner
      // port still refuses to start over a run in progress (it reads only the instance's status).
      if (!(error instanceof MalformedValueError)) throw error;
      this.options.log?.warn("the plan's last run cannot be read back; reserving as if it had none", { plan, runId: input.runId, error: error.message });
      return undefined;
    });
    const now = this.options.clock();
    let decision!: ReserveDecision;
    await this.options.store.update(plan, (state) => {
      decision = reserveRun(state, { runId: input.runId, kind: input.kind, view, now, graceMs: this.options.graceMs ?? RESERVATION_GRACE_MS });
      return decision.reserved ? decision.state : state;
    });
    if (!decision.reserved) throw new RunInProgressError(plan, decision.holder);
    if (decision.replaced && view?.runId !== decision.replaced.runId) {
      this.options.log?.warn("a run reservation whose run never became visible was taken over after the grace period", {
        plan,
        runId: input.runId,
        replaced: decision.replaced.runId,
        reservedAt: decision.replaced.reservedAt,
      });
    }
    try {
      return await this.inner.start(input);
    } catch (error) {
      // Our own run already in progress (a retried start): the reservation is right, keep it.
      if (!(error instanceof RunInProgressError && error.runningRunId === input.runId)) await this.release(plan, input.runId);
      throw error;
    }
  }

  get(planName: string): Promise<RunView | undefined> {
    return this.inner.get(planName);
  }

  approve(planName: string, approval: ApprovalEvent): Promise<void> {
    return this.inner.approve(planName, approval);
  }

  terminate(planName: string, reason: string): Promise<void> {
    return this.inner.terminate(planName, reason);
  }

  /** Frees the plan after a start that failed; if that fails too, the reservation lapses after the grace period. */
  private async release(plan: string, runId: string): Promise<void> {
    try {
      await this.options.store.update(plan, (state) => releaseRun(state, runId));
    } catch (error) {
      this.options.log?.error("the reservation of a run that did not start could not be released; it lapses after the grace period", { plan, runId, error: message(error) });
    }
  }
}
