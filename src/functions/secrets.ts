/**
 * Secret rotation's triggers, registered with the Functions host: Key Vault's secret events through
 * Event Grid (either schema; subscribe the vaults' SecretNearExpiry and SecretExpired to this
 * function), and the daily sweep that catches events that never arrived. Thin: the work is in
 * src/rotation.
 */
// Telemetry first, once per worker process (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
import "../telemetry/worker.ts";
import azureFunctions, { type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { appServices } from "../app/composition.ts";
import { contextLogger } from "../app/logging.ts";
import { secretSweepSchedule } from "../config/settings.ts";
import { durableRotations } from "../rotation/durable.ts";
import { handleKeyVaultEvent, sweepSecrets } from "../rotation/triggers.ts";

const { app } = azureFunctions;

function triggerDeps(context: InvocationContext) {
  const services = appServices();
  return { plans: services.plans, rotations: durableRotations(df.getClient(context), services.runPlans, services.store), clients: services.clients, clock: () => new Date(), log: contextLogger(context) };
}

// The worker hands the event as Event Grid sent it (Event Grid schema or CloudEvents 1.0), one per invocation.
app.eventGrid("keyVaultSecretEvents", {
  extraInputs: [df.input.durableClient()],
  handler: async (event: unknown, context: InvocationContext) => {
    const outcome = await handleKeyVaultEvent(event, triggerDeps(context));
    if (outcome.outcome === "rotating") context.info(`Key Vault event: ${outcome.started.map((s) => `${s.plan}/${s.secret} ${s.start?.outcome ?? `not started (${s.error})`}`).join(", ")}`);
  },
});

const sweep = secretSweepSchedule();
if (sweep.warning) console.warn(`switchyard: ${sweep.warning}`);
app.timer("secretSweep", {
  schedule: sweep.schedule,
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: unknown, context: InvocationContext) => {
    const findings = await sweepSecrets(triggerDeps(context));
    const due = findings.filter((f) => f.due);
    context.info(`secret sweep: ${findings.length} secret(s) checked, ${due.length} due (${due.map((f) => `${f.plan}/${f.secret}: ${f.reason}`).join("; ") || "none"})`);
  },
});
