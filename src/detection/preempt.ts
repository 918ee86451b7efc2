import { planOfRunId } from "../core/run/model.ts";
import type { RunPort, RunView } from "../core/run/port.ts";

/** An incident pre-empts a drill: the drill's run is terminated so that the failover can start. */
export function preemptWith(runs: RunPort) {
  return async (view: RunView, reason: string): Promise<void> => {
    const plan = planOfRunId(view.runId) ?? view.instanceId.replace(/^switchyard-/, "");
    await runs.terminate(plan, reason);
  };
}
