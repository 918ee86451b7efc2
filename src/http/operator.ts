/**
 * The manual override API: start a failover or failback, approve or abort a paused run, pause or
 * resume auto-failover, read a plan's or a run's state. Host-agnostic handlers over ports. Every
 * override is journaled with who and why, and so is a refusal of an authorised caller (a run already in
 * progress, nothing to fail back, no approval pending, a decision already taken); a caller without the
 * right to override changes nothing and is answered 401/403 without an entry.
 *
 * Caller names and reasons are untrusted text: a part that looks like a credential is recorded
 * redacted, never a reason to refuse a safety action. The journal records an action, it does not gate
 * it: a journal that fails after the action took effect is logged, and the answer is the action's.
 */
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { z } from "zod";
import type { Plan } from "../core/plan/index.ts";
import { newRunId, planOfRunId, type RunInput } from "../core/run/model.ts";
import { checkRunOutput, MalformedValueError } from "../core/run/parse.ts";
import type { DetectionControl } from "../core/detection/control.ts";
import { DecisionNotDeliveredError, DecisionTakenError, RunInProgressError, type DecisionWait, type RunDecision, type RunPort, type RunView } from "../core/run/port.ts";
import type { Journal } from "../core/journal.ts";
import type { Logger } from "../core/logger.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import { redactText } from "../core/secrets.ts";
import { callerOf, requireOperator, type Caller } from "./auth.ts";
import { ApiError, errorResponse, json, readJson, validate } from "./errors.ts";


export interface OperatorDeps {
  readonly plans: PlanCatalog;
  readonly runs: RunPort;
  readonly journal: Journal;
  readonly clock: () => Date;
  /** App Service authentication is on: override routes need the Switchyard.Operator role. */
  readonly appServiceAuthOn: boolean;
  readonly detection?: DetectionControl;
  /** Where a journal failure after an action is told (it does not change the answer). */
  readonly log?: Logger;
}

/** Why, in the caller's words: recorded and notified with any credential-looking part redacted. */
const reason = z
  .string()
  // Control characters (line breaks, terminal escapes) become spaces: a reason is one line of text wherever it is shown.
  .transform((text) => text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " "))
  .pipe(z.string().trim().min(3, "say why (at least 3 characters)").max(500))
  .transform((text) => redactText(text));
const failoverBody = z.strictObject({ mode: z.enum(["planned", "forced"]).default("planned"), reason });
const failbackBody = z.strictObject({ reason });
const decisionBody = z.strictObject({ reason });
const autoFailoverBody = z.strictObject({ enabled: z.boolean(), reason });

type Handler = (request: HttpRequest) => Promise<HttpResponseInit>;

export function operatorHandlers(deps: OperatorDeps) {
  const now = () => deps.clock();

  /**
   * Journals an override (and its outcome) in the plan's operator journal for the day. Never throws:
   * what it records has happened (or was refused) whether the journal takes it or not, so a failure
   * is logged and the caller still gets the answer that tells what happened.
   */
  const journalOverride = async (plan: string, caller: Caller, action: string, why: string, outcome: string, data: Record<string, unknown> = {}): Promise<void> => {
    const at = now();
    const by = redactText(caller.name);
    try {
      await deps.journal.append({
        runId: `operator-${plan}-${at.toISOString().slice(0, 10).replace(/-/g, "")}`,
        at: at.toISOString(),
        kind: "decision",
        step: "override",
        message: `${action} by ${by}: ${outcome} — ${why}`,
        data: { action, by, authenticated: caller.authenticated, reason: why, outcome, ...data },
      });
    } catch (error) {
      deps.log?.error("an override could not be journaled; it stands as answered", { plan, action, outcome, ...data, error: error instanceof Error ? error.message : String(error) });
    }
  };

  const planOf = async (name: string | undefined): Promise<Plan> => {
    const plan = name ? await deps.plans.get(name) : undefined;
    if (!plan) throw new ApiError(404, "PlanNotFound", `no plan named '${name ?? ""}'`);
    return plan;
  };

  /**
   * The region that is primary now: where the last run left it when it completed its switch; otherwise
   * what detection records (it follows every run it observes); else the plan's primary.
   */
  const currentPrimary = async (plan: Plan, last: RunView | undefined): Promise<string> => {
    if (last?.status === "completed" && last.output?.outcome === "completed") return last.to;
    return deps.detection ? deps.detection.currentPrimary(plan) : plan.regions.primary.name;
  };

  const guarded = (needsOperator: boolean, body: (request: HttpRequest, caller: Caller) => Promise<HttpResponseInit>): Handler => {
    return async (request) => {
      try {
        const caller = callerOf(request.headers, deps.appServiceAuthOn);
        if (needsOperator) requireOperator(caller, deps.appServiceAuthOn);
        return await body(request, caller);
      } catch (error) {
        if (error instanceof ApiError) return errorResponse(error);
        if (error instanceof RunInProgressError) {
          return errorResponse(new ApiError(409, "RunInProgress", error.message, { runningRunId: error.runningRunId, statusUrl: `/api/runs/${error.runningRunId}` }));
        }
        // A run's record (its durable state, its journal) that does not read as one: the operator is
        // told which field, instead of an answer built from it. The message names paths and types only.
        if (error instanceof MalformedValueError) return errorResponse(new ApiError(500, "MalformedRunRecord", error.message));
        throw error;
      }
    };
  };

  const start = async (plan: Plan, caller: Caller, kind: RunInput["kind"], mode: RunInput["mode"], why: string): Promise<HttpResponseInit> => {
    // A last run that cannot be read back does not stop a start in an outage: the primary is then
    // taken from detection or the plan, and the run port still refuses to start over a run in progress.
    const last = await deps.runs.get(plan.name).catch((error: unknown) => {
      if (error instanceof MalformedValueError) return undefined;
      throw error;
    });
    const primary = await currentPrimary(plan, last);
    const home = plan.regions.primary.name;
    if (kind === "failback" && primary === home) {
      await journalOverride(plan.name, caller, kind, why, "refused: nothing to fail back");
      throw new ApiError(409, "NothingToFailBack", `${home} is already the primary of ${plan.name}`);
    }
    if (kind === "failover" && primary !== home) {
      // Going back to the plan's primary is a failback: it must pass the re-protection checks first.
      await journalOverride(plan.name, caller, kind, why, "refused: use failback to return to the plan's primary");
      throw new ApiError(409, "UseFailback", `${primary} is serving ${plan.name}; returning to ${home} is a failback (POST /api/plans/${plan.name}/failback), which re-protects first`);
    }
    const [from, to] = kind === "failover" ? [home, plan.regions.secondary.name] : [primary, home];
    const at = now();
    const input: RunInput = {
      runId: newRunId(plan.name, kind, at),
      kind,
      mode,
      plan,
      from,
      to,
      trigger: { source: "manual", by: redactText(caller.name), reason: why, detectedAt: at.toISOString() },
    };
    try {
      const view = await deps.runs.start(input);
      // The run's own journal records who started it and why, too.
      await journalOverride(plan.name, caller, kind, why, `started run ${input.runId}`, { runId: input.runId, mode, from, to });
      return json(202, { runId: view.runId, status: view.status, kind, mode, from, to, statusUrl: `/api/runs/${view.runId}` }, { Location: `/api/runs/${view.runId}` });
    } catch (error) {
      if (error instanceof RunInProgressError) await journalOverride(plan.name, caller, kind, why, `refused: run ${error.runningRunId} is in progress`, { runningRunId: error.runningRunId });
      throw error;
    }
  };

  const runOf = async (runId: string | undefined): Promise<{ plan: string; current?: RunView }> => {
    const plan = runId ? planOfRunId(runId) : undefined;
    if (!runId || !plan) throw new ApiError(404, "RunNotFound", `no run '${runId ?? ""}'`);
    const current = await deps.runs.get(plan);
    return { plan, ...(current?.runId === runId ? { current } : {}) };
  };

  /** A decision as the API shows it and the journal records it. */
  const decisionView = (decision: RunDecision) => ({ decision: decision.approve ? "approve" : "abort", by: decision.by, at: decision.at, waitingFor: decision.waitingFor });

  const decide = (approve: boolean) =>
    guarded(true, async (request, caller) => {
      const { reason: why } = validate(decisionBody, await readJson(request));
      const { plan, current } = await runOf(request.params.id);
      const action = approve ? "approve" : "abort";
      const waitingFor = current?.status === "running" ? current.progress?.waitingFor : undefined;
      // A failback waiting (possibly hours) for storage re-protection can be aborted too; only a
      // data-loss failover is approved.
      const wait: DecisionWait | undefined = waitingFor === "approval" || (!approve && waitingFor === "reprotection") ? waitingFor : undefined;
      if (!current || !wait) {
        await journalOverride(plan, caller, action, why, `refused: run ${request.params.id} is not waiting for approval`, { runId: request.params.id });
        throw new ApiError(409, "NotWaitingForApproval", `run ${request.params.id} is not waiting for approval${approve ? "" : " or re-protection"}`);
      }
      const target = { runId: current.runId, waitingFor: wait };
      try {
        // The first approve or abort claimed for this wait of the run is the only one sent to it.
        await deps.runs.approve(plan, { approve, by: redactText(caller.name), reason: why }, target);
      } catch (error) {
        if (error instanceof DecisionTakenError) {
          const standing = decisionView(error.standing);
          await journalOverride(plan, caller, action, why, `refused: ${standing.decision} by ${standing.by} at ${standing.at} stands`, { ...target, standing, ...(error.resent ? { resent: true } : {}) });
          throw new ApiError(409, "DecisionTaken", `run ${current.runId} already has its decision: ${standing.decision} by ${standing.by} at ${standing.at}`, { runId: current.runId, standing, ...(error.resent ? { resent: true } : {}) });
        }
        if (error instanceof DecisionNotDeliveredError) {
          await journalOverride(plan, caller, action, why, "taken, not delivered: the next approve or abort of the run sends it again", target);
          throw new ApiError(503, "DecisionNotDelivered", error.message, { runId: current.runId, standing: decisionView(error.decision) });
        }
        throw error;
      }
      // Taken: this decision is the one for this wait, and the run has it. The run may still have ended
      // (its approval timed out) just before; its own journal and GET /api/runs/{id} show the outcome.
      await journalOverride(plan, caller, action, why, "taken", target);
      return json(202, { runId: current.runId, decision: action, status: "taken", statusUrl: `/api/runs/${current.runId}` });
    });

  return {
    failover: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const body = validate(failoverBody, await readJson(request));
      return start(plan, caller, "failover", body.mode, body.reason);
    }),
    failback: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const body = validate(failbackBody, await readJson(request));
      return start(plan, caller, "failback", "planned", body.reason);
    }),
    approve: decide(true),
    abort: decide(false),
    autoFailover: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const body = validate(autoFailoverBody, await readJson(request));
      if (!deps.detection) throw new ApiError(501, "NotAvailable", "auto-failover control is not configured");
      const state = await deps.detection.setAutoFailover(plan, { enabled: body.enabled, by: redactText(caller.name), reason: body.reason, at: now().toISOString() });
      await journalOverride(plan.name, caller, body.enabled ? "resume-auto-failover" : "pause-auto-failover", body.reason, body.enabled ? "auto-failover resumed" : "auto-failover paused");
      return json(200, { plan: plan.name, autoFailover: body.enabled ? "enabled" : "paused", state });
    }),
    getPlan: guarded(false, async (request) => {
      const plan = await planOf(request.params.plan);
      const run = await deps.runs.get(plan.name);
      return json(200, {
        plan: plan.name,
        regions: { primary: plan.regions.primary.name, secondary: plan.regions.secondary.name, currentPrimary: await currentPrimary(plan, run) },
        autoFailoverConfigured: plan.autoFailover.enabled,
        detection: deps.detection ? await deps.detection.status(plan) : null,
        currentRun: run ?? null,
      });
    }),
    getRun: guarded(false, async (request) => {
      const { current } = await runOf(request.params.id);
      if (current) return json(200, current);
      const entries = await deps.journal.read(request.params.id!);
      const finished = entries.findLast((e) => e.kind === "run-finished");
      if (!finished && entries.length === 0) throw new ApiError(404, "RunNotFound", `no run '${request.params.id}'`);
      const kept = finished?.data?.output;
      if (kept === undefined) return json(200, { runId: request.params.id, status: finished ? "completed" : "unknown" });
      // The journal's record is shown as it is, even when it is not a whole run output (one written by an
      // earlier version): the operator is told which field is wrong rather than refused the record.
      const checked = checkRunOutput(kept);
      const problem = checked.ok ? undefined : new MalformedValueError(`the output in the run-finished entry of run ${request.params.id}`, checked.path, checked.problem).message;
      return json(200, { runId: request.params.id, status: "completed", output: checked.ok ? checked.value : kept, ...(problem ? { outputError: problem } : {}) });
    }),
  };
}
