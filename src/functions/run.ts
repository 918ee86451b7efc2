/**
 * Registrations of the failover run, the secret rotation and the planned drill with the Functions host: the
 * orchestrations and one activity function per step. Thin: the work is in src/orchestrations and src/activities.
 */
// Telemetry first, once per worker process (a no-op without APPLICATIONINSIGHTS_CONNECTION_STRING).
import "../telemetry/worker.ts";
import * as df from "durable-functions";
import { activitiesFor, appServices, drillActivitiesFor, rotationActivitiesFor } from "../app/composition.ts";
import { RotationActivities } from "../core/rotation/model.ts";
import { DrillActivities } from "../core/drill/model.ts";
import { DurableRuns } from "../runs/durableRuns.ts";
import { Activities } from "../core/run/model.ts";
import { ORCHESTRATIONS } from "../orchestrations/index.ts";

for (const [name, handler] of Object.entries(ORCHESTRATIONS)) df.app.orchestration(name, handler);

for (const name of Object.values(Activities)) {
  df.app.activity(name, { handler: (input: unknown, context) => activitiesFor(context)[name](input) });
}

// A secret rotation's activities read the plan's run through the Durable client (a step is not begun while a run holds the plan).
for (const name of Object.values(RotationActivities)) {
  df.app.activity(name, {
    extraInputs: [df.input.durableClient()],
    handler: (input: unknown, context) => rotationActivitiesFor(context, new DurableRuns(df.getClient(context), appServices().runPlans))[name](input),
  });
}

// A planned drill's activities start and read the plan's runs through the Durable client, behind the
// run reservation (one run per plan, whatever starts it).
for (const name of Object.values(DrillActivities)) {
  df.app.activity(name, {
    extraInputs: [df.input.durableClient()],
    handler: (input: unknown, context) => drillActivitiesFor(context, new DurableRuns(df.getClient(context), appServices().runPlans))[name](input),
  });
}
