import type * as df from "durable-functions";
import type { RunPlanStore } from "../journal/runPlans.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";
import { Rotations } from "./port.ts";

/** Rotations over the Durable Functions client (in Azure). */
export function durableRotations(client: df.DurableClient, runPlans: Pick<RunPlanStore, "put">, store: Pick<PlanStateStore, "update">): Rotations {
  return new Rotations(
    {
      status: async (instanceId) => {
        const s = await client.getStatus(instanceId).catch(() => undefined);
        return s?.input === undefined ? undefined : { runtimeStatus: String(s.runtimeStatus), input: s.input, output: s.output, customStatus: s.customStatus };
      },
      start: async (name, instanceId, input) => void (await client.startNew(name, { instanceId, input })),
    },
    runPlans,
    { clock: () => new Date(), store },
  );
}
