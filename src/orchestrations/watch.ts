/**
 * The watch sub-orchestration: the monitor pattern for a step's long-running Azure operations (a
 * failover group switching, a storage account failing over, a Front Door update propagating).
 *
 * It polls each operation with its read-only poll activity at the operation's own interval (Azure time
 * divided by the run's time scale; a longer Retry-After wins) until each has succeeded, one has failed,
 * or one is past its deadline. Every POLLS_PER_EXECUTION polls it continues as new with its progress
 * as input, so its history holds at most that many polls whatever the length of the wait: an Azure
 * operation polled every minute for a day would otherwise add thousands of events, each replayed at
 * every poll. Failures come back as data (`ok: false`), never as a thrown error.
 */
import type * as df from "durable-functions";
import { planForActivities, type PollOutcome, type WatchedEnd, type WatchInput, type WatchOutput, type WatchProgress } from "../core/run/model.ts";
import { Run, StepFailed } from "./run.ts";

type Gen<T> = Generator<df.Task, T, any>;

/** Polls (rounds of due operations) per execution before the watch continues as new. */
export const POLLS_PER_EXECUTION = 10;

export function* watchOperations(context: df.OrchestrationContext): Gen<WatchOutput | undefined> {
  const input = context.df.getInput<WatchInput>();
  const run = new Run(context, input);
  const { step, pendings } = input;
  const now = () => context.df.currentUtcDateTime.getTime();
  const start = now();
  const progress: WatchProgress = input.progress ?? {
    nextAt: pendings.map((p) => start + run.azureMs(p.pollSeconds)),
    deadlineAt: pendings.map((p) => start + run.azureMs(p.deadlineSeconds)),
    done: [],
    ended: [],
    execution: 1,
  };
  const nextAt = [...progress.nextAt];
  const done: WatchedEnd[] = [...progress.done];
  const ended = new Set(progress.ended);

  try {
    for (let polls = 0; ; polls++) {
      const open = pendings.map((_, i) => i).filter((i) => !ended.has(i));
      if (open.length === 0) {
        yield* run.flush();
        return { ok: true, done, executions: progress.execution };
      }
      if (polls >= POLLS_PER_EXECUTION) {
        yield* run.flush();
        context.df.continueAsNew({ ...input, progress: { nextAt, deadlineAt: progress.deadlineAt, done, ended: [...ended], execution: progress.execution + 1 } satisfies WatchProgress });
        return undefined;
      }
      const wakeAt = Math.min(...open.map((i) => nextAt[i]!));
      if (wakeAt > now()) {
        run.status(step, "operation");
        yield context.df.createTimer(new Date(wakeAt));
      }
      const at = now();
      const due = open.filter((i) => nextAt[i]! <= at);
      const results = yield* run.callAll<PollOutcome>(step, due.map((i) => ({ name: pendings[i]!.poll, input: { runId: input.runId, plan: planForActivities(input.plan), pending: pendings[i] } })));
      yield* run.flush();
      const after = now();
      for (const [k, i] of due.entries()) {
        const pending = pendings[i]!;
        const result = results[k]!;
        if (result.status === "succeeded") {
          ended.add(i);
          done.push({ index: i, status: result.status, ...(result.method !== undefined ? { method: result.method } : {}) });
          continue;
        }
        if (after >= progress.deadlineAt[i]!) {
          return {
            ok: false,
            executions: progress.execution,
            error: {
              name: "SwitchyardError",
              message: `${pending.operation} on ${pending.resourceId} did not end within ${pending.deadlineSeconds} s of Azure time; it may still complete (a new run reads the resource's state before it writes)`,
              code: "OperationDeadlineExceeded",
              retryable: false,
            },
          };
        }
        nextAt[i] = after + run.azureMs(Math.max(pending.pollSeconds, result.retryAfterSeconds ?? 0));
      }
    }
  } catch (error) {
    if (error instanceof StepFailed) return { ok: false, error: error.envelope, executions: progress.execution };
    throw error;
  }
}
