import { asObject, asString, isObject } from "../core/guards.ts";
import { SwitchyardError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, dataTierOutcome, isWholePlan, pollOutcome, runStepOf, switchOutcome, type ActivityName, type ActivityResult, type PlanOutline } from "../core/run/model.ts";
import { impliedMessage, type JournalDraft } from "../core/run/entries.ts";
import { requireEntry } from "../journal/guard.ts";
import { stampedJournal } from "../journal/stamped.ts";
import type { NotifyDeps } from "./notify.ts";
import { notifyActivity } from "./notify.ts";
import { switchAppService } from "./appService.ts";
import { pollFrontDoorClassic, pollFrontDoorStandard, switchFrontDoorClassic, switchFrontDoorStandard } from "./frontdoor.ts";
import { assessRegions } from "./health.ts";
import { measureReplication } from "./replication.ts";
import { failoverSqlGroup, pollSqlFailover } from "./sql.ts";
import { reprotectStorageAccount } from "./reprotect.ts";
import { failoverStorageAccount, pollStorageFailover } from "./storage.ts";
import { checkReprotection, verifyPrimary } from "./verify.ts";
import { withKeys } from "../core/logger.ts";
import { currentAbortSignal, withBudget } from "../azure/budget.ts";
import { wrapActivity } from "./wrap.ts";
import { Attr } from "../telemetry/attributes.ts";
import { recordRunFinished } from "../telemetry/runs.ts";
import { inSpan, Spans } from "../telemetry/telemetry.ts";

export type ActivityHandlers = Record<ActivityName, (input: unknown) => Promise<ActivityResult<unknown>>>;

/**
 * The journal activity: appends the orchestrator's entries (decisions, waits, step boundaries). The
 * entries name their run once, in the input (runs of version 1 name it in every entry too).
 */
async function journalActivity(input: { runId: string; entries: JournalDraft[] }, deps: NotifyDeps): Promise<null> {
  // The drafts come back through durable history: each is checked into a journal entry of its kind.
  for (const entry of input.entries) await deps.journal.append(requireEntry({ ...entry, runId: input.runId, message: entry.message ?? impliedMessage(entry) }));
  // The run's end, once journaled, is its root span and its metrics (src/telemetry/runs.ts).
  await recordRunFinished(input.runId, input.entries, (runId) => deps.journal.read(runId));
  return null;
}

/**
 * An activity called with its plan's outline (the run orchestration's history carries no more) gets
 * the run's plan snapshot in its place; one called with a whole plan (runs of version 1) keeps it.
 */
async function withWholePlan<I>(input: I, deps: NotifyDeps): Promise<I> {
  const given: unknown = input;
  if (!isObject(given) || !isObject(given.plan) || typeof given.runId !== "string") return input;
  const outline = given.plan as PlanOutline | Plan;
  if (isWholePlan(outline)) return input;
  const plan = await deps.runPlans?.get(given.runId);
  if (!plan) throw new SwitchyardError(`the plan of run ${given.runId} is not stored (runs keep their plan when they start)`, { code: "RunPlanMissing", retryable: false });
  if (plan.name !== outline.name) throw new SwitchyardError(`the stored plan of run ${given.runId} is ${plan.name}, not ${outline.name}`, { code: "RunPlanMismatch", retryable: false });
  return { ...given, plan } as I;
}

/**
 * An activity whose full result stays with in-process callers: the run is handed `outcome(result)`,
 * what it decides on (the rest is in the journal; see the outcomes in core/run/model.ts).
 */
function handing<I, R, O>(fn: (input: I, deps: NotifyDeps) => Promise<R>, outcome: (result: R) => O): (input: I, deps: NotifyDeps) => Promise<O> {
  return async (input, deps) => outcome(await fn(input, deps));
}

/** Every activity, bound to its dependencies and wrapped so that failures come back as data. */
export function createActivities(deps: NotifyDeps): ActivityHandlers {
  // Every line an activity logs carries its run, plan and activity name.
  // Every line an activity logs carries its run, plan, step and activity name, and every entry it
  // journals names the activity and the run's step (the orchestration's own entries name no activity).
  const keyed = (name: ActivityName, input: unknown): NotifyDeps => {
    const given = asObject(input);
    const runId = asString(given?.runId);
    const plan = asString(asObject(given?.plan)?.name);
    const step = runStepOf(name, input);
    const keys = { activity: name, ...(runId ? { runId } : {}), ...(plan ? { plan } : {}), ...(step ? { step } : {}) };
    const journal = name === Activities.journal ? deps.journal : stampedJournal(deps.journal, name, step);
    return { ...deps, log: withKeys(deps.log, keys), journal };
  };
  // A failure once the budget has run out is the budget's (whatever shape the aborted request gave it).
  const budgeted = <T>(work: () => Promise<T>): Promise<T> =>
    withBudget(deps.activityBudgetMs, async () => {
      try {
        return await work();
      } catch (error) {
        if (currentAbortSignal()?.aborted) {
          throw new SwitchyardError(`the activity's time budget of ${Math.round(deps.activityBudgetMs! / 100) / 10} s ran out before Azure answered`, { code: "ActivityBudgetExceeded", retryable: true, cause: error });
        }
        throw error;
      }
    });
  const bind = <I>(name: ActivityName, fn: (input: I, deps: NotifyDeps) => Promise<unknown>) => traced(name, wrapActivity(name, async (input: I) => budgeted(async () => fn(await withWholePlan(input, deps), keyed(name, input))), deps.log));
  return {
    [Activities.assessRegions]: bind(Activities.assessRegions, assessRegions),
    [Activities.measureReplication]: bind(Activities.measureReplication, measureReplication),
    [Activities.failoverSqlGroup]: bind(Activities.failoverSqlGroup, handing(failoverSqlGroup, dataTierOutcome)),
    [Activities.failoverStorageAccount]: bind(Activities.failoverStorageAccount, handing(failoverStorageAccount, dataTierOutcome)),
    [Activities.reprotectStorageAccount]: bind(Activities.reprotectStorageAccount, reprotectStorageAccount),
    [Activities.switchFrontDoorStandard]: bind(Activities.switchFrontDoorStandard, handing(switchFrontDoorStandard, switchOutcome)),
    [Activities.switchFrontDoorClassic]: bind(Activities.switchFrontDoorClassic, handing(switchFrontDoorClassic, switchOutcome)),
    [Activities.switchAppService]: bind(Activities.switchAppService, handing(switchAppService, switchOutcome)),
    [Activities.verifyPrimary]: bind(Activities.verifyPrimary, verifyPrimary),
    [Activities.checkReprotection]: bind(Activities.checkReprotection, checkReprotection),
    [Activities.pollSqlFailover]: bind(Activities.pollSqlFailover, handing(pollSqlFailover, pollOutcome)),
    [Activities.pollStorageFailover]: bind(Activities.pollStorageFailover, handing(pollStorageFailover, pollOutcome)),
    [Activities.pollFrontDoorStandard]: bind(Activities.pollFrontDoorStandard, handing(pollFrontDoorStandard, pollOutcome)),
    [Activities.pollFrontDoorClassic]: bind(Activities.pollFrontDoorClassic, handing(pollFrontDoorClassic, pollOutcome)),
    // The run is handed whether it was delivered (each channel's outcome is journaled, not kept in its history).
    [Activities.notify]: bind(Activities.notify, handing(notifyActivity, (r) => ({ delivered: r.delivered, ...(r.error ? { error: r.error } : {}) }))),
    [Activities.journal]: bind(Activities.journal, journalActivity),
  } as ActivityHandlers;
}

/**
 * A span per activity invocation, in its run's trace (the parent is the run's root span, derived from
 * the run id): the activity, the run's step, run id, plan, attempt (the run passes it on a retry) and
 * outcome, with the error code of a failure. The Azure calls it makes are its children.
 */
function traced<I>(name: ActivityName, run: (input: I) => Promise<ActivityResult<unknown>>): (input: I) => Promise<ActivityResult<unknown>> {
  return (input: I) => {
    const given = asObject(input);
    const runId = asString(given?.runId);
    const attempt = typeof given?.attempt === "number" ? given.attempt : 1;
    return inSpan(
      {
        name: `${Spans.activity} ${name}`,
        ...(runId ? { runId } : {}),
        attributes: { [Attr.activity]: name, [Attr.step]: runStepOf(name, input), [Attr.runId]: runId, [Attr.plan]: asString(asObject(given?.plan)?.name), [Attr.attempt]: attempt },
      },
      () => run(input),
      (result) => (result.ok ? undefined : { code: result.error.code, attributes: { [Attr.errorCode]: result.error.code, [Attr.retryable]: result.error.retryable } }),
    );
  };
}
