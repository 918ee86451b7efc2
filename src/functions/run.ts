/**
 * Registrations of the failover run with the Functions host: the orchestrations and one activity
 * function per step. Thin: the work is in src/orchestrations and src/activities.
 */
import * as df from "durable-functions";
import { appActivities } from "../app/composition.ts";
import { Activities, Orchestrations } from "../core/run/model.ts";
import { runOrchestration } from "../orchestrations/run.ts";

df.app.orchestration(Orchestrations.failover, runOrchestration);
df.app.orchestration(Orchestrations.failback, runOrchestration);

for (const name of Object.values(Activities)) {
  df.app.activity(name, { handler: (input: unknown) => appActivities()[name](input) });
}
