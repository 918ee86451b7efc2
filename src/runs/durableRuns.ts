import type * as df from "durable-functions";
import { APPROVAL_EVENT, instanceIdFor, Orchestrations, outlineOf, reprotectInstanceId, type RunOrchestrationInput, type ApprovalEvent, type RunInput, runIdOfInput } from "../core/run/model.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";
import { RunInProgressError, type DecisionTarget, type RunPort, type RunView } from "../core/run/port.ts";
import { runViewOf } from "./runView.ts";

const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

/** The run port over the Durable Functions client (in Azure). */
export class DurableRuns implements RunPort {
  /** `runPlans`: where each run's plan is kept when it starts; its activities read it there. */
  constructor(
    private readonly client: df.DurableClient,
    private readonly runPlans: RunPlanStore,
  ) {}

  async start(input: RunInput): Promise<RunView> {
    const instanceId = instanceIdFor(input.plan.name);
    const existing = await this.client.getStatus(instanceId).catch(() => undefined);
    if (existing && ACTIVE.has(String(existing.runtimeStatus))) {
      throw new RunInProgressError(input.plan.name, runIdOfInput(existing.input) ?? "an unknown run");
    }
    try {
      // The plan is kept once, before the run exists; the run's history carries an outline of it.
      await this.runPlans.put(input.runId, input.plan);
      const durable: RunOrchestrationInput = { ...input, plan: outlineOf(input.plan) };
      await this.client.startNew(input.kind === "failover" ? Orchestrations.failover : Orchestrations.failback, { instanceId, input: durable });
    } catch (error) {
      // Lost the race to another start: the extension refuses to overwrite a running instance.
      const now = await this.client.getStatus(instanceId).catch(() => undefined);
      const running = now && ACTIVE.has(String(now.runtimeStatus)) ? (runIdOfInput(now.input) ?? "an unknown run") : undefined;
      // The start reached Azure before its answer was lost: this run is the one running.
      if (running === input.runId) return { instanceId, runId: input.runId, status: "pending", kind: input.kind, from: input.from, to: input.to, trigger: input.trigger };
      if (running !== undefined) throw new RunInProgressError(input.plan.name, running);
      throw error;
    }
    return { instanceId, runId: input.runId, status: "pending", kind: input.kind, from: input.from, to: input.to, trigger: input.trigger };
  }

  async get(planName: string): Promise<RunView | undefined> {
    const status = await this.client.getStatus(instanceIdFor(planName)).catch(() => undefined);
    if (!status?.input) return undefined;
    return runViewOf({ instanceId: status.instanceId, status: statusOf(String(status.runtimeStatus)), input: status.input, customStatus: status.customStatus, output: status.output });
  }

  /**
   * Raises the decision on the plan's instance. A decision for a `target` run that the instance no
   * longer runs is dropped (the plan's instance may run a later run by now), as Durable drops an event
   * for a finished instance; the instance's status must then be read (a failed read is an error).
   */
  async approve(planName: string, approval: ApprovalEvent, target?: DecisionTarget): Promise<void> {
    const instanceId = instanceIdFor(planName);
    const status = target ? await this.client.getStatus(instanceId) : await this.client.getStatus(instanceId).catch(() => undefined);
    const runId = runIdOfInput(status?.input);
    if (target && runId !== target.runId) return;
    await this.client.raiseEvent(instanceId, APPROVAL_EVENT, approval);
    if (approval.approve) return;
    // A failback waiting for re-protection waits in a sub-orchestration: it is told too, so that it
    // starts no further round (it may not exist: the run may not be waiting there).
    if (runId) await this.client.raiseEvent(reprotectInstanceId(runId), APPROVAL_EVENT, approval).catch(() => undefined);
  }

  /**
   * Ends the plan's run, and its re-protection wait: Durable's terminate does not reach
   * sub-orchestrations, and a wait left running would go on changing storage accounts. (A watch left
   * running only reads, and ends with its operations.)
   */
  async terminate(planName: string, reason: string): Promise<void> {
    const instanceId = instanceIdFor(planName);
    const runId = runIdOfInput((await this.client.getStatus(instanceId).catch(() => undefined))?.input);
    // The run first: its termination is queued ahead of the failure its wait's end would send it,
    // so the run ends terminated (not failed, journaled and notified as a failure).
    await this.client.terminate(instanceId, reason);
    if (runId) await this.client.terminate(reprotectInstanceId(runId), reason).catch(() => undefined);
  }
}

/** Durable's runtime statuses in the run port's terms. */
function statusOf(runtimeStatus: string): RunView["status"] {
  switch (runtimeStatus) {
    case "Pending":
      return "pending";
    case "Running":
    case "ContinuedAsNew":
    case "Suspended":
      return "running";
    case "Completed":
      return "completed";
    case "Terminated":
    case "Canceled":
      return "terminated";
    default:
      return "failed";
  }
}
