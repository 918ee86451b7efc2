/**
 * How much durable history a real run leaves: the real orchestration, activities and SDK clients on the
 * local durable host against the estate, the history in Azurite. The run carries an outline of its
 * plan and its activities read the run's plan snapshot, so the history holds what the run decided on
 * and its own journal entries, not copies of the plan or the evidence activities journal themselves.
 */
import { describe, expect, it } from "vitest";
import { EarlierOrchestrations, instanceIdFor, type RunOutput } from "../../src/core/run/model.ts";
import { useRunWorld } from "../helpers/runHarness.ts";

const world = useRunWorld();

/**
 * An instance's history: its bytes as the host keeps it (events with their type, ids and timestamps),
 * its payload (what Switchyard put into it: orchestration, activity and sub-orchestration inputs,
 * results, failure reasons), and its events. The envelope around the payload is the storage
 * provider's; the payload is what Switchyard controls.
 */
async function historyOf(instanceId: string) {
  const history = (await world.store.get(instanceId))?.history ?? [];
  const payload = history.reduce((sum, e) => sum + (["Input", "Result", "Reason", "Details"] as const).reduce((n, key) => n + (typeof e[key] === "string" ? Buffer.byteLength(e[key]) : 0), 0), 0);
  return { bytes: Buffer.byteLength(JSON.stringify(history)), payload, events: history.length };
}

describe("durable history of a real run", () => {
  it("a planned failover of the example plan: the run's history stays under budget and no activity input carries the plan", async () => {
    const input = world.runInput("failover", { mode: "planned" });
    await world.runs.start(input);
    const view = await world.runs.waitFor(world.plan.name);
    expect(view.output?.outcome, view.output?.message).toBe("completed");

    const run = await historyOf(instanceIdFor(world.plan.name));
    const watch = await historyOf(`${input.runId}:watch-1`);
    const state = await world.store.get(instanceIdFor(world.plan.name));
    const scheduled = state!.history.filter((e) => e.EventType === 4).map((e) => JSON.parse(String(e.Input)) as { plan?: object });
    const planBytes = Buffer.byteLength(JSON.stringify(world.plan));
    console.log(`history of a planned failover of ${world.plan.name}: run ${run.payload} bytes of payload, ${run.bytes} bytes stored (${run.events} events); first watch ${watch.payload} of payload, ${watch.bytes} stored (${watch.events} events); the plan is ${planBytes} bytes`);

    expect(scheduled.filter((i) => i.plan !== undefined && "regions" in i.plan)).toEqual([]);
    // What the run leaves in durable history: verdicts, what to watch, its journal's own entries.
    // Evidence (probes, checks, replica figures), resource ids of results, Azure request ids and
    // resume tokens are journaled by the activities that met them, and stay out.
    // Notices carry their facts (a few hundred bytes each) and the measure step its five largest lags;
    // a poll more or less (timing) moves the stored size by about a kilobyte.
    expect(run.payload).toBeLessThanOrEqual(24 * 1024);
    expect(run.bytes).toBeLessThanOrEqual(44 * 1024);
    const history = JSON.stringify(state!.history);
    expect(history).not.toContain("resumeToken");
    expect(history).not.toContain("requestIds");
    expect(history).not.toContain("probes");
  });

  it("a run of version 1 (started with the whole plan, no snapshot) still runs on today's activities", async () => {
    const input = world.runInput("failover", { mode: "planned" });
    await world.host.start(EarlierOrchestrations.failoverV1, input, instanceIdFor(world.plan.name));
    const status = await world.host.waitForCompletion(instanceIdFor(world.plan.name));

    expect((status.output as RunOutput | undefined)?.outcome, (status.output as RunOutput | undefined)?.message).toBe("completed");
    const run = await historyOf(instanceIdFor(world.plan.name));
    console.log(`history of the same failover under version 1 (the plan in every activity input): run ${run.bytes} bytes (${run.events} events)`);
    expect(await world.runPlans.get(input.runId)).toBeUndefined();
  });
});
