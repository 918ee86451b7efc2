/**
 * The triggers' side of the app, assembled once: the HTTP handlers (alert webhook, operator API) and
 * the health check, over the services and the run port they are given. The Functions app builds it
 * per invocation (its run port holds that invocation's Durable client, src/functions/http.ts); the
 * local app once (src/local/app.ts). Only the wiring of the services differs between them.
 */
import { SpanKind } from "@opentelemetry/api";
import { inSpan, Spans } from "../telemetry/telemetry.ts";
import type { Logger } from "../core/logger.ts";
import type { Probe } from "../core/probe.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { Plan } from "../core/plan/index.ts";
import type { RunPort, RunView } from "../core/run/port.ts";
import { checkPlanHealth } from "../detection/collect.ts";
import { detectionControl } from "../detection/control.ts";
import type { EvaluationSummary } from "../detection/evaluate.ts";
import { preemptWith } from "../detection/preempt.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";
import { alertWebhook, type AlertWebhookDeps } from "../http/alerts.ts";
import { planDryRun } from "../activities/dryRun.ts";
import { operatorHandlers } from "../http/operator.ts";
import type { HttpHandlers } from "../http/routes.ts";
import type { EntraTokenValidator } from "../http/entraToken.ts";
import type { Journal } from "../core/journal.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import type { Notifier } from "../notify/notifier.ts";
import { settleEach } from "../core/concurrency.ts";
import type { MetricSink } from "../azure/appInsights.ts";
import { replicationLagRound, type PlanLagSummary } from "../lag/round.ts";
import type { LagStore } from "../lag/store.ts";
import type { Rotations } from "../rotation/port.ts";
import { ConsoleNotifier } from "../notify/consoleNotifier.ts";
import type { DrillHistoryStore } from "../drills/store.ts";
import { readinessRound, type PlanReadiness } from "../readiness/round.ts";
import type { ReadinessStore } from "../readiness/store.ts";

export interface HandlerDeps {
  readonly plans: PlanCatalog;
  readonly runs: RunPort;
  readonly store: PlanStateStore;
  readonly journal: Journal;
  readonly clients: ClientFactory;
  readonly probe: Probe;
  readonly log: Logger;
  readonly clock: () => Date;
  /** App Service authentication is on: override routes need the Switchyard.Operator role. */
  readonly appServiceAuthOn: boolean;
  /** Secure webhook: validates the alert's Entra token (absent: function key only). */
  readonly validateToken?: AlertWebhookDeps["validateToken"];
  /** Operators' tokens, checked by the app (SWITCHYARD_OPERATOR_AUDIENCE). */
  readonly validateOperatorToken?: EntraTokenValidator;
  /** How often a pre-emption asks whether the drill has ended (default 1 s). */
  readonly preemptPollIntervalMs?: number;
  /**
   * Shares detection's reads of a plan's run among the handlers built over it (the Functions app
   * builds handlers per invocation: it passes one for the process). Default: one per build.
   */
  readonly runReads?: SharedRunReads;
  /** Told when detection has to retry an automatic failover (a run that wrote nothing): people must know. */
  readonly notifier?: Notifier;
  /** The lag samples and where their metrics go (the replicationLag timer, and `replicationLag` in GET /api/plans/{plan}). */
  readonly lag?: { readonly store: LagStore; readonly metrics: MetricSink };
  /** Secret rotations (the operator API's rotate and secret routes); absent: those answer 501. */
  readonly rotations?: Pick<Rotations, "start" | "get">;
  /** Each plan's drill history (`drills` in GET /api/plans/{plan}); absent: null there. */
  readonly drills?: Pick<DrillHistoryStore, "read">;
  /** Each plan's readiness record (the readiness timer), and when its last planned drill passed. */
  readonly readiness?: { readonly store: ReadinessStore; readonly lastDrill?: (plan: string) => Promise<string | undefined> };
}

/**
 * Detection reads the plan's run before each evaluation: an alert storm would read it once per alert,
 * all at once. Reads of a plan made while one is in flight get that one's answer instead (a view at
 * most one read old: the start interlock is the reservation in the plan's state and the singleton
 * instance, never this view).
 */
export class SharedRunReads {
  private readonly inFlight = new Map<string, Promise<RunView | undefined>>();

  get(runs: RunPort, planName: string): Promise<RunView | undefined> {
    let read = this.inFlight.get(planName);
    if (!read) {
      read = runs.get(planName).finally(() => this.inFlight.delete(planName));
      this.inFlight.set(planName, read);
    }
    return read;
  }
}

/**
 * Plans a health round checks at once. A plan's check takes about its slowest probe (5 s by default
 * when a region does not answer) plus a few Azure reads: 200 plans in a region outage take
 * 200 / 32 × 5 s ≈ 31 s, inside the timer's minute. Each check makes about 4-8 requests at a time.
 */
export const HEALTH_CONCURRENCY = 32;

export interface HealthRoundOptions {
  /** Plans checked at once (default HEALTH_CONCURRENCY). */
  readonly concurrency?: number;
  /** Told as each plan's check ends (the timer logs region changes and starts as they happen). */
  readonly onChecked?: (summary: EvaluationSummary) => void;
}

/** Some plans of a health round could not be checked; the others were (`summaries`). */
export class HealthRoundError extends AggregateError {
  constructor(
    readonly failed: readonly { plan: string; error: unknown }[],
    readonly summaries: readonly EvaluationSummary[],
  ) {
    super(
      failed.map((f) => f.error),
      `the health check of ${failed.length} plan(s) failed: ${failed.map((f) => `${f.plan} (${f.error instanceof Error ? f.error.message : String(f.error)})`).join("; ")}`,
    );
    this.name = "HealthRoundError";
  }
}

export interface AppHandlers {
  readonly http: HttpHandlers;
  /** One health check of a plan: probes, Front Door health, quorum, policy (the healthProbe timer). */
  checkHealth(plan: Plan): Promise<EvaluationSummary>;
  /**
   * One health round of every plan the catalog lists (the healthProbe timer): `concurrency` plans at a
   * time. A plan whose check fails is logged and stops no other; the round then rejects with
   * HealthRoundError naming those plans. The summaries, in the catalog's order.
   */
  checkAllHealth(options?: HealthRoundOptions): Promise<EvaluationSummary[]>;
  /**
   * One round of the replicationLag timer over every plan the catalog lists: lag measured, stored,
   * published as metrics, breaches and recoveries notified. A plan that fails is logged (its summary
   * carries the error) and stops no other. Without `lag` deps: refused.
   */
  measureAllLag(): Promise<PlanLagSummary[]>;
  /**
   * One round of the readiness timer over every plan the catalog lists: each evaluated against the
   * region serving it now, recorded, a drift notified once. Without `readiness` deps: refused.
   */
  checkAllReadiness(): Promise<PlanReadiness[]>;
  /** The region serving a plan now: where its last completed run left it, else what detection records. */
  currentPrimary(plan: Plan): Promise<string>;
}

export function buildHandlers(deps: HandlerDeps): AppHandlers {
  const { store, journal, runs, clock, log, plans } = deps;
  const preemptDrill = preemptWith(runs, { clock, ...(deps.preemptPollIntervalMs !== undefined ? { pollIntervalMs: deps.preemptPollIntervalMs } : {}) });
  const reads = deps.runReads ?? new SharedRunReads();
  const detectionRuns: RunPort = {
    start: (input) => runs.start(input),
    get: (planName) => reads.get(runs, planName),
    approve: (planName, approval, target) => runs.approve(planName, approval, target),
    terminate: (planName, reason) => runs.terminate(planName, reason),
  };
  const detection = { store, journal, runs: detectionRuns, clock, log, preemptDrill, ...(deps.notifier ? { notifier: deps.notifier } : {}) };
  const dryRun = (input: Parameters<typeof planDryRun>[0]) => planDryRun(input, { clients: deps.clients, probe: deps.probe, log });
  const operator = operatorHandlers({ plans, runs, journal, clock, log, appServiceAuthOn: deps.appServiceAuthOn, ...(deps.validateOperatorToken ? { validateOperatorToken: deps.validateOperatorToken } : {}), detection: detectionControl(store, clock), dryRun, ...(deps.lag ? { lag: deps.lag.store } : {}), ...(deps.notifier ? { notifier: deps.notifier } : {}), ...(deps.rotations ? { rotations: deps.rotations } : {}), ...(deps.drills ? { drills: deps.drills } : {}), ...(deps.readiness ? { readiness: deps.readiness.store } : {}) });
  const checkHealth = (plan: Plan) => checkPlanHealth(plan, { ...detection, probe: deps.probe, clients: deps.clients });
  const control = detectionControl(store, clock);
  const currentPrimary = async (plan: Plan): Promise<string> => {
    const last = await runs.get(plan.name);
    if (last?.status === "completed" && last.output?.outcome === "completed") return last.to;
    return control.currentPrimary(plan);
  };
  const handlers: AppHandlers = {
    http: { ...operator, alerts: alertWebhook({ ...detection, plans, ...(deps.validateToken ? { validateToken: deps.validateToken } : {}) }) },
    checkHealth,
    async checkAllHealth(options = {}) {
      const list = await plans.list();
      const settled = await settleEach(list, options.concurrency ?? HEALTH_CONCURRENCY, async (plan) => {
        const summary = await checkHealth(plan);
        options.onChecked?.(summary);
        return summary;
      });
      const summaries: EvaluationSummary[] = [];
      const failed: { plan: string; error: unknown }[] = [];
      settled.forEach((result, i) => {
        const plan = list[i]!.name;
        if (result.status === "fulfilled") summaries.push(result.value);
        else {
          log.error("the health check of a plan failed", { plan, error: result.reason instanceof Error ? result.reason.message : String(result.reason) });
          failed.push({ plan, error: result.reason });
        }
      });
      if (failed.length > 0) throw new HealthRoundError(failed, summaries);
      return summaries;
    },
    async measureAllLag() {
      if (!deps.lag) throw new Error("no lag store is configured");
      const summaries = await replicationLagRound(await plans.list(), { clients: deps.clients, clock, log, store: deps.lag.store, metrics: deps.lag.metrics, notifier: deps.notifier ?? new ConsoleNotifier() });
      for (const s of summaries) if (s.error) log.error("the lag round of a plan failed", { plan: s.plan, error: s.error });
      return summaries;
    },
    async checkAllReadiness() {
      if (!deps.readiness) throw new Error("no readiness store is configured");
      const results = await readinessRound(await plans.list(), {
        clients: deps.clients,
        probe: deps.probe,
        clock,
        log,
        store: deps.readiness.store,
        notifier: deps.notifier ?? new ConsoleNotifier(),
        currentPrimary,
        ...(deps.readiness.lastDrill ? { lastDrill: deps.readiness.lastDrill } : {}),
      });
      for (const r of results) if (r.error) log.error("the readiness evaluation of a plan failed", { plan: r.plan, error: r.error });
      return results;
    },
    currentPrimary,
  };
  // Each timer round is one trace: its Azure calls, and a run it starts, are children of its span.
  const timer = <T>(name: string, work: () => Promise<T>) => inSpan({ name: `${Spans.timer} ${name}`, kind: SpanKind.SERVER }, work);
  return {
    ...handlers,
    checkAllHealth: (options) => timer("healthProbe", () => handlers.checkAllHealth(options)),
    measureAllLag: () => timer("replicationLag", () => handlers.measureAllLag()),
    checkAllReadiness: () => timer("readiness", () => handlers.checkAllReadiness()),
  };
}
