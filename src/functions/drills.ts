/**
 * Scheduled planned drills, registered with the Functions host only when SWITCHYARD_DRILL_SCHEDULE is
 * set (off by default: a planned drill moves production traffic to the standby region and back). The
 * scheduledDrill timer drills every plan of the catalog, one at a time, in one durable pass. Thin: the
 * work is in src/drills and src/orchestrations/drill.ts.
 */
// Telemetry first, once per worker process (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
import "../telemetry/worker.ts";
import azureFunctions, { type InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import { appServices } from "../app/composition.ts";
import { contextLogger } from "../app/logging.ts";
import { drillSchedule } from "../config/settings.ts";
import { durableDrills } from "../drills/durable.ts";
import { scheduledDrillPass, SCHEDULED_DRILL_TIMER } from "../drills/triggers.ts";

const { app } = azureFunctions;

const schedule = drillSchedule();
if (schedule.warning) console.warn(`switchyard: ${schedule.warning}`);
if (schedule.schedule !== undefined) {
  app.timer(SCHEDULED_DRILL_TIMER, {
    schedule: schedule.schedule,
    extraInputs: [df.input.durableClient()],
    handler: async (_timer: unknown, context: InvocationContext) => {
      const services = appServices();
      await scheduledDrillPass({ plans: services.plans, drills: durableDrills(df.getClient(context), services.runPlans), log: contextLogger(context) });
    },
  });
}
