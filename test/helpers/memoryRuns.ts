import type { ApprovalEvent, RunInput } from "../../src/core/run/model.ts";
import { RunInProgressError, type DecisionTarget, type RunPort, type RunView } from "../../src/core/run/port.ts";

/**
 * A run port that keeps one run in memory (the port is Switchyard's own interface, not an SDK):
 * records starts, refusals and approvals (with the wait each answers), refuses a start while a run is
 * pending or running, and lets a test set or finish the current run, or fail the next approval sent.
 */
export class MemoryRuns implements RunPort {
  readonly started: RunInput[] = [];
  readonly refused: string[] = [];
  readonly approvals: ApprovalEvent[] = [];
  readonly targets: (DecisionTarget | undefined)[] = [];
  current?: RunView;
  /** The next approval sent throws this (once), as a Durable client whose request failed. */
  failApprove?: Error;

  /** The next start throws `failStart` (once). */
  constructor(private failStart?: Error) {}

  async start(input: RunInput): Promise<RunView> {
    if (this.failStart) {
      const error = this.failStart;
      this.failStart = undefined;
      throw error;
    }
    if (this.current && (this.current.status === "running" || this.current.status === "pending")) {
      this.refused.push(input.runId);
      throw new RunInProgressError(input.plan.name, this.current.runId);
    }
    this.started.push(input);
    this.current = { instanceId: `switchyard-${input.plan.name}`, runId: input.runId, status: "running", kind: input.kind, from: input.from, to: input.to };
    return this.current;
  }

  async get(): Promise<RunView | undefined> {
    return this.current;
  }

  async approve(_plan: string, approval: ApprovalEvent, target?: DecisionTarget): Promise<void> {
    if (this.failApprove) {
      const error = this.failApprove;
      this.failApprove = undefined;
      throw error;
    }
    this.approvals.push(approval);
    this.targets.push(target);
  }

  async terminate(): Promise<void> {
    if (this.current) this.current = { ...this.current, status: "terminated" };
  }

  /** Finishes the current run as a completed switch at `endedAt`. */
  complete(endedAt: string): void {
    const run = this.current;
    if (!run) throw new Error("no run");
    this.current = {
      ...run,
      status: "completed",
      output: {
        runId: run.runId,
        kind: run.kind,
        outcome: "completed",
        from: run.from,
        to: run.to,
        steps: [{ step: "verify", startedAt: endedAt, endedAt, outcome: "ok" }],
        rtoSeconds: 1,
        rtoTargetSeconds: 1800,
        rpoExposureSeconds: 0,
        rpoBudgetSeconds: 300,
        dataLossAllowedBy: "none",
        message: "done",
      },
    };
  }
}
