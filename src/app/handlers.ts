/**
 * The triggers' side of the app, assembled once: the HTTP handlers (alert webhook, operator API) and
 * the health check, over the services and the run port they are given. The Functions app builds it
 * per invocation (its run port holds that invocation's Durable client, src/functions/http.ts); the
 * local app once (src/local/app.ts). Only the wiring of the services differs between them.
 */
import type { Logger } from "../core/logger.ts";
import type { Probe } from "../core/probe.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { Plan } from "../core/plan/index.ts";
import type { RunPort } from "../core/run/port.ts";
import { checkPlanHealth } from "../detection/collect.ts";
import { detectionControl } from "../detection/control.ts";
import type { EvaluationSummary } from "../detection/evaluate.ts";
import { preemptWith } from "../detection/preempt.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";
import { alertWebhook, type AlertWebhookDeps } from "../http/alerts.ts";
import { operatorHandlers } from "../http/operator.ts";
import type { HttpHandlers } from "../http/routes.ts";
import type { Journal } from "../core/journal.ts";
import type { PlanCatalog } from "../plan/catalog.ts";

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
  /** How often a pre-emption asks whether the drill has ended (default 1 s). */
  readonly preemptPollIntervalMs?: number;
}

export interface AppHandlers {
  readonly http: HttpHandlers;
  /** One health check of a plan: probes, Front Door health, quorum, policy (the healthProbe timer). */
  checkHealth(plan: Plan): Promise<EvaluationSummary>;
}

export function buildHandlers(deps: HandlerDeps): AppHandlers {
  const { store, journal, runs, clock, log, plans } = deps;
  const preemptDrill = preemptWith(runs, { clock, ...(deps.preemptPollIntervalMs !== undefined ? { pollIntervalMs: deps.preemptPollIntervalMs } : {}) });
  const detection = { store, journal, runs, clock, log, preemptDrill };
  const operator = operatorHandlers({ plans, runs, journal, clock, appServiceAuthOn: deps.appServiceAuthOn, detection: detectionControl(store, clock) });
  return {
    http: { ...operator, alerts: alertWebhook({ ...detection, plans, ...(deps.validateToken ? { validateToken: deps.validateToken } : {}) }) },
    checkHealth: (plan) => checkPlanHealth(plan, { ...detection, probe: deps.probe, clients: deps.clients }),
  };
}
