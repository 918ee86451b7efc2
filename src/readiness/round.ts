/**
 * One round of the `readiness` timer: every plan evaluated (src/readiness/evaluate.ts), each result
 * recorded in the plan's readiness record, and a drift — ready becoming not ready — told to the plan's
 * channels once, as is its end.
 */
import { settleEach } from "../core/concurrency.ts";
import type { Logger } from "../core/logger.ts";
import type { Plan } from "../core/plan/index.ts";
import { blocking, type ReadinessChange, type ReadinessResult } from "../core/readiness.ts";
import type { NotifyInput } from "../core/run/model.ts";
import { redactText } from "../core/secrets.ts";
import type { Notifier } from "../notify/notifier.ts";
import { evaluateReadiness, type ReadinessDeps } from "./evaluate.ts";
import type { ReadinessStore } from "./store.ts";
import { latestPassedDrill } from "../core/drill/history.ts";
import type { DrillHistoryStore } from "../drills/store.ts";

/** When a plan's last planned drill passed, from its drill history (undefined: none on record). */
export function lastPassedDrill(history: Pick<DrillHistoryStore, "read">): (plan: string) => Promise<string | undefined> {
  return async (plan) => latestPassedDrill(await history.read(plan))?.endedAt;
}

/** The run id readiness notifications carry: they belong to no run. */
export const READINESS_NOTIFICATION_ID = "readiness";
/** Plans evaluated at once. */
const PLAN_CONCURRENCY = 2;
/** Blocking checks named in a notification; the rest are counted. */
const NAMED = 8;

export interface ReadinessRoundDeps extends ReadinessDeps {
  readonly store: ReadinessStore;
  readonly notifier: Notifier;
  readonly log: Logger;
  /** The region serving the plan now (where the last run left it); the plan's primary when absent. */
  readonly currentPrimary?: (plan: Plan) => Promise<string>;
}

export interface PlanReadiness {
  readonly plan: string;
  readonly result?: ReadinessResult;
  readonly change?: ReadinessChange;
  readonly error?: string;
}

/** Evaluates, records and notifies for every plan; one plan's failure stops no other. */
export async function readinessRound(plans: readonly Plan[], deps: ReadinessRoundDeps): Promise<PlanReadiness[]> {
  const results = await settleEach(plans, PLAN_CONCURRENCY, (plan) => planRound(plan, deps));
  return results.map((r, i) => (r.status === "fulfilled" ? r.value : { plan: plans[i]!.name, error: redactText(r.reason instanceof Error ? r.reason.message : String(r.reason)) }));
}

async function planRound(plan: Plan, deps: ReadinessRoundDeps): Promise<PlanReadiness> {
  const primary = deps.currentPrimary ? await deps.currentPrimary(plan) : plan.regions.primary.name;
  const result = await evaluateReadiness(plan, deps, { primary });
  const pending = await deps.store.record(result);
  const change = pending?.change;
  const open = blocking(result);
  deps.log.info(`readiness of plan ${plan.name}: ${result.ready ? "ready" : "not ready"}`, {
    checks: result.checks.length,
    failed: open.filter((c) => c.result === "fail").length,
    unknown: open.filter((c) => c.result === "unknown").length,
    ...(change ? { change } : {}),
  });
  if (pending) {
    // Told under the id of the evaluation that found the change, so a notice sent again is the same event;
    // pending until the notifier has it (its outbox then delivers, retrying), and told again next round if not.
    try {
      await deps.notifier.notify(readinessNotice(plan, result, pending.change, pending.at));
      await deps.store.settle(plan.name, pending.at);
    } catch (error) {
      deps.log.error(`readiness ${pending.change} of plan ${plan.name} not notified: told again at the next evaluation`, { error: redactText(error instanceof Error ? error.message : String(error)) });
    }
  }
  return { plan: plan.name, result, ...(change ? { change } : {}) };
}

/** The notice of a drift or of its end: what is not ready, by check. */
export function readinessNotice(plan: Plan, result: ReadinessResult, change: ReadinessChange, foundAt: string = result.evaluatedAt): NotifyInput {
  const open = blocking(result);
  const kind = change === "drift" ? ("readiness-drift" as const) : ("readiness-restored" as const);
  const named = open.slice(0, NAMED).map((c) => `${c.area}: ${c.subject}: ${c.detail}`);
  const more = open.length > NAMED ? [`and ${open.length - NAMED} more`] : [];
  const message =
    change === "drift"
      ? `Switchyard ${plan.name}: not ready to fail over from ${result.primary} to ${result.standby} (${open.length} check(s)): ${[...named, ...more].join("; ")}. A failover now may fail where these checks did.`
      : `Switchyard ${plan.name}: ready again to fail over from ${result.primary} to ${result.standby}: all ${result.checks.filter((c) => c.advisory !== true).length} checks pass.`;
  return {
    runId: READINESS_NOTIFICATION_ID,
    plan,
    id: `${plan.name}.${kind}.${Date.parse(foundAt)}`,
    kind,
    event: kind,
    severity: change === "drift" ? "warning" : "info",
    title: change === "drift" ? `${plan.name}: not ready to fail over (${open.length} check(s))` : `${plan.name}: ready to fail over again`,
    facts: open.slice(0, NAMED).map((c) => ({ name: `${c.area}: ${c.subject}`, value: c.detail })),
    incident: { key: `switchyard/${plan.name}/readiness`, action: change === "drift" ? "trigger" : "resolve" },
    message,
    at: result.evaluatedAt,
    details: { primary: result.primary, standby: result.standby, evaluatedAt: result.evaluatedAt, blocking: open.slice(0, 50).map((c) => ({ area: c.area, subject: c.subject, result: c.result, detail: c.detail, ...(c.missingActions ? { missingActions: c.missingActions } : {}) })) },
  };
}
