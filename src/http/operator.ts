/**
 * The manual override API: start a failover or failback, approve or abort a paused run, resume a run
 * that stopped short, pause or resume auto-failover, list the plans and a plan's runs, read a plan's or
 * a run's state. Host-agnostic handlers over ports. Every
 * override is journaled with who and why, and so is a refusal of an authorised caller (a run already in
 * progress, nothing to fail back, no approval pending, a decision already taken); a caller without the
 * right to override changes nothing and is answered 401/403 without an entry.
 *
 * Caller names and reasons are untrusted text: a part that looks like a credential is recorded
 * redacted, never a reason to refuse a safety action. The journal records an action, it does not gate
 * it: a journal that fails after the action took effect is logged, and the answer is the action's.
 */
import type { Notifier } from "../notify/notifier.ts";
import type { LagStore } from "../lag/store.ts";
import { viewOfStored } from "../lag/view.ts";
import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import { z } from "zod";
import type { Plan } from "../core/plan/index.ts";
import { newRunId, planOfRunId, type RunInput } from "../core/run/model.ts";
import { checkRunOutput, MalformedValueError } from "../core/run/parse.ts";
import { isRunActive } from "../core/detection/policy.ts";
import { DecisionNotDeliveredError, DecisionTakenError, RunInProgressError, type DecisionWait, type RunDecision, type RunPort, type RunView } from "../core/run/port.ts";
import type { EntryOf, Journal, JournalEntry } from "../core/journal.ts";
import type { OperatorDetection } from "../detection/control.ts";
import { statusOfOutcome } from "../runs/runView.ts";
import type { Logger } from "../core/logger.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import { redactText } from "../core/secrets.ts";
import type { DryRunInput, DryRunReport } from "../activities/dryRun.ts";
import { callerOf, callerOfClaims, OPERATOR_ROLE, requireOperator, type Caller } from "./auth.ts";
import type { EntraTokenValidator } from "./entraToken.ts";
import { ApiError, errorResponse, json, readJson, validate } from "./errors.ts";
import type { Rotations } from "../rotation/port.ts";
import { secretOf } from "../core/rotation/model.ts";
import { DrillHistoryError, drillsView } from "../core/drill/history.ts";
import type { DrillHistoryStore } from "../drills/store.ts";
import type { ReadinessStore } from "../readiness/store.ts";


export interface OperatorDeps {
  readonly plans: PlanCatalog;
  readonly runs: RunPort;
  readonly journal: Journal;
  readonly clock: () => Date;
  /** App Service authentication is on: override routes need the Switchyard.Operator role. */
  readonly appServiceAuthOn: boolean;
  /**
   * Operators' tokens checked by the app itself (SWITCHYARD_OPERATOR_AUDIENCE): every route (reads and
   * overrides) then needs `Authorization: Bearer` with the Switchyard.Operator role, validated here, and
   * the caller is the token's; the `x-ms-client-principal` header is not what lets anyone in.
   */
  readonly validateOperatorToken?: EntraTokenValidator;
  readonly detection?: OperatorDetection;
  /** Where a journal failure after an action is told (it does not change the answer). */
  readonly log?: Logger;
  /** What a run would write, read from Azure now (`?dryRun=true` of failover and failback); absent: 501. */
  readonly dryRun?: (input: DryRunInput) => Promise<DryRunReport>;
  /** The replicationLag timer's samples: the latest per resource in GET /api/plans/{plan}; absent: null there. */
  readonly lag?: Pick<LagStore, "get">;
  /** Tells the plan's stakeholders when automatic failover is paused or resumed (a failure there changes no answer). */
  readonly notifier?: Notifier;
  /** Secret rotations (POST /api/plans/{plan}/secrets/{name}/rotate); absent: 501. */
  readonly rotations?: Pick<Rotations, "start" | "get">;
  /** Each plan's drill history: its last drills and RTO trend in GET /api/plans/{plan}; absent: null there. */
  readonly drills?: Pick<DrillHistoryStore, "read">;
  /** Each plan's readiness record: its latest evaluation in GET /api/plans/{plan}; absent: null there. */
  readonly readiness?: Pick<ReadinessStore, "get">;
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
const resumeBody = z.strictObject({ reason });
const rotateBody = z.strictObject({ reason });

/** GET /api/plans/{plan}/runs: how many runs at most (default 20). */
const DEFAULT_TOP = 20;
/** GET /api/plans reads this many plans' runs and detection states at a time. */
const LIST_CONCURRENCY = 16;
const MAX_TOP = 100;

/** What a planned failover answers about data loss: it never loses data without a person's approval. */
const APPROVAL_NOTE = "if the primary cannot be reached and data could be lost, the run asks for approval: POST /api/runs/{id}/approve or abort";

/** The `top` query parameter: an integer from 1 to MAX_TOP, DEFAULT_TOP when absent. */
function topOf(request: HttpRequest): number {
  const given = request.query.get("top");
  if (given === null) return DEFAULT_TOP;
  const top = /^\d{1,3}$/.test(given) ? Number(given) : NaN;
  if (!(top >= 1 && top <= MAX_TOP)) {
    const message = `top must be an integer from 1 to ${MAX_TOP}`;
    throw new ApiError(400, "InvalidQuery", `top: ${message}`, [{ path: "top", message }]);
  }
  return top;
}

/** The `dryRun` query parameter of failover and failback: `true` or `false`, false when absent. */
function dryRunOf(request: HttpRequest): boolean {
  const given = request.query.get("dryRun");
  if (given === null || given === "false") return false;
  if (given === "true") return true;
  const message = "dryRun must be true or false";
  throw new ApiError(400, "InvalidQuery", `dryRun: ${message}`, [{ path: "dryRun", message }]);
}

/** A run's kind from its id, when nothing else tells it (every run id ends in its kind). */
function kindOfRunId(runId: string): RunInput["kind"] | undefined {
  return /failback-[0-9a-f]{4}$/.test(runId) ? "failback" : /failover-[0-9a-f]{4}$/.test(runId) ? "failover" : undefined;
}

/** One run of a plan as GET /api/plans/{plan}/runs lists it: its journal's start and end, or the live view. */
function runSummary(runId: string, entries: readonly JournalEntry[], live: RunView | undefined) {
  const started = entries.find((e): e is EntryOf<"run-started"> => e.kind === "run-started");
  const finished = entries.findLast((e): e is EntryOf<"run-finished"> => e.kind === "run-finished");
  const output = finished?.data.output;
  const kind = live?.kind ?? started?.data.kind ?? kindOfRunId(runId);
  const from = live?.from ?? started?.data.from;
  const to = live?.to ?? started?.data.to;
  const trigger = live?.trigger ?? started?.data.trigger;
  const number = (value: unknown) => (typeof value === "number" ? value : undefined);
  const rto = number(output?.rtoSeconds);
  const rpo = number(output?.rpoExposureSeconds);
  return {
    runId,
    ...(kind ? { kind } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    status: live?.status ?? (finished ? statusOfOutcome(finished.data.outcome) : "unknown"),
    ...(finished ? { outcome: finished.data.outcome } : live?.output ? { outcome: live.output.outcome } : {}),
    ...(started ? { startedAt: started.at } : {}),
    ...(finished ? { endedAt: finished.at } : {}),
    ...(rto !== undefined ? { rtoSeconds: rto } : {}),
    ...(rpo !== undefined ? { rpoExposureSeconds: rpo } : {}),
    ...(trigger ? { trigger } : {}),
  };
}

/** The approval a run waits for, from its journal: the deadline and why (its wait), and the data at stake (its gate). */
function approvalOf(runId: string, entries: readonly JournalEntry[]) {
  const wait = entries.findLast((e) => e.kind === "wait" && e.step === "approval")?.data;
  const gate = entries.findLast((e) => e.kind === "decision" && e.step === "gate")?.data;
  const lag = gate?.maxLagSeconds;
  const budget = gate?.rpoSeconds;
  const basis = gate?.lagBasis as { lastKnown?: unknown } | undefined;
  const how = typeof basis?.lastKnown === "number" && basis.lastKnown > 0 ? "the largest lag, from the last samples before the outage where the primary could not be asked" : "measured lag";
  const atStake =
    typeof lag === "number"
      ? `up to ${lag} s of writes not yet replicated (${how}${typeof budget === "number" ? `; RPO budget ${budget} s` : ""})`
      : gate
        ? `unknown: the replication lag could not be measured${typeof budget === "number" ? ` (RPO budget ${budget} s)` : ""}`
        : undefined;
  return {
    ...(typeof wait?.until === "string" ? { deadline: wait.until } : {}),
    ...(typeof wait?.why === "string" ? { why: wait.why } : {}),
    ...(atStake ? { atStake } : {}),
    approve: `POST /api/runs/${runId}/approve`,
    abort: `POST /api/runs/${runId}/abort`,
  };
}

/** A run that ended without completing its switch: a resume starts it again (failed, terminated, stopped short). */
const isResumable = (view: RunView) => view.status === "failed" || view.status === "stopped" || view.status === "terminated";

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
        // With operators' tokens checked by the app, every route of the API needs one, reads included:
        // App Service authentication lets in any token of the tenant for the app, role or none.
        if (deps.validateOperatorToken) {
          const verdict = await deps.validateOperatorToken(request.headers.get("authorization"));
          if (!verdict.ok) {
            if (verdict.retryable) return errorResponse(new ApiError(503, "SigningKeysUnavailable", "the operator's token cannot be checked now (Entra signing keys unavailable): try again"));
            return errorResponse(new ApiError(401, "Unauthenticated", `an operator's Entra token with the ${OPERATOR_ROLE} role is required: ${verdict.reason}`));
          }
          return await body(request, callerOfClaims(verdict.claims));
        }
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

  /**
   * Refuses (409 HomeRegionDown, journaled) a failback into a home region detection holds down: going
   * home needs home healthy, and a run into a region held down would be failed over again.
   */
  const refuseIfHomeDown = async (plan: Plan, caller: Caller, action: string, why: string, data: Record<string, unknown> = {}): Promise<void> => {
    const home = plan.regions.primary.name;
    const hold = await deps.detection?.regionDown(plan, home);
    if (!hold) return;
    // Signal names and details come from outside (alert rules): shown redacted.
    const signals = hold.signals.map((s) => ({ ...s, name: redactText(s.name), ...(s.detail !== undefined ? { detail: redactText(s.detail) } : {}) }));
    await journalOverride(plan.name, caller, action, why, `refused: detection holds ${home} down since ${hold.verdict.since}`, { ...data, region: home, verdict: hold.verdict, signals: signals.length });
    throw new ApiError(409, "HomeRegionDown", `detection holds ${home} down since ${hold.verdict.since} (${signals.length} signal(s) down): a failback waits until it is healthy again`, {
      region: home,
      verdict: hold.verdict,
      signals,
    });
  };

  /**
   * A dry run: the same checks as a start (made by `start`), then what the run would write, read from
   * Azure now; nothing is written to Azure and no run starts. Journaled as the override's dry run.
   */
  const dryRun = async (plan: Plan, caller: Caller, kind: RunInput["kind"], mode: "planned" | "forced", why: string, from: string, to: string): Promise<HttpResponseInit> => {
    if (!deps.dryRun) throw new ApiError(501, "NotAvailable", "dry runs are not configured");
    const report = await deps.dryRun({ plan, kind, mode, from, to });
    const summary = `dry run: ${report.writes.length} write(s) the run would make, ${report.unknown.length} resource(s) unknown${report.refused ? `; ${report.refused}` : ""}; nothing written`;
    await journalOverride(plan.name, caller, `${kind}-dry-run`, why, summary, {
      dryRun: true,
      mode,
      from,
      to,
      writes: report.writes.map((w) => `${w.operation} ${w.resourceId}`),
      unknown: report.unknown.map((u) => u.resourceId),
    });
    return json(200, { dryRun: true, plan: plan.name, kind, from, to, mode, ...report });
  };

  /** A run an operator starts (or resumes): a new run id, the caller and reason as its trigger. */
  const manualRun = (plan: Plan, caller: Caller, why: string, run: Pick<RunInput, "kind" | "mode" | "from" | "to">, detectedAt?: string): RunInput => {
    const at = now();
    return { runId: newRunId(plan.name, run.kind, at), ...run, plan, trigger: { source: "manual", by: redactText(caller.name), reason: why, detectedAt: detectedAt ?? at.toISOString() } };
  };

  const start = async (plan: Plan, caller: Caller, kind: RunInput["kind"], mode: RunInput["mode"], why: string, dry = false): Promise<HttpResponseInit> => {
    const action = dry ? `${kind}-dry-run` : kind;
    // A last run that cannot be read back does not stop a start in an outage: the primary is then
    // taken from detection or the plan, and the run port still refuses to start over a run in progress.
    const last = await deps.runs.get(plan.name).catch((error: unknown) => {
      if (error instanceof MalformedValueError) return undefined;
      throw error;
    });
    if (dry && isRunActive(last)) {
      // The run port refuses a start over a run in progress: a dry run answers as that start would.
      await journalOverride(plan.name, caller, action, why, `refused: run ${last.runId} is in progress`, { runningRunId: last.runId });
      throw new RunInProgressError(plan.name, last.runId);
    }
    const primary = await currentPrimary(plan, last);
    const home = plan.regions.primary.name;
    if (kind === "failback" && primary === home) {
      await journalOverride(plan.name, caller, action, why, "refused: nothing to fail back");
      throw new ApiError(409, "NothingToFailBack", `${home} is already the primary of ${plan.name}`);
    }
    if (kind === "failover" && primary !== home) {
      // Going back to the plan's primary is a failback: it must pass the re-protection checks first.
      await journalOverride(plan.name, caller, action, why, "refused: use failback to return to the plan's primary");
      throw new ApiError(409, "UseFailback", `${primary} is serving ${plan.name}; returning to ${home} is a failback (POST /api/plans/${plan.name}/failback), which re-protects first`);
    }
    if (kind === "failback") await refuseIfHomeDown(plan, caller, action, why);
    const [from, to] = kind === "failover" ? [home, plan.regions.secondary.name] : [primary, home];
    if (dry) return dryRun(plan, caller, kind, mode === "forced" ? "forced" : "planned", why, from, to);
    const input = manualRun(plan, caller, why, { kind, mode, from, to });
    try {
      const view = await deps.runs.start(input);
      // The run's own journal records who started it and why, too.
      await journalOverride(plan.name, caller, kind, why, `started run ${input.runId}`, { runId: input.runId, mode, from, to });
      const approval = kind === "failover" && mode === "planned" ? { approval: APPROVAL_NOTE.replace("{id}", view.runId) } : {};
      return json(202, { runId: view.runId, status: view.status, kind, mode, from, to, statusUrl: `/api/runs/${view.runId}`, ...approval }, { Location: `/api/runs/${view.runId}` });
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
          const standing = decisionView(error.decision);
          // Either this request's own decision, or an earlier one it tried to send again: the journal says which.
          const own = standing.decision === action && standing.by === caller.name;
          const outcome = own
            ? "taken, not delivered: the next approve or abort of the run sends it again"
            : `refused: ${standing.decision} by ${standing.by} at ${standing.at} stands; sending it again failed (the next approve or abort tries again)`;
          await journalOverride(plan, caller, action, why, outcome, { ...target, ...(own ? {} : { standing }) });
          throw new ApiError(503, "DecisionNotDelivered", error.message, { runId: current.runId, standing });
        }
        throw error;
      }
      // Taken: this decision is the one for this wait, and the run has it. The run may still have ended
      // (its approval timed out) just before; its own journal and GET /api/runs/{id} show the outcome.
      await journalOverride(plan, caller, action, why, "taken", target);
      return json(202, { runId: current.runId, decision: action, status: "taken", statusUrl: `/api/runs/${current.runId}` });
    });

  /** A run's journal for a hint or a default: one that cannot be read is logged and reads as empty. */
  const readRunJournal = (runId: string): Promise<JournalEntry[]> =>
    deps.journal.read(runId).catch((error: unknown) => {
      deps.log?.error("a run's journal could not be read; answering without it", { runId, error: error instanceof Error ? error.message : String(error) });
      return [];
    });

  /**
   * Starts a new run of the same kind, from and to as a run that ended without completing its switch
   * (its activities read Azure's state first, so what the run did is not done twice). Only the plan's
   * latest run is resumed: a later run has already acted on what it left.
   */
  const resumeRun = guarded(true, async (request, caller) => {
    const { reason: why } = validate(resumeBody, await readJson(request));
    const runId = request.params.id!;
    const { plan: planName, current } = await runOf(runId);
    const plan = await planOf(planName);
    const entries = await readRunJournal(runId);
    if (!current && entries.length === 0) throw new ApiError(404, "RunNotFound", `no run '${runId}'`);
    const refuse = async (because: string): Promise<never> => {
      await journalOverride(plan.name, caller, "resume", why, `refused: ${because}`, { runId });
      throw new ApiError(409, "NotResumable", `run ${runId} cannot be resumed: ${because}`, { runId, reason: because });
    };
    if (!current) {
      const latest = (await deps.runs.get(plan.name))?.runId;
      return refuse(`it is not the latest run of ${plan.name}${latest ? ` (${latest} is)` : ""}`);
    }
    if (isRunActive(current)) return refuse("it is still running");
    if (!isResumable(current)) return refuse("it completed its switch");
    // The first run's mode (a journal that cannot tell: planned, which asks before any data loss).
    const started = entries.find((e): e is EntryOf<"run-started"> => e.kind === "run-started");
    const mode = started?.data.mode ?? "planned";
    const { kind, from, to } = current;
    if (kind === "failback") await refuseIfHomeDown(plan, caller, "resume", why, { runId });
    // The outage was detected when the first run's trigger says: the RTO counts from there.
    const input = manualRun(plan, caller, why, { kind, mode, from, to }, current.trigger?.detectedAt);
    try {
      const view = await deps.runs.start(input);
      await journalOverride(plan.name, caller, "resume", why, `started run ${input.runId} (resumes ${runId})`, { runId: input.runId, resumes: runId, kind, mode, from, to });
      return json(202, { runId: view.runId, resumes: runId, kind, mode, from, to, statusUrl: `/api/runs/${view.runId}` }, { Location: `/api/runs/${view.runId}` });
    } catch (error) {
      if (error instanceof RunInProgressError) await journalOverride(plan.name, caller, "resume", why, `refused: run ${error.runningRunId} is in progress`, { runId, runningRunId: error.runningRunId });
      throw error;
    }
  });

  /** One plan as GET /api/plans lists it. */
  const planSummary = async (plan: Plan) => {
    const [run, health] = await Promise.all([
      deps.runs.get(plan.name).catch((error: unknown) => {
        if (error instanceof MalformedValueError) return undefined;
        throw error;
      }),
      deps.detection?.status(plan),
    ]);
    const regions = Object.fromEntries(
      [plan.regions.primary.name, plan.regions.secondary.name].map((name) => {
        const region = health?.regions[name];
        return [name, { state: region?.state ?? "healthy", ...(region?.since ? { since: region.since } : {}) }];
      }),
    );
    const autoFailover = !plan.autoFailover.enabled ? "disabled" : health?.policy.paused ? "paused" : "enabled";
    const waitingFor = run?.progress?.waitingFor;
    return {
      plan: plan.name,
      primary: plan.regions.primary.name,
      secondary: plan.regions.secondary.name,
      currentPrimary: await currentPrimary(plan, run),
      regions,
      autoFailover,
      currentRun: isRunActive(run) ? { runId: run.runId, kind: run.kind, status: run.status, ...(waitingFor ? { waitingFor } : {}) } : null,
    };
  };

  // The latest lag samples; a store that cannot be read leaves them out (logged), never the plan's view.
  const lagOf = async (plan: Plan) => {
    if (!deps.lag) return null;
    try {
      return viewOfStored(plan, await deps.lag.get(plan.name));
    } catch (error) {
      deps.log?.warn("the lag samples could not be read for GET /api/plans/{plan}", { plan: plan.name, error: error instanceof Error ? error.message : String(error) });
      return null;
    }
  };
  // A history that does not read is shown as such, with the path of what is wrong (it is not hidden).
  const drillsOf = async (plan: Plan) => {
    if (!deps.drills) return null;
    try {
      return drillsView(await deps.drills.read(plan.name));
    } catch (error) {
      if (error instanceof DrillHistoryError) return { error: { code: error.code, message: error.message, path: error.path } };
      deps.log?.warn("the drill history could not be read for GET /api/plans/{plan}", { plan: plan.name, error: error instanceof Error ? error.message : String(error) });
      return null;
    }
  };
  // The latest readiness evaluation and the state people were told; a record that does not read is said so.
  const readinessOf = async (plan: Plan) => {
    if (!deps.readiness) return null;
    try {
      const record = await deps.readiness.get(plan.name);
      if (!record.latest) return { state: "not-evaluated" };
      return { state: record.state ?? (record.latest.ready ? "ready" : "not-ready"), since: record.since ?? record.latest.evaluatedAt, evaluatedAt: record.latest.evaluatedAt, ready: record.latest.ready, checks: record.latest.checks, blocking: record.latest.blocking };
    } catch (error) {
      deps.log?.warn("the readiness record could not be read for GET /api/plans/{plan}", { plan: plan.name, error: error instanceof Error ? error.message : String(error) });
      return { error: { message: error instanceof Error ? error.message.split("\n")[0] : String(error) } };
    }
  };
  return {
    resume: resumeRun,
    listPlans: guarded(false, async () => {
      const plans = await deps.plans.list();
      const out: Awaited<ReturnType<typeof planSummary>>[] = [];
      // A few plans at a time: each reads its run and its detection state.
      for (let i = 0; i < plans.length; i += LIST_CONCURRENCY) out.push(...(await Promise.all(plans.slice(i, i + LIST_CONCURRENCY).map(planSummary))));
      return json(200, { plans: out });
    }),
    listRuns: guarded(false, async (request) => {
      const plan = await planOf(request.params.plan);
      const top = topOf(request);
      const live = await deps.runs.get(plan.name).catch((error: unknown) => {
        if (error instanceof MalformedValueError) return undefined;
        throw error;
      });
      const ids = (await deps.journal.listRuns()).filter((id) => planOfRunId(id) === plan.name);
      // The live run first when its journal has no entry yet (it is the newest).
      if (live && !ids.includes(live.runId)) ids.unshift(live.runId);
      const runs = await Promise.all(
        ids.slice(0, top).map(async (id) => runSummary(id, await readRunJournal(id), live?.runId === id ? live : undefined)),
      );
      return json(200, { plan: plan.name, runs });
    }),
    failover: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const dry = dryRunOf(request);
      const body = validate(failoverBody, await readJson(request));
      return start(plan, caller, "failover", body.mode, body.reason, dry);
    }),
    failback: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const dry = dryRunOf(request);
      const body = validate(failbackBody, await readJson(request));
      return start(plan, caller, "failback", "planned", body.reason, dry);
    }),
    approve: decide(true),
    abort: decide(false),
    autoFailover: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const body = validate(autoFailoverBody, await readJson(request));
      if (!deps.detection) throw new ApiError(501, "NotAvailable", "auto-failover control is not configured");
      const state = await deps.detection.setAutoFailover(plan, { enabled: body.enabled, by: redactText(caller.name), reason: body.reason, at: now().toISOString() });
      await journalOverride(plan.name, caller, body.enabled ? "resume-auto-failover" : "pause-auto-failover", body.reason, body.enabled ? "auto-failover resumed" : "auto-failover paused");
      if (deps.notifier) {
        const by = redactText(caller.name);
        const kind = body.enabled ? "auto-failover-resumed" : "auto-failover-paused";
        const at = now().toISOString();
        await deps.notifier
          .notify({
            runId: "",
            plan,
            id: `${plan.name}.${kind}.${Date.parse(at)}`,
            at,
            event: kind,
            kind,
            severity: body.enabled ? "info" : "warning",
            title: `${plan.name}: automatic failover ${body.enabled ? "resumed" : "paused"} by ${by}`,
            message: `Switchyard ${plan.name}: automatic failover ${body.enabled ? "resumed" : "paused"} by ${by} (${body.reason}).${body.enabled ? "" : " Outages are still detected and notified; failover needs an operator until it is resumed."}`,
            facts: [{ name: "By", value: by }, { name: "Reason", value: body.reason }],
            actions: [{ label: body.enabled ? "Pause again" : "Resume", method: "POST", path: `/api/plans/${encodeURIComponent(plan.name)}/auto-failover`, body: { enabled: !body.enabled, reason: "why" } }],
          })
          .catch((error: unknown) => deps.log?.error(`the ${kind} notification could not be delivered`, { plan: plan.name, error: redactText(error instanceof Error ? error.message : String(error)) }));
      }
      return json(200, { plan: plan.name, autoFailover: body.enabled ? "enabled" : "paused", state });
    }),
    rotateSecret: guarded(true, async (request, caller) => {
      const plan = await planOf(request.params.plan);
      const secret = secretOf(plan, request.params.name ?? "");
      if (!secret) throw new ApiError(404, "SecretNotFound", `plan ${plan.name} names no secret '${redactText((request.params.name ?? "").slice(0, 127))}'`);
      const body = validate(rotateBody, await readJson(request));
      if (!deps.rotations) throw new ApiError(501, "NotAvailable", "secret rotation is not configured");
      const by = redactText(caller.name);
      const run = await deps.runs.get(plan.name);
      const held = run && (run.status === "pending" || run.status === "running") ? run.runId : undefined;
      const start = await deps.rotations.start(plan, secret.name, { kind: "operator", by, reason: body.reason });
      const r = start.rotation;
      const outcome =
        start.outcome === "running"
          ? `refused: rotation ${r.rotationId} of ${secret.name} is already under way`
          : `rotation ${r.rotationId} of ${secret.name} started${held ? ` (deferred until run ${held} ends)` : ""}`;
      await journalOverride(plan.name, caller, "rotate-secret", body.reason, outcome, { secret: secret.name, rotationId: r.rotationId });
      const status = `/api/plans/${encodeURIComponent(plan.name)}/secrets/${encodeURIComponent(secret.name)}`;
      if (start.outcome === "running") {
        throw new ApiError(409, "RotationInProgress", `rotation ${r.rotationId} of ${secret.name} is already under way (one rotation per secret at a time)`, { rotationId: r.rotationId, statusUrl: status });
      }
      return json(202, { plan: plan.name, secret: secret.name, rotationId: r.rotationId, status: r.status, ...(held ? { deferredBy: held, note: "a rotation never changes Azure during a failover or failback: it begins when the run ends" } : {}), statusUrl: status });
    }),
    getSecret: guarded(false, async (request) => {
      const plan = await planOf(request.params.plan);
      const secret = secretOf(plan, request.params.name ?? "");
      if (!secret) throw new ApiError(404, "SecretNotFound", `plan ${plan.name} names no secret '${redactText((request.params.name ?? "").slice(0, 127))}'`);
      const rotation = deps.rotations ? await deps.rotations.get(plan.name, secret.name) : undefined;
      return json(200, {
        plan: plan.name,
        secret: secret.name,
        source: secret.source.kind,
        vaults: secret.vaults.map((v) => v.name),
        rotateDaysBeforeExpiry: secret.rotateDaysBeforeExpiry,
        validityDays: secret.validityDays,
        lastRotation: rotation ?? null,
        rotate: `POST /api/plans/${encodeURIComponent(plan.name)}/secrets/${encodeURIComponent(secret.name)}/rotate`,
      });
    }),
    getPlan: guarded(false, async (request) => {
      const plan = await planOf(request.params.plan);
      const run = await deps.runs.get(plan.name);
      return json(200, {
        plan: plan.name,
        regions: { primary: plan.regions.primary.name, secondary: plan.regions.secondary.name, currentPrimary: await currentPrimary(plan, run) },
        autoFailoverConfigured: plan.autoFailover.enabled,
        detection: deps.detection ? await deps.detection.status(plan) : null,
        replicationLag: await lagOf(plan),
        drills: await drillsOf(plan),
        readiness: await readinessOf(plan),
        currentRun: run ?? null,
      });
    }),
    getRun: guarded(false, async (request) => {
      const { current } = await runOf(request.params.id);
      if (current) {
        const runId = current.runId;
        if (current.status === "running" && current.progress?.waitingFor === "approval") return json(200, { ...current, approval: approvalOf(runId, await readRunJournal(runId)) });
        return json(200, { ...current, ...(isResumable(current) ? { resume: `POST /api/runs/${runId}/resume` } : {}) });
      }
      const entries = await deps.journal.read(request.params.id!);
      const finished = entries.findLast((e) => e.kind === "run-finished");
      if (!finished && entries.length === 0) throw new ApiError(404, "RunNotFound", `no run '${request.params.id}'`);
      const kept = finished?.data?.output;
      if (kept === undefined) return json(200, { runId: request.params.id, status: finished ? statusOfOutcome(finished.data.outcome) : "unknown" });
      // The journal's record is shown as it is, even when it is not a whole run output (one written by an
      // earlier version): the operator is told which field is wrong rather than refused the record.
      const checked = checkRunOutput(kept);
      const problem = checked.ok ? undefined : new MalformedValueError(`the output in the run-finished entry of run ${request.params.id}`, checked.path, checked.problem).message;
      return json(200, { runId: request.params.id, status: statusOfOutcome(finished!.data.outcome), output: checked.ok ? checked.value : kept, ...(problem ? { outputError: problem } : {}) });
    }),
  };
}
