/**
 * Registrations of the failover run with the Functions host: the orchestrations and one activity
 * function per step. Thin: the work is in src/orchestrations and src/activities.
 */
import * as df from "durable-functions";
import { activitiesFor } from "../app/composition.ts";
import { Activities } from "../core/run/model.ts";
import { ORCHESTRATIONS } from "../orchestrations/index.ts";

for (const [name, handler] of Object.entries(ORCHESTRATIONS)) df.app.orchestration(name, handler);

for (const name of Object.values(Activities)) {
  df.app.activity(name, { handler: (input: unknown, context) => activitiesFor(context)[name](input) });
}
