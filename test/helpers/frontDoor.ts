import { pollFrontDoorClassic, pollFrontDoorStandard } from "../../src/activities/frontdoor.ts";
import type { ActivityDeps } from "../../src/activities/deps.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import { Activities, type OperationPollResult, type PendingOperation, type SwitchInput, type SwitchResult } from "../../src/core/run/model.ts";

const POLLS: Record<string, (input: { runId: string; plan: Plan; pending: PendingOperation }, deps: ActivityDeps) => Promise<OperationPollResult>> = {
  [Activities.pollFrontDoorStandard]: pollFrontDoorStandard,
  [Activities.pollFrontDoorClassic]: pollFrontDoorClassic,
};

/** What a switch result asks the run to watch. */
export function pendingsOf(result: SwitchResult): PendingOperation[] {
  return [...(result.pending ? [result.pending] : []), ...(result.alsoPending ?? [])];
}

/**
 * Polls each operation until it ends, as the orchestration does on its durable timers; `tick` runs
 * before every poll after the first round (move a test clock on). Returns every poll's result.
 */
export async function watch(pendings: readonly PendingOperation[], input: { runId: string; plan: Plan }, deps: ActivityDeps, tick: () => void | Promise<void> = () => undefined, maxPolls = 40): Promise<OperationPollResult[]> {
  const results: OperationPollResult[] = [];
  let open = [...pendings];
  for (let round = 0; open.length > 0; round++) {
    if (round >= maxPolls) throw new Error(`operations still running after ${maxPolls} polls: ${open.map((p) => p.resourceId).join(", ")}`);
    if (round > 0) await tick();
    const polled = await Promise.all(open.map((pending) => POLLS[pending.poll]!({ runId: input.runId, plan: input.plan, pending }, deps)));
    results.push(...polled);
    open = open.filter((_, i) => polled[i]!.status !== "succeeded");
  }
  return results;
}

/**
 * The orchestration's converge for one switch: call it, watch what it started, call it again, until a
 * call starts nothing. Returns every call's result.
 */
export async function converge(
  switchFn: (input: SwitchInput, deps: ActivityDeps) => Promise<SwitchResult>,
  input: SwitchInput,
  deps: ActivityDeps,
  tick: () => void | Promise<void> = () => undefined,
  maxRounds = 5,
): Promise<SwitchResult[]> {
  const results: SwitchResult[] = [];
  for (let round = 0; round < maxRounds; round++) {
    const result = await switchFn(input, deps);
    results.push(result);
    const pendings = pendingsOf(result);
    if (pendings.length === 0) return results;
    await watch(pendings, input, deps, tick);
  }
  throw new Error(`the switch still starts operations after ${maxRounds} rounds`);
}
