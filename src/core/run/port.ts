import type { ApprovalEvent, RunInput, RunOutput, RunStatus } from "./model.ts";

/** A run as triggers and operators see it. */
export interface RunView {
  readonly instanceId: string;
  readonly runId: string;
  readonly status: "pending" | "running" | "completed" | "failed" | "terminated";
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

/**
 * How triggers start and query runs. Two implementations: the Durable client in Azure
 * (src/runs/durableRuns.ts), the local durable host locally (src/runs/localRuns.ts).
 */
export interface RunPort {
  /** Starts a run; refused with RunInProgressError while the plan has one in progress (or reserved: src/core/run/reservation.ts). */
  start(input: RunInput): Promise<RunView>;
  get(planName: string): Promise<RunView | undefined>;
  approve(planName: string, approval: ApprovalEvent): Promise<void>;
  /**
   * Asks for the plan's run in progress to be ended (an incident pre-empting a drill). A request: the
   * run may still be running when it returns (Durable applies it later); watch `get` for its end.
   */
  terminate(planName: string, reason: string): Promise<void>;
}
