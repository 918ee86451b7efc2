import type * as df from "durable-functions";
import type { RunPlanStore } from "../journal/runPlans.ts";
import { Drills } from "./port.ts";

/** Planned drills over the Durable Functions client (in Azure). */
export function durableDrills(client: df.DurableClient, runPlans: Pick<RunPlanStore, "put">): Drills {
  return new Drills(
    {
      status: async (instanceId) => {
        const s = await client.getStatus(instanceId).catch(() => undefined);
        return s?.input === undefined ? undefined : { runtimeStatus: String(s.runtimeStatus), input: s.input, output: s.output, customStatus: s.customStatus };
      },
      start: async (name, instanceId, input) => void (await client.startNew(name, { instanceId, input })),
    },
    runPlans,
    { clock: () => new Date() },
  );
}
