import type { ApprovalEvent, RunInput, RunOutput, RunState, RunStatus } from "./model.ts";

/** A run as triggers and operators see it. */
export interface RunView {
  readonly instanceId: string;
  readonly runId: string;
  /** The orchestration's runtime status, except that a completed one shows its outcome: "stopped" when it stopped short by design (refused, aborted, approval timed out), "failed" when it failed (runStateOf). */
  readonly status: RunState;
  readonly kind: RunInput["kind"];
  readonly from: string;
  readonly to: string;
  /** Who or what started the run (a drill, an alert, an operator). */
  readonly trigger?: RunInput["trigger"];
  /** The orchestration's custom status: current step, since when, what it waits for. */
  readonly progress?: RunStatus;
  readonly output?: RunOutput;
  readonly error?: string;
}

/** A plan already has a run in progress: the one-run-per-plan interlock. */
export class RunInProgressError extends Error {
  constructor(readonly planName: string, readonly runningRunId: string) {
    super(`plan ${planName} already has run ${runningRunId} in progress`);
    this.name = "RunInProgressError";
  }
}

/** The waits of a run an operator's decision answers: a data-loss approval, or a failback's wait for re-protection (abort only). */
export type DecisionWait = "approval" | "reprotection";

/** Which wait of which run a decision answers (the first decision claimed for a wait is the one that stands). */
export interface DecisionTarget {
  readonly runId: string;
  readonly waitingFor: DecisionWait;
}

/** A decision as it stands for a run's wait: approve or abort, who, why, and when it was claimed. */
export interface RunDecision extends DecisionTarget {
  readonly approve: boolean;
  readonly by: string;
  readonly reason: string;
  /** When it was claimed (ISO). */
  readonly at: string;
}

/** Another decision already stands for this wait of the run: the one that reached it first. */
export class DecisionTakenError extends Error {
  constructor(
    readonly standing: RunDecision,
    /** The standing decision had not been confirmed delivered to the run, and this request sent it again. */
    readonly resent = false,
  ) {
    super(`run ${standing.runId} already has its decision for its ${standing.waitingFor} wait: ${standing.approve ? "approve" : "abort"} by ${standing.by} at ${standing.at}`);
    this.name = "DecisionTakenError";
  }
}

/**
 * A decision that stands for the run (it was claimed first) but could not be delivered to it: nothing
 * else can be decided for that wait, and the next request for it sends this one again.
 */
export class DecisionNotDeliveredError extends Error {
  constructor(
    readonly decision: RunDecision,
    cause: unknown,
  ) {
    super(`the ${decision.approve ? "approval" : "abort"} of run ${decision.runId} stands but could not be delivered to the run; a further approve or abort request for the run sends it again`, { cause });
    this.name = "DecisionNotDeliveredError";
  }
}

/**
 * How triggers start and query runs. Two implementations: the Durable client in Azure
 * (src/runs/durableRuns.ts), the local durable host locally (src/runs/localRuns.ts).
 */
export interface RunPort {
  /** Starts a run; refused with RunInProgressError while the plan has one in progress (or reserved: src/core/run/reservation.ts). */
  start(input: RunInput): Promise<RunView>;
  get(planName: string): Promise<RunView | undefined>;
  /**
   * Sends an operator's decision to the plan's run. `target`: the run and the wait the decision
   * answers. A port that claims decisions (src/runs/reservingRuns.ts) lets the first decision for a
   * wait through and refuses every later one with DecisionTakenError naming the one that stands; it
   * reads the target from the run's status when none is given.
   */
  approve(planName: string, approval: ApprovalEvent, target?: DecisionTarget): Promise<void>;
  /**
   * Asks for the plan's run in progress to be ended (an incident pre-empting a drill). A request: the
   * run may still be running when it returns (Durable applies it later); watch `get` for its end.
   */
  terminate(planName: string, reason: string): Promise<void>;
}
