/**
 * A failback's wait for storage re-protection, as a sub-orchestration of the run: it re-protects every
 * storage account one step per round (an SKU change, a zone conversion, or nothing while Azure converts
 * or geo-replication bootstraps) on durable timers, until every account is back to the plan's
 * redundancy and in sync, the horizon passes (up to 72 h of Azure time by default), or an operator
 * aborts. Every ROUNDS_PER_EXECUTION rounds it continues as new, so its history stays bounded however
 * long Azure takes. The run waits for it and for an abort at once; an abort is also sent here (the
 * operator API raises it to both), so no further round starts.
 */
import { armName } from "../core/plan/armId.ts";
import type * as df from "durable-functions";
import { Activities, APPROVAL_EVENT, Steps, planForActivities, approvalOf, type ApprovalEvent, type ReprotectProgress, type ReprotectWaitInput, type ReprotectWaitOutput } from "../core/run/model.ts";
import { Run } from "./run.ts";

type Gen<T> = Generator<df.Task, T, any>;

/** Rounds per execution before the wait continues as new. */
export const ROUNDS_PER_EXECUTION = 10;

export function* reprotectStorage(context: df.OrchestrationContext): Gen<ReprotectWaitOutput | undefined> {
  const input = context.df.getInput<ReprotectWaitInput>();
  const run = new Run(context, input);
  const { plan, to, runId } = input;
  const base = { runId, plan: planForActivities(plan) };
  const said = new Map<string, string>(input.progress?.said ?? []);
  let told = input.progress?.told ?? false;
  const execution = input.progress?.execution ?? 1;
  let abort = context.df.waitForExternalEvent(APPROVAL_EVENT);
  const end = function* (result: ReprotectWaitOutput["result"]): Gen<ReprotectWaitOutput> {
    yield* run.flush();
    return { result, executions: execution };
  };
  const aborted = (): boolean => {
    if (!abort.isCompleted) return false;
    const event = approvalOf(abort.result);
    if (event.approve) {
      // Not an abort (nothing approves a re-protection wait): wait for the next event.
      abort = context.df.waitForExternalEvent(APPROVAL_EVENT);
      return false;
    }
    run.note("decision", `aborted by ${event.by} while waiting for re-protection: ${event.reason}`, { ...event }, Steps.reprotect);
    return true;
  };

  for (let round = 0; ; round++) {
    if (aborted()) return yield* end("aborted");
    if (round >= ROUNDS_PER_EXECUTION) {
      yield* run.flush();
      context.df.continueAsNew({ ...input, progress: { said: [...said], told, execution: execution + 1 } } satisfies ReprotectWaitInput);
      return undefined;
    }
    const progress = yield* run.callAll<ReprotectProgress>(Steps.reprotect, plan.storage.map((_, index) => ({ name: Activities.reprotectStorageAccount, input: { ...base, index, to, allowDataLoss: false } })));
    const waiting = progress.filter((p) => p.state !== "protected");
    for (const p of progress) {
      if (said.get(p.resourceId) === p.why) continue;
      said.set(p.resourceId, p.why);
      run.note(p.state === "protected" ? "decision" : "wait", `${armName(p.resourceId)}: ${p.why}`, { resourceId: p.resourceId, state: p.state, stage: p.stage, changed: p.changed }, Steps.reprotect);
    }
    if (waiting.length === 0) return yield* end("protected");
    if (context.df.currentUtcDateTime.getTime() >= input.deadlineAt) return yield* end("timeout");
    if (!told) {
      told = true;
      yield* run.notify("failback-waiting", "info", `Switchyard ${plan.name}: the failback to ${to} waits for storage re-protection (${waiting.map((p) => p.why).join("; ")}); this can take up to ${input.horizonSeconds} s of Azure time. Abort run ${runId} to stop waiting.`, undefined, `${runId}.reprotect.failback-waiting`);
    }
    yield* run.flush();
    run.status(Steps.reprotect, "reprotection");
    if (aborted()) return yield* end("aborted"); // an abort that came while this round's activities ran
    const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + run.azureMs(Math.min(...waiting.map((p) => p.pollSeconds)))));
    const winner: df.Task = yield context.df.Task.any([timer, abort]);
    if (winner === abort) timer.cancel();
  }
}
