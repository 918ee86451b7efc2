/**
 * The fault matrix: for each step that writes, and each fault, a planned failover (primary up, so the
 * outcome does not hinge on the data-loss gate) with the real activities against the local estate ends
 * completed or in a named safe state, never writes anything twice, and journals every write.
 */
import { describe, expect, it } from "vitest";
import { Activities, instanceIdFor, type RunOutcome, type RunOutput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { planState } from "../helpers/estateView.ts";
import { canonicalResource, unjournaledWrites, useRunWorld, writes } from "../helpers/runHarness.ts";
import { OPERATION_MAX_ATTEMPTS } from "../../src/core/run/gates.ts";

const world = useRunWorld();

/**
 * The outcome of each cell. A long-running operation that ends Failed once is started again (the start
 * activity reads Azure's state first) and the run completes. A synchronous write has no such
 * operation: its "LRO ends Failed" variant is a 503, retried. Every other fault is retried, or resumed
 * after the crash, to completion.
 */
const EXPECTED: Readonly<Record<string, Readonly<Record<Fault, RunOutcome>>>> = {
  "SQL failover group": { "429 ×3": "completed", "one 500": "completed", "LRO ends Failed": "completed", "killed after the write": "completed" },
  "storage account failover": { "429 ×3": "completed", "one 500": "completed", "LRO ends Failed": "completed", "killed after the write": "completed" },
  "Front Door Standard/Premium origins": { "429 ×3": "completed", "one 500": "completed", "LRO ends Failed": "completed", "killed after the write": "completed" },
  "Front Door classic backends": { "429 ×3": "completed", "one 500": "completed", "LRO ends Failed": "completed", "killed after the write": "completed" },
  "App Service settings": { "429 ×3": "completed", "one 500": "completed", "LRO ends Failed": "completed", "killed after the write": "completed" },
};

interface StepCase {
  readonly label: string;
  /** The activity that makes the write. */
  readonly activity: string;
  /** The orchestrator's step the activity runs in. */
  readonly step: "data-tier" | "settings" | "traffic";
  /** The estate operation id of the write (a planned failover: never FailoverGroups_ForceFailoverAllowDataLoss). */
  readonly operationId: string;
  /** A synchronous write: there is no long-running operation to fail. */
  readonly sync?: boolean;
}

const STEPS: StepCase[] = [
  { label: "SQL failover group", activity: Activities.failoverSqlGroup, step: "data-tier", operationId: "FailoverGroups_Failover" },
  { label: "storage account failover", activity: Activities.failoverStorageAccount, step: "data-tier", operationId: "StorageAccounts_Failover" },
  { label: "Front Door Standard/Premium origins", activity: Activities.switchFrontDoorStandard, step: "traffic", operationId: "AFDOrigins_Update" },
  { label: "Front Door classic backends", activity: Activities.switchFrontDoorClassic, step: "traffic", operationId: "FrontDoors_CreateOrUpdate" },
  { label: "App Service settings", activity: Activities.switchAppService, step: "settings", operationId: "WebApps_UpdateApplicationSettings", sync: true },
];

type Fault = "429 ×3" | "one 500" | "LRO ends Failed" | "killed after the write";
const FAULTS: Fault[] = ["429 ×3", "one 500", "LRO ends Failed", "killed after the write"];

/** Operations of the estate that ended Failed, on one resource. */
const endedUnapplied = (operationId: string, resource: string) =>
  world.estate.operations.list().filter((op) => op.operationId === operationId && op.status === "Failed" && canonicalResource(op.resourceId).startsWith(resource)).length;

/** The run's journaled restarts of operations that ended without being applied, in a step. */
const restartsOf = (journal: JournalEntry[], step: string) => journal.filter((e) => e.kind === "wait" && e.step === step && e.data?.code === "OperationEnded");

/** Orchestrator retry notes (one per failed attempt) for an activity. */
const retriesOf = (journal: JournalEntry[], activity: string) => journal.filter((e) => e.kind === "wait" && e.data?.activity === activity);

/** Runs a planned failover with `fault` planted on `c`, and returns the finished run and its journal. */
async function runWithFault(c: StepCase, fault: Fault): Promise<{ view: RunView; journal: JournalEntry[]; crashedAfter?: string; resumedCalls?: string[] }> {
  const input = world.runInput("failover", { mode: "planned" });
  const planName = world.plan.name;
  if (fault === "killed after the write") {
    // The process dies right after the step's (first) activity returned, before its result was kept.
    const first = world.newHost({ crashAt: (p) => p.afterActivity === c.activity });
    await first.runs.start(input);
    await first.host.waitForCompletion(instanceIdFor(planName));
    const crashedAfter = first.host.crashPoint?.afterActivity;
    // In-flight activities of the dead host finish (as if they completed just before the process died).
    await first.idle();
    const second = world.newHost();
    expect(await second.host.resume()).toEqual([instanceIdFor(planName)]);
    const view = await second.runs.waitFor(planName);
    return { view, journal: await world.journal.read(input.runId), resumedCalls: second.calls, ...(crashedAfter ? { crashedAfter } : {}) };
  }
  if (fault === "429 ×3") world.estate.addFault({ kind: "throttle", operationId: c.operationId, count: 3, retryAfterSeconds: 0 });
  if (fault === "one 500") world.estate.addFault({ kind: "serverError", operationId: c.operationId, count: 1, status: 500 });
  if (fault === "LRO ends Failed") {
    // A synchronous write has no operation to fail: its variant is a 503 (ServiceUnavailable) instead.
    if (c.sync) world.estate.addFault({ kind: "serverError", operationId: c.operationId, count: 1, status: 503 });
    else world.estate.addFault({ kind: "lroFailure", operationId: c.operationId, count: 1 });
  }
  await world.runs.start(input);
  const view = await world.runs.waitFor(planName);
  return { view, journal: await world.journal.read(input.runId) };
}

describe.each(STEPS)("fault matrix: $label", (c) => {
  it.each(FAULTS)("%s", async (fault) => {
    const { view, journal, crashedAfter, resumedCalls } = await runWithFault(c, fault);

    // ---- a finished run in a named state, never a stuck or thrown orchestration
    expect(view.status, view.error).toBe("completed");
    const out = view.output as RunOutput;
    expect(out.outcome, out.message).toBe(EXPECTED[c.label]![fault]);
    {
      const state = planState(world.estate, world.plan);
      const to = world.plan.regions.secondary.name;
      expect(state.sql.map((g) => g.primaryRegion)).toEqual(world.plan.sql.map(() => to));
      expect(state.storage.map((a) => a.primaryLocation)).toEqual(world.plan.storage.map(() => to));
      for (const members of [...state.afd, ...state.classic]) expect(members.byRegion[to]).toEqual({ priority: 1, enabledState: "Enabled" });
    }

    // ---- the fault really happened, and was handled where it should be
    const responses = world.estate.requests({ writesOnly: true }).filter((r) => r.operationId === c.operationId);
    const retries = retriesOf(journal, c.activity);
    switch (fault) {
      case "429 ×3":
        expect(responses.filter((r) => r.status === 429)).toHaveLength(3);
        // Front Door Standard updates both origins of a group at once: two throttled PATCHes can fall in one attempt.
        if (c.activity === Activities.switchFrontDoorStandard) expect(retries.length).toBeGreaterThanOrEqual(2);
        else expect(retries).toHaveLength(3);
        for (const r of retries) expect(r.data).toMatchObject({ retryAfterSeconds: 0 });
        break;
      case "one 500":
        expect(responses.filter((r) => r.status === 500)).toHaveLength(1);
        expect(retries).toHaveLength(1);
        break;
      case "LRO ends Failed":
        if (c.sync) {
          expect(responses.filter((r) => r.status === 503)).toHaveLength(1);
          expect(retries).toHaveLength(1);
        } else {
          expect(world.estate.operations.list().filter((op) => op.operationId === c.operationId && op.status === "Failed")).toHaveLength(1);
          // The operation's end is journaled, and the step started it again once (a journaled restart).
          expect(journal.some((e) => (e.kind === "write" || e.kind === "operation") && /fail/i.test(String(e.data?.result ?? e.data?.status)) && String(e.data?.operation).startsWith(c.operationId))).toBe(true);
          expect(restartsOf(journal, c.step)).toHaveLength(1);
          expect(restartsOf(journal, c.step)[0]!.data).toMatchObject({ attempt: 2, maxAttempts: OPERATION_MAX_ATTEMPTS, code: "OperationEnded" });
        }
        break;
      case "killed after the write":
        expect(crashedAfter).toBe(c.activity);
        expect(responses.filter((r) => r.status >= 200 && r.status < 300).length, "the write was made before the crash").toBeGreaterThan(0);
        // The new host re-ran the activity whose result was lost (at least once); the duplicate check
        // below shows that the re-run found the target state and wrote nothing.
        expect(resumedCalls).toContain(c.activity);
        break;
    }

    // ---- no successful write twice (a write whose operation ended Failed did nothing, and is sent again), and every successful write in the journal
    const duplicates = writes(world.estate).filter((g) => g.requests.length > 1 + endedUnapplied(g.operationId, g.resource));
    expect(duplicates.map((g) => `${g.key} ×${g.requests.length}`)).toEqual([]);
    expect(journal.filter((e) => e.kind === "run-started")).toHaveLength(1);
    const finished = journal.filter((e) => e.kind === "run-finished");
    expect(finished).toHaveLength(1);
    expect(finished[0]!.data?.output).toEqual(out);
    expect(unjournaledWrites(world.estate, journal).map((r) => `${r.operationId} ${r.path}`)).toEqual([]);
  });
});

describe("an operation that ends Failed every time", () => {
  it("fails its step after the budget of starts, with a message that says what to do, and the data tier stays switched", async () => {
    world.estate.addFault({ kind: "lroFailure", operationId: "AFDOrigins_Update", count: 100 });
    const input = world.runInput("failover", { mode: "planned" });
    await world.runs.start(input);
    const view = await world.runs.waitFor(world.plan.name);
    const journal = await world.journal.read(input.runId);

    const out = view.output as RunOutput;
    expect(out.outcome, out.message).toBe("failed");
    expect(out.steps.find((s) => s.step === "traffic")).toMatchObject({ outcome: "failed" });
    expect(out.message).toContain("Failed in traffic");
    expect(out.message).toContain(`ended without being applied ${OPERATION_MAX_ATTEMPTS} times in a row`);
    expect(out.message).toContain(`POST /api/runs/${input.runId}/resume`);
    expect(out.message).toContain("Already switched to");
    expect(out.message).toContain("data-tier");
    // Started once and again after each of the two journaled restarts; nothing more.
    expect(restartsOf(journal, "traffic").map((e) => e.data?.attempt)).toEqual([2, 3]);
    // The step's restarts count for the step, and each restarts what had failed by then: an origin whose
    // operation ended Failed in a later poll than another's may be started fewer times, never more.
    const failedUpdates = world.estate.operations.list().filter((op) => op.operationId === "AFDOrigins_Update");
    const perOrigin = [...new Set(failedUpdates.map((op) => op.resourceId.toLowerCase()))].map((origin) => failedUpdates.filter((op) => op.resourceId.toLowerCase() === origin).length);
    expect(perOrigin.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(OPERATION_MAX_ATTEMPTS);
    for (const count of perOrigin) expect(count).toBeLessThanOrEqual(OPERATION_MAX_ATTEMPTS);
    const state = planState(world.estate, world.plan);
    expect(state.sql.map((g) => g.primaryRegion)).toEqual(world.plan.sql.map(() => world.plan.regions.secondary.name));
  });
});
