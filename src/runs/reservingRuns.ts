import type { Logger } from "../core/logger.ts";
import type { ApprovalEvent, RunInput } from "../core/run/model.ts";
import { RunInProgressError, type DecisionTarget, type RunPort, type RunView } from "../core/run/port.ts";
import { MalformedValueError } from "../core/run/parse.ts";
import { releaseRun, reserveRun, RESERVATION_GRACE_MS, type ReserveDecision } from "../core/run/reservation.ts";
import { redactText } from "../core/secrets.ts";
import { waitForRotationSteps } from "../rotation/gate.ts";
import { BlobPlanStateStore, type PlanStateStore } from "../detection/stateStore.ts";
import type { PlanState } from "../core/detection/model.ts";
import { BlobDecisionStore, DecisionClaims, MemoryDecisionStore, type DecisionStore } from "./decisions.ts";

export interface ReservingRunsOptions {
  /** The plans' state documents (ETag-checked updates): where runs are reserved. */
  readonly store: PlanStateStore;
  readonly clock: () => Date;
  /** How long a reservation whose run is not visible holds the plan (default RESERVATION_GRACE_MS). */
  readonly graceMs?: number;
  /**
   * Where decisions on runs' waits are claimed (src/runs/decisions.ts). Default: blobs in the state
   * store's container when it is a blob store (shared by every instance of the app), else in memory.
   */
  readonly decisions?: DecisionStore;
  readonly log?: Logger;
  /** How a start waits between reads of the plan's rotation steps (default: real time). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The run is not waiting for the decision asked of it. */
export class NotWaitingForDecisionError extends Error {
  constructor(readonly planName: string, approve: boolean) {
    super(`the run of plan ${planName} is not waiting for ${approve ? "approval" : "approval or re-protection"}`);
    this.name = "NotWaitingForDecisionError";
  }
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A run port that reserves every run in the plan's state document before the inner port starts it
 * (src/core/run/reservation.ts): of any number of racing starts of one plan, in any process, one
 * reserves and reaches the inner port; the others are refused with RunInProgressError naming the run
 * that holds the plan. And it claims every decision on a run's wait before the inner port sends it
 * (src/runs/decisions.ts): of any number of racing approves and aborts, in any process, the first
 * claimed is the only one sent; the others are refused with DecisionTakenError naming it. Reads and
 * terminations go straight to the inner port.
 */
export class ReservingRuns implements RunPort {
  private readonly claims: DecisionClaims;

  constructor(
    private readonly inner: RunPort,
    private readonly options: ReservingRunsOptions,
  ) {
    const store = options.decisions ?? (options.store instanceof BlobPlanStateStore ? new BlobDecisionStore(options.store.container) : new MemoryDecisionStore());
    this.claims = new DecisionClaims({ store, clock: options.clock, ...(options.log ? { log: options.log } : {}) });
  }

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
    const reserved = await this.options.store.update(plan, (state) => {
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
    await this.afterRotationSteps(plan, input.runId, reserved);
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

  /**
   * Claims the decision for `target` (read from the run's status when not given), then, if it is the
   * first, sends it. Caller names and reasons are recorded and sent redacted.
   */
  async approve(planName: string, approval: ApprovalEvent, target?: DecisionTarget): Promise<void> {
    const wait = target ?? (await this.waitOf(planName, approval.approve));
    const decision = { ...wait, approve: approval.approve, by: redactText(approval.by), reason: redactText(approval.reason), at: this.options.clock().toISOString() };
    await this.claims.decide(decision, ({ approve, by, reason }) => this.inner.approve(planName, { approve, by, reason }, wait));
  }

  terminate(planName: string, reason: string): Promise<void> {
    return this.inner.terminate(planName, reason);
  }

  /** The wait of the plan's run a decision would answer now: approval, or (an abort only) re-protection. */
  private async waitOf(planName: string, approve: boolean): Promise<DecisionTarget> {
    const view = await this.inner.get(planName);
    const waitingFor = view?.status === "running" ? view.progress?.waitingFor : undefined;
    if (!view || !(waitingFor === "approval" || (!approve && waitingFor === "reprotection"))) throw new NotWaitingForDecisionError(planName, approve);
    return { runId: view.runId, waitingFor };
  }

  /**
   * A secret rotation's step under way when the plan was reserved finishes first (it can take no longer
   * than its lease): the run then begins on a known state. A failure to read the state never holds a run.
   */
  private async afterRotationSteps(plan: string, runId: string, reserved: PlanState): Promise<void> {
    try {
      // The state the reservation wrote says whether a step is under way: no further read when none is.
      await waitForRotationSteps(plan, { state: reserved, store: this.options.store, clock: this.options.clock, ...(this.options.sleep ? { sleep: this.options.sleep } : {}), ...(this.options.log ? { log: this.options.log } : {}) });
    } catch (error) {
      this.options.log?.warn("could not read the plan's rotation steps; the run starts without waiting for them", { plan, runId, error: message(error) });
    }
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
