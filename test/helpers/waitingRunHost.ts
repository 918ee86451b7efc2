import type * as df from "durable-functions";
import { Orchestrations } from "../../src/core/run/model.ts";
import { LocalDurableHost, type LocalDurableHostOptions } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";

/**
 * A local durable host whose failover "run" only waits for the approval event: it stays running for
 * as long as a test needs a run in progress (starts, reservations, pre-emption).
 */
export function waitingRunHost(options: Partial<LocalDurableHostOptions> = {}): LocalDurableHost {
  return new LocalDurableHost({
    store: new MemoryInstanceStore(),
    orchestrations: {
      [Orchestrations.failover]: function* (context: df.OrchestrationContext) {
        yield context.df.waitForExternalEvent("approval");
        return "done";
      },
    },
    activities: {},
    ...options,
  });
}
