/**
 * HTTP functions (alert webhook, manual override API), the health, replication lag and readiness timers, registered with the
 * Functions host. Thin: each invocation builds the handlers (src/app/handlers.ts) over the shared
 * services and a run port on that invocation's Durable client, and calls one.
 */
// Telemetry first, once per worker process (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
import "../telemetry/worker.ts";
import azureFunctions, { type HttpRequest, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { appServices } from "../app/composition.ts";
import { lagSchedule, readinessSchedule, secureWebhookConfigured } from "../config/settings.ts";
import { buildHandlers, SharedRunReads, type AppHandlers } from "../app/handlers.ts";
import { contextLogger } from "../app/logging.ts";
import { ReservingRuns } from "../runs/reservingRuns.ts";
import { ROUTES } from "../http/routes.ts";
import { DurableRuns } from "../runs/durableRuns.ts";
import { deliverOpen, NOTIFICATION_DELIVERY_SCHEDULE } from "../notify/delivery.ts";
import { durableRotations } from "../rotation/durable.ts";

const { app } = azureFunctions;

/** Detection's reads of a plan's run, shared by the invocations this worker process runs at once. */
const runReads = new SharedRunReads();

function handlersFor(context: InvocationContext): AppHandlers {
  const services = appServices();
  const clock = () => new Date();
  const runs = new ReservingRuns(new DurableRuns(df.getClient(context), services.runPlans), { store: services.store, clock, log: contextLogger(context) });
  return buildHandlers({
    plans: services.plans,
    runs,
    store: services.store,
    journal: services.journal,
    clients: services.clients,
    probe: services.probe,
    log: contextLogger(context),
    clock,
    appServiceAuthOn: services.settings.appServiceAuthOn,
    runReads,
    notifier: services.notifier,
    lag: services.lag,
    rotations: durableRotations(df.getClient(context), services.runPlans, services.store),
    drills: services.drillHistory,
    readiness: services.readiness,
    ...(services.validateToken ? { validateToken: services.validateToken } : {}),
    ...(services.validateOperatorToken ? { validateOperatorToken: services.validateOperatorToken } : {}),
  });
}

// The route table is the one `switchyard serve` uses. Every route needs the function key, but the alert
// webhook when the secure webhook is configured: the app then checks Azure Monitor's Entra token itself
// (and refuses anything else with 401), so the action group's URL carries no key to leak or rotate.
const alertsAnonymous = secureWebhookConfigured(process.env);
for (const spec of ROUTES) {
  const anonymous = spec.name === "alerts" && alertsAnonymous;
  app.http(spec.name, {
    route: spec.route,
    methods: [...spec.methods],
    authLevel: anonymous ? "anonymous" : "function",
    extraInputs: [df.input.durableClient()],
    handler: (request: HttpRequest, context: InvocationContext) => {
      // Never an anonymous webhook without its token check (settings read differently than at registration).
      if (anonymous && !appServices().validateToken) return Promise.resolve({ status: 500, jsonBody: { error: { code: "SecureWebhookNotConfigured", message: "the alert webhook takes no key and its token check is not configured" } } });
      return handlersFor(context).http[spec.handler](request);
    },
  });
}

app.timer("healthProbe", {
  schedule: "0 */1 * * * *",
  extraInputs: [df.input.durableClient()],
  // Every plan, HEALTH_CONCURRENCY at a time (src/app/handlers.ts); a plan that fails stops no other.
  handler: async (_timer: unknown, context: InvocationContext) => {
    await handlersFor(context).checkAllHealth({
      onChecked: (summary) => {
        for (const change of summary.changes) context.info(`region ${change.region} of ${summary.plan} is now ${change.to}`);
        if (summary.started) context.warn(`automatic failover ${summary.started.runId} of ${summary.plan} started`);
      },
    });
  },
});

// Notifications whose channels asked to be tried again (429, 5xx, timeouts) and email sends in flight.
app.timer("notificationDelivery", {
  schedule: NOTIFICATION_DELIVERY_SCHEDULE,
  handler: async (_timer: unknown, context: InvocationContext) => {
    const services = appServices();
    const reports = await deliverOpen({ ...services.delivery, log: contextLogger(context) });
    const open = reports.flatMap((r) => r.channels.filter((c) => c.state === "pending" || c.state === "accepted"));
    if (reports.length > 0) context.info(`notification delivery: ${reports.length} event(s) looked at, ${open.length} channel deliver(ies) still open`);
  },
});

// Every plan's replication lag (SQL over TDS, storage from Resource Manager): samples, metrics, breaches.
const lag = lagSchedule();
if (lag.warning) console.warn(`switchyard: ${lag.warning}`);
app.timer("replicationLag", {
  schedule: lag.schedule,
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: unknown, context: InvocationContext) => {
    const summaries = await handlersFor(context).measureAllLag();
    for (const s of summaries) {
      if (s.error) context.error(`lag of ${s.plan} not measured: ${s.error}`);
      for (const change of s.changes) context.warn(`lag ${change.event} of ${change.sample.resourceId} (${change.sample.lagSeconds} s, RPO ${change.rpoSeconds} s)`);
    }
  },
});

// Every plan's readiness (a dry evaluation: reads only), recorded; a drift from ready is notified once.
const readiness = readinessSchedule();
if (readiness.warning) console.warn(`switchyard: ${readiness.warning}`);
app.timer("readiness", {
  schedule: readiness.schedule,
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: unknown, context: InvocationContext) => {
    const results = await handlersFor(context).checkAllReadiness();
    for (const r of results) {
      if (r.error) context.error(`readiness of ${r.plan} not evaluated: ${r.error}`);
      else if (r.change) context.warn(`readiness of ${r.plan}: ${r.change === "drift" ? "no longer ready" : "ready again"}`);
    }
    context.info(`readiness: ${results.filter((r) => r.result?.ready).length} of ${results.length} plan(s) ready`);
  },
});
