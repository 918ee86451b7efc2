import { instanceIdFor, Orchestrations, APPROVAL_EVENT, outlineOf, reprotectInstanceId, type RunOrchestrationInput, type ApprovalEvent, type RunInput, runIdOfInput } from "../core/run/model.ts";
import { RunInProgressError, type DecisionTarget, type RunPort, type RunView } from "../core/run/port.ts";
import { MemoryRunPlanStore, type RunPlanStore } from "../journal/runPlans.ts";
import { InstanceRunningError, type InstanceStatus, type LocalDurableHost } from "../durable/durableHost.ts";
import type { RuntimeStatus } from "../durable/instanceStore.ts";
import { runViewOf } from "./runView.ts";

/** The run port over the local durable host. */
export class LocalRuns implements RunPort {
  /**
   * `timeScale`: the scale of this host's Azure (the estate), given to every run started here that
   * does not carry one, so that its waits (polls, deadlines, restarts) match the estate's time.
   */
  /**
   * `runPlans`: where each run's plan is kept when it starts (its activities read it there; the run
   * itself carries an outline). Default: a store of this object's own, which only activities given the
   * same store can read.
   */
  constructor(
    private readonly host: LocalDurableHost,
    private readonly defaults: { readonly timeScale?: number; readonly runPlans?: RunPlanStore } = {},
  ) {
    this.runPlans = defaults.runPlans ?? new MemoryRunPlanStore();
  }

  private readonly runPlans: RunPlanStore;

  async start(requested: RunInput): Promise<RunView> {
    const input: RunInput =
      this.defaults.timeScale !== undefined && requested.options?.timeScale === undefined
        ? { ...requested, options: { ...requested.options, timeScale: this.defaults.timeScale } }
        : requested;
    const instanceId = instanceIdFor(input.plan.name);
    try {
      // Kept before the run exists (a refused start leaves a snapshot no run reads, as in Azure).
      await this.runPlans.put(input.runId, input.plan);
      const durable: RunOrchestrationInput = { ...input, plan: outlineOf(input.plan) };
      const status = await this.host.start(input.kind === "failover" ? Orchestrations.failover : Orchestrations.failback, durable, instanceId);
      return view(status);
    } catch (error) {
      if (error instanceof InstanceRunningError) throw new RunInProgressError(input.plan.name, runIdOfInput(error.existing.input) ?? "an unknown run");
      throw error;
    }
  }

  async get(planName: string): Promise<RunView | undefined> {
    const status = await this.host.getStatus(instanceIdFor(planName));
    return status ? view(status) : undefined;
  }

  /**
   * Raises the decision on the plan's instance. A decision for a `target` run that the instance no
   * longer runs is dropped (the plan's instance may run a later run by now), as an event for a
   * finished instance is.
   */
  async approve(planName: string, approval: ApprovalEvent, target?: DecisionTarget): Promise<void> {
    const instanceId = instanceIdFor(planName);
    const runId = runIdOfInput((await this.host.getStatus(instanceId))?.input);
    if (target && runId !== target.runId) return;
    await this.host.raiseEvent(instanceId, APPROVAL_EVENT, approval);
    if (approval.approve) return;
    // A failback waiting for re-protection waits in a sub-orchestration: it is told too, so that it
    // starts no further round (it may not exist: the run may not be waiting there).
    if (runId) await this.host.raiseEvent(reprotectInstanceId(runId), APPROVAL_EVENT, approval).catch(() => undefined);
  }

  /** Ends the plan's run and its re-protection wait (terminate does not reach sub-orchestrations). */
  async terminate(planName: string, reason: string): Promise<void> {
    const instanceId = instanceIdFor(planName);
    const runId = runIdOfInput((await this.host.getStatus(instanceId))?.input);
    // The run first: its termination is queued ahead of the failure its wait's end would send it,
    // so the run ends terminated (not failed, journaled and notified as a failure).
    await this.host.terminate(instanceId, reason);
    if (runId) await this.host.terminate(reprotectInstanceId(runId), reason).catch(() => undefined);
  }

  /** Resolves with the finished run (local tools: the drill, tests); rejects if the host stopped first. */
  async waitFor(planName: string): Promise<RunView> {
    const status = await this.host.waitForCompletion(instanceIdFor(planName));
    if (status.input === undefined) throw new Error(`the local durable host stopped before the run of ${planName} finished`);
    return view(status);
  }
}

export function view(status: InstanceStatus): RunView {
  return runViewOf({
    instanceId: status.instanceId,
    status: statusOf(status.runtimeStatus),
    input: status.input,
    ...(status.customStatus !== undefined ? { customStatus: status.customStatus } : {}),
    ...(status.output !== undefined ? { output: status.output } : {}),
    ...(status.error !== undefined ? { error: status.error } : {}),
  });
}

/** The local host's runtime statuses in the run port's terms. */
function statusOf(runtimeStatus: RuntimeStatus): RunView["status"] {
  switch (runtimeStatus) {
    case "Pending":
      return "pending";
    case "Running":
      return "running";
    case "Completed":
      return "completed";
    case "Failed":
      return "failed";
    case "Terminated":
      return "terminated";
  }
}
