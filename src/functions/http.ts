/**
 * HTTP functions (alert webhook, manual override API) and the health timer, registered with the
 * Functions host. Thin: each invocation builds the handlers over the shared services and the Durable
 * client of that invocation, and calls one.
 */
import azureFunctions, { type HttpRequest, type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { appServices } from "../app/composition.ts";
import { checkPlanHealth } from "../detection/collect.ts";
import { detectionControl } from "../detection/control.ts";
import { alertWebhook } from "../http/alerts.ts";
import { operatorHandlers } from "../http/operator.ts";
import { httpRoutes, type HttpHandlers } from "../http/routes.ts";
import { DurableRuns } from "./durableRuns.ts";
import { preemptWith } from "../detection/preempt.ts";
import { ReservingRuns } from "../detection/reservingRuns.ts";

const { app } = azureFunctions;

function handlersFor(context: InvocationContext): HttpHandlers {
  const services = appServices();
  const clock = () => new Date();
  const runs = new ReservingRuns(new DurableRuns(df.getClient(context), services.runPlans), { store: services.store, clock, log: services.log });
  const operator = operatorHandlers({
    plans: services.plans,
    runs,
    journal: services.journal,
    clock,
    appServiceAuthOn: services.settings.appServiceAuthOn,
    detection: detectionControl(services.store, clock),
  });
  return {
    ...operator,
    alerts: alertWebhook({ store: services.store, journal: services.journal, runs, clock, log: services.log, plans: services.plans, preemptDrill: preemptWith(runs, { clock }), ...(services.validateToken ? { validateToken: services.validateToken } : {}) }),
  };
}

// The route table is the same one `switchyard serve` uses; handlers are bound per invocation.
const unbound = async () => ({ status: 500 });
const placeholder: HttpHandlers = { alerts: unbound, failover: unbound, failback: unbound, approve: unbound, abort: unbound, autoFailover: unbound, getPlan: unbound, getRun: unbound };
for (const route of httpRoutes(placeholder)) {
  app.http(route.name, {
    route: route.route,
    methods: [...route.methods],
    authLevel: "function",
    extraInputs: [df.input.durableClient()],
    handler: (request: HttpRequest, context: InvocationContext) => httpRoutes(handlersFor(context)).find((r) => r.name === route.name)!.handler(request),
  });
}

app.timer("healthProbe", {
  schedule: "0 */1 * * * *",
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: unknown, context: InvocationContext) => {
    const services = appServices();
    const clock = () => new Date();
    const runs = new ReservingRuns(new DurableRuns(df.getClient(context), services.runPlans), { store: services.store, clock, log: services.log });
    for (const plan of await services.plans.list()) {
      const summary = await checkPlanHealth(plan, { store: services.store, journal: services.journal, runs, clock, log: services.log, probe: services.probe, clients: services.clients, preemptDrill: preemptWith(runs, { clock }) });
      for (const change of summary.changes) context.info(`region ${change.region} of ${plan.name} is now ${change.to}`);
      if (summary.started) context.warn(`automatic failover ${summary.started.runId} of ${plan.name} started`);
    }
  },
});
