import { runStateOf, runStatusOf, type RunStatus } from "../core/run/model.ts";
import type { RunOutcome } from "../core/run/model.ts";
import type { RunView } from "../core/run/port.ts";
import { checkRunOrchestrationInput, checkRunOutput, requireValid } from "../core/run/parse.ts";

/** A run's instance as a Durable runtime (in Azure, or the local host) hands it back, nothing yet trusted. */
export interface RunInstance {
  readonly instanceId: string;
  readonly status: RunView["status"];
  readonly input: unknown;
  readonly customStatus?: unknown;
  readonly output?: unknown;
  readonly error?: string;
}

/**
 * The run port's view of a run's instance. The input must be a run's orchestration input, and a
 * completed run's output a run output: anything else throws MalformedValueError naming the instance
 * and the bad field, rather than a view that fails later where a field is used. A run that did not
 * complete has no run output: Durable gives a failed run's error, or a terminated run's reason, as its
 * output text, which the view shows as its error. A completed orchestration's status is its outcome's
 * (statusOfOutcome): a run that stopped short shows as such, not as completed.
 */
export function runViewOf(instance: RunInstance): RunView {
  const input = requireValid(checkRunOrchestrationInput(instance.input), `the input of instance ${instance.instanceId}`);
  const end = endOf(instance);
  return {
    instanceId: instance.instanceId,
    runId: input.runId,
    status: instance.status === "completed" && end.output ? statusOfOutcome(end.output.outcome) : instance.status,
    kind: input.kind,
    from: input.from,
    to: input.to,
    trigger: input.trigger,
    ...progressOf(instance.customStatus),
    ...end,
  };
}

/**
 * The status of a run whose orchestration completed, from its outcome (runStateOf): "completed" only
 * when it completed its switch; "failed" when it failed; a run that stopped short by design (refused,
 * aborted, approval timed out) is "stopped". A view's status never says completed over an outcome that did not.
 */
export function statusOfOutcome(outcome: RunOutcome): RunView["status"] {
  return runStateOf("completed", { outcome });
}

function endOf(instance: RunInstance): { output?: RunView["output"]; error?: string } {
  const { output, error, status, instanceId } = instance;
  if (output === undefined || output === null) return error !== undefined ? { error } : {};
  const checked = checkRunOutput(output);
  if (checked.ok) return { output: checked.value, ...(error !== undefined ? { error } : {}) };
  if (status === "completed") return { output: requireValid(checked, `the output of instance ${instanceId}`) };
  if (error !== undefined) return { error };
  return typeof output === "string" ? { error: output } : {};
}

/** The run's checked status as a view's `progress`, when it has one. */
function progressOf(customStatus: unknown): { progress?: RunStatus } {
  const progress = runStatusOf(customStatus);
  return progress ? { progress } : {};
}
