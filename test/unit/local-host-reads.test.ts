// What the local durable host and the activities read and write per step (bench/drill.ts measures the
// time): the host keeps an activity's result with the episode it starts and reads back what it kept,
// and the activities of a step share their first read of the run's journal.
import type * as df from "durable-functions";
import { describe, expect, it } from "vitest";
import type { ActivityDeps } from "../../src/activities/deps.ts";
import { readInFlight } from "../../src/activities/operations.ts";
import { MemoryJournal, type JournalEntry } from "../../src/journal/journal.ts";
import type { OperationData } from "../../src/core/journal.ts";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore, type InstanceState } from "../../src/durable/instanceStore.ts";

class CountingStore extends MemoryInstanceStore {
  gets = 0;
  puts = 0;
  override async get(instanceId: string) {
    this.gets++;
    return super.get(instanceId);
  }
  override async put(state: InstanceState, json?: string) {
    this.puts++;
    return super.put(state, json);
  }
}

function* addTwice(context: df.OrchestrationContext): Generator<df.Task, number, number> {
  const once: number = yield context.df.callActivity("add", context.df.getInput<number>());
  return yield context.df.callActivity("add", once);
}

const hostOn = (store: CountingStore) =>
  new LocalDurableHost({ store, orchestrations: { addTwice: addTwice as never }, activities: { add: async (n) => (n as number) + 1 } });

describe("the local durable host's reads and writes", () => {
  it("writes the instance once per episode, reads it from the store only once, and keeps what a new host finds", async () => {
    const store = new CountingStore();
    const host = hostOn(store);
    await host.start("addTwice", 1, "i1");
    const done = await host.waitForCompletion("i1");
    expect(done).toMatchObject({ runtimeStatus: "Completed", output: 3 });
    // The start (does the instance exist?) reads; nothing else does. Writes: the start, the first
    // episode, and one per activity result (kept by the episode it starts), not two.
    expect(store.gets).toBe(1);
    expect(store.puts).toBe(2 + 2);
    expect(await host.getStatus("i1")).toMatchObject({ runtimeStatus: "Completed", output: 3 });
    expect(store.gets).toBe(1);

    const other = hostOn(store);
    expect(await other.getStatus("i1")).toMatchObject({ runtimeStatus: "Completed", output: 3 });
    expect(store.gets).toBe(2);
  });
});

class CountingJournal extends MemoryJournal {
  reads = 0;
  override async read(runId: string): Promise<JournalEntry[]> {
    this.reads++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return super.read(runId);
  }
}

const depsWith = (journal: CountingJournal) => ({ journal, clock: () => new Date(), pollIntervalMs: 1 }) as unknown as ActivityDeps;
const operation = (resourceId: string, status: OperationData["status"], resumeToken?: string): JournalEntry => ({
  runId: "r1",
  at: new Date().toISOString(),
  kind: "operation",
  message: `${resourceId} ${status}`,
  data: { resourceId, operation: "Op", status, ...(resumeToken ? { resumeToken } : {}) },
});

describe("reading the operations in flight", () => {
  it("answers for every resource from one read: the last entry of each operation decides", async () => {
    const journal = new CountingJournal();
    for (const entry of [operation("/a", "running", "ta"), operation("/a", "succeeded"), operation("/b", "running", "tb")]) await journal.append(entry);
    const inFlight = await readInFlight(depsWith(journal), "r1");
    expect(inFlight.tokenOf({ resourceId: "/a", operation: "Op" })).toBeUndefined();
    expect(inFlight.tokenOf({ resourceId: "/b", operation: "Op" })).toBe("tb");
    expect(inFlight.tokenOf({ resourceId: "/b", operation: "Other" })).toBeUndefined();
    expect(journal.reads).toBe(1);
  });

  it("shares a first read still in progress, never a finished one, and never for a later read", async () => {
    const journal = new CountingJournal();
    const deps = depsWith(journal);
    await Promise.all([readInFlight(deps, "r1", { shared: true }), readInFlight(deps, "r1", { shared: true }), readInFlight(deps, "r2", { shared: true })]);
    expect(journal.reads).toBe(2);
    await Promise.all([readInFlight(deps, "r1", { shared: true }), readInFlight(deps, "r1")]);
    expect(journal.reads).toBe(4);
  });
});
