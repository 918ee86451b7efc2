import { createRequire } from "node:module";
import * as df from "durable-functions";
import { describe, expect, it } from "vitest";
import { PreconditionError, SwitchyardError } from "../../src/core/errors.ts";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { Activities, APPROVAL_EVENT, EarlierOrchestrations, Orchestrations, outlineOf, reprotectInstanceId, type RunInput, type RunOrchestrationInput, type RunOutput } from "../../src/core/run/model.ts";
import { wrapActivity } from "../../src/activities/wrap.ts";
import { InstanceRunningError, LocalDurableHost, orchestratorTrigger, type CrashPoint } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { runOrchestration, runOrchestrationV1 } from "../../src/orchestrations/run.ts";
import { readFileSync } from "node:fs";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

const plan: Plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const P = plan.regions.primary.name;
const S = plan.regions.secondary.name;

/** A run as its starter gives it (the whole plan); `input()` is the same run as the orchestration gets it. */
function startInput(overrides: Partial<RunInput> = {}): RunInput {
  return {
    runId: "run-1",
    kind: "failover",
    mode: "auto",
    plan,
    from: P,
    to: S,
    trigger: { source: "manual", by: "ops@contoso.com", reason: "test", detectedAt: "2026-01-01T00:00:00.000Z" },
    options: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 }, approvalTimeoutSeconds: 60, timeScale: 1000 },
    ...overrides,
  };
}

/** The run as the orchestration is started with it: the plan as an outline (LocalRuns/DurableRuns keep the whole plan aside). */
function input(overrides: Partial<RunInput> = {}): RunOrchestrationInput {
  const whole = startInput(overrides);
  return { ...whole, plan: outlineOf(whole.plan) };
}

interface World {
  primaryHealthy: boolean;
  targetHealthy: boolean;
  maxLagSeconds: number | null;
  calls: { name: string; input: any }[];
  failures: Record<string, Error[]>;
  /** Data-tier starts return a pending operation, polled `running` this many times before it succeeds. */
  pollsUntilDone?: number;
  /** The pending operation's poll interval and deadline, seconds of Azure time (default 10 and 600). */
  pollSeconds?: number;
  deadlineSeconds?: number;
  /** App Service writes restart the sites; the target answers unhealthy this many assessments after that. */
  restartAssessments?: number;
  /** Verification reports a settling failure this many times first. */
  settlingVerifies?: number;
  /** Re-protection reports `waiting` this many rounds first. */
  reprotectRounds?: number;
  /** Called on every re-protection call (its 1-based count), before it answers. */
  onReprotect?: (call: number) => void;
}

/** Activities that record their calls and answer from a small model of the world (no Azure). */
function activities(world: World) {
  const record = (name: string, answer: (input: any) => unknown) =>
    wrapActivity(name, async (i: any) => {
      world.calls.push({ name, input: i });
      const planted = world.failures[name]?.shift();
      if (planted) throw planted;
      return answer(i);
    });
  const ok = { resourceId: "x", changed: true, requestIds: [] };
  const started = new Set<string>();
  const polls = new Map<string, number>();
  let restarted = false;
  let unhealthyAfterRestart = world.restartAssessments ?? 0;
  let settling = world.settlingVerifies ?? 0;
  let reprotectRounds = world.reprotectRounds ?? 0;
  let reprotectCalls = 0;
  /** A data-tier start: the first call per resource starts an operation when the world says so. */
  const dataTier = (activity: string, poll: string) => (i: any) => {
    const resourceId = `${activity}-${i.index}`;
    const method = i.allowDataLoss && !world.primaryHealthy ? "forced" : "planned";
    if (world.pollsUntilDone === undefined) return { ...ok, resourceId, method };
    if (started.has(resourceId)) return { ...ok, resourceId, changed: false, method: "none" };
    started.add(resourceId);
    const pending = { poll, resourceId, operation: `${activity}-op`, resumeToken: "t", startedAt: "2026-01-01T00:00:00.000Z", pollSeconds: world.pollSeconds ?? 10, deadlineSeconds: world.deadlineSeconds ?? 600, context: { index: i.index } };
    return { ...ok, resourceId, method, pending };
  };
  const poll = (i: any) => {
    const n = (polls.get(i.pending.resourceId) ?? 0) + 1;
    polls.set(i.pending.resourceId, n);
    return n > (world.pollsUntilDone ?? 0) ? { status: "succeeded", requestIds: [`poll-${n}`] } : { status: "running", requestIds: [] };
  };
  return {
    [Activities.journal]: record(Activities.journal, () => null),
    [Activities.notify]: record(Activities.notify, () => null),
    [Activities.assessRegions]: record(Activities.assessRegions, () => {
      const targetHealthy = world.targetHealthy && !(restarted && unhealthyAfterRestart-- > 0);
      return { at: "t", regions: { [P]: { healthy: world.primaryHealthy, probes: [] }, [S]: { healthy: targetHealthy, probes: [] } } };
    }),
    [Activities.measureReplication]: record(Activities.measureReplication, () => ({ at: "t", sql: [], storage: [], maxLagSeconds: world.maxLagSeconds })),
    [Activities.failoverSqlGroup]: record(Activities.failoverSqlGroup, dataTier(Activities.failoverSqlGroup, Activities.pollSqlFailover)),
    [Activities.failoverStorageAccount]: record(Activities.failoverStorageAccount, dataTier(Activities.failoverStorageAccount, Activities.pollStorageFailover)),
    [Activities.pollSqlFailover]: record(Activities.pollSqlFailover, poll),
    [Activities.pollStorageFailover]: record(Activities.pollStorageFailover, poll),
    [Activities.reprotectStorageAccount]: record(Activities.reprotectStorageAccount, (i: any) =>
      (world.onReprotect?.(++reprotectCalls), (i.index === plan.storage.length - 1 ? reprotectRounds-- : reprotectRounds) > 0)
        ? { resourceId: `acct-${i.index}`, state: "waiting", stage: "initial-sync", why: "geo-replication is Bootstrap", changed: false, requestIds: [], pollSeconds: 300 }
        : { resourceId: `acct-${i.index}`, state: "protected", stage: "done", why: "geo-replication is Live", changed: false, requestIds: [], pollSeconds: 300 },
    ),
    [Activities.switchFrontDoorStandard]: record(Activities.switchFrontDoorStandard, () => ok),
    [Activities.switchFrontDoorClassic]: record(Activities.switchFrontDoorClassic, () => ok),
    [Activities.switchAppService]: record(Activities.switchAppService, () => {
      if (world.restartAssessments !== undefined) restarted = true;
      return { ...ok, ...(world.restartAssessments !== undefined ? { restarts: true } : {}) };
    }),
    [Activities.verifyPrimary]: record(Activities.verifyPrimary, () =>
      settling-- > 0 ? { ok: false, settling: true, checks: [{ what: "Front Door deployment", ok: false, detail: "InProgress", settling: true }] } : { ok: true, checks: [] },
    ),
    [Activities.checkReprotection]: record(Activities.checkReprotection, () => ({ ok: true, checks: [] })),
  };
}

function world(overrides: Partial<World> = {}): World {
  return { primaryHealthy: true, targetHealthy: true, maxLagSeconds: 0, calls: [], failures: {}, ...overrides };
}

function host(w: World, store = new MemoryInstanceStore(), crashAt?: (p: CrashPoint) => boolean, orchestrations: Record<string, unknown> = ORCHESTRATIONS) {
  return new LocalDurableHost({ store, orchestrations: orchestrations as never, activities: activities(w) as never, ...(crashAt ? { crashAt } : {}) });
}

/** An instance store that remembers the largest state (history and all) it was given per instance, in bytes. */
class MeasuringStore extends MemoryInstanceStore {
  readonly largest = new Map<string, number>();
  override async put(state: Parameters<MemoryInstanceStore["put"]>[0], json?: string) {
    const text = json ?? JSON.stringify(state);
    this.largest.set(state.instanceId, Math.max(this.largest.get(state.instanceId) ?? 0, Buffer.byteLength(text)));
    return super.put(state, text);
  }
  largestOf(match: (instanceId: string) => boolean): number {
    return Math.max(0, ...[...this.largest].filter(([id]) => match(id)).map(([, bytes]) => bytes));
  }
}

async function runToEnd(w: World, runInput: RunOrchestrationInput = input()): Promise<RunOutput> {
  const h = host(w);
  await h.start(Orchestrations.failover, runInput, "i1");
  const status = await h.waitForCompletion("i1");
  expect(status.runtimeStatus).toBe("Completed");
  return status.output as RunOutput;
}

const names = (w: World) => w.calls.map((c) => c.name).filter((n) => n !== Activities.journal && n !== Activities.notify);

describe("failover orchestration (real durable-functions orchestrator, local host)", () => {
  it("fails over planned when the primary is reachable: data tier, target sites' settings, traffic, standby sites' settings, verify", async () => {
    const w = world();
    const output = await runToEnd(w);
    expect(output.outcome).toBe("completed");
    expect(output.dataLossAllowedBy).toBe("none");
    expect(output.rpoExposureSeconds).toBe(0);
    const order = names(w);
    const lastData = Math.max(order.lastIndexOf(Activities.failoverSqlGroup), order.lastIndexOf(Activities.failoverStorageAccount));
    const firstSettings = order.indexOf(Activities.switchAppService);
    const firstTraffic = Math.min(order.indexOf(Activities.switchFrontDoorStandard), order.indexOf(Activities.switchFrontDoorClassic));
    const lastTraffic = Math.max(order.lastIndexOf(Activities.switchFrontDoorStandard), order.lastIndexOf(Activities.switchFrontDoorClassic));
    expect(lastData).toBeLessThan(firstSettings);
    // Sites in the target region before traffic arrives; the others (still serving until then) after it.
    const siteCalls = w.calls.filter((c) => c.name === Activities.switchAppService).map((c) => plan.appService[c.input.index]!.region);
    const siteSlots = order.flatMap((n, i) => (n === Activities.switchAppService ? [i] : []));
    siteCalls.forEach((region, k) => (region === S ? expect(siteSlots[k]).toBeLessThan(firstTraffic) : expect(siteSlots[k]).toBeGreaterThan(lastTraffic)));
    expect(new Set(siteCalls)).toEqual(new Set(plan.appService.map((a) => a.region)));
    expect(order.at(-1)).toBe(Activities.verifyPrimary);
    expect(w.calls.filter((c) => c.name === Activities.failoverSqlGroup).map((c) => c.input.allowDataLoss)).toEqual([false, false]);
    expect(output.steps.map((s) => s.step)).toEqual(["assess", "measure", "data-tier", "settings", "traffic", "standby-settings", "verify"]);
  });

  it("never fails over into an unhealthy target", async () => {
    const w = world({ targetHealthy: false });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("refused-target-unhealthy");
    expect(names(w)).toEqual([Activities.assessRegions]);
  });

  it("forces a failover without asking when the measured lag is within the RPO", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: 12 });
    const output = await runToEnd(w);
    expect(output.dataLossAllowedBy).toBe("rpo-gate");
    expect(output.rpoExposureSeconds).toBe(12);
    expect(w.calls.filter((c) => c.name === Activities.failoverStorageAccount).every((c) => c.input.allowDataLoss)).toBe(true);
  });

  it("waits for approval when the lag exceeds the RPO, and continues when approved", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: 3600 });
    const h = host(w);
    await h.start(Orchestrations.failover, input(), "i1");
    await until(async () => (await h.getStatus("i1"))?.customStatus && ((await h.getStatus("i1"))!.customStatus as { waitingFor?: string }).waitingFor === "approval");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: true, by: "oncall@contoso.com", reason: "region gone for good" });
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "approval" });
    expect(w.calls.filter((c) => c.name === Activities.failoverSqlGroup).every((c) => c.input.allowDataLoss)).toBe(true);
  });

  it("stops without a data-loss failover when approval times out, and says so", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const output = await runToEnd(w, input({ options: { approvalTimeoutSeconds: 0.05 } }));
    expect(output.outcome).toBe("stopped-approval-timeout");
    expect(output.message).toMatch(/no approval/i);
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
    expect(names(w)).not.toContain(Activities.failoverStorageAccount);
  });

  it("stops when the approver aborts", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const h = host(w);
    await h.start(Orchestrations.failover, input(), "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: false, by: "oncall", reason: "primary coming back" });
    expect(((await h.waitForCompletion("i1")).output as RunOutput).outcome).toBe("stopped-aborted");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
  });

  it("retries a throttled step after the Retry-After and completes", async () => {
    const throttled = () => new SwitchyardError("429", { code: "AzureRequestFailed", retryable: true, retryAfterSeconds: 0 });
    const w = world({ failures: { [Activities.switchAppService]: [throttled(), throttled()] } });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("completed");
    const journaled = w.calls.filter((c) => c.name === Activities.journal).flatMap((c) => c.input.entries);
    expect(journaled.filter((e: { kind: string }) => e.kind === "wait").length).toBeGreaterThanOrEqual(2);
  });

  it("ends in a named failed state when a step fails for good, without running later steps", async () => {
    const w = world({ failures: { [Activities.failoverSqlGroup]: [new PreconditionError("planned failover impossible", "PlannedFailoverImpossible")] } });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("failed");
    expect(output.message).toMatch(/data-tier: planned failover impossible/);
    expect(names(w)).not.toContain(Activities.switchFrontDoorStandard);
  });

  it("refuses a second run of the same plan while one is running", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const h = host(w);
    await h.start(Orchestrations.failover, input(), "i1");
    await expect(h.start(Orchestrations.failover, input({ runId: "run-2" }), "i1")).rejects.toBeInstanceOf(InstanceRunningError);
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: false, by: "t", reason: "t" });
    await h.waitForCompletion("i1");
  });

  it("resumes after a crash right after a step's write: the step runs again and the run completes", async () => {
    const w = world();
    const store = new MemoryInstanceStore();
    const first = host(w, store, (p) => p.afterActivity === Activities.failoverSqlGroup);
    await first.start(Orchestrations.failover, input(), "i1");
    await until(async () => first.crashPoint !== undefined);
    const sqlCallsBefore = w.calls.filter((c) => c.name === Activities.failoverSqlGroup).length;

    const second = host(w, store);
    expect(await second.resume()).toEqual(["i1"]);
    const status = await second.waitForCompletion("i1");
    expect(status.runtimeStatus).toBe("Completed");
    expect((status.output as RunOutput).outcome).toBe("completed");
    expect(w.calls.filter((c) => c.name === Activities.failoverSqlGroup).length).toBeGreaterThan(sqlCallsBefore);
  });
});

describe("long-running operations (the Durable monitor pattern)", () => {
  it("polls each started operation on durable timers until it succeeds, then calls its step again, which finds nothing left to do", async () => {
    const w = world({ pollsUntilDone: 2 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("completed");
    const sqlStarts = w.calls.filter((c) => c.name === Activities.failoverSqlGroup);
    const sqlPolls = w.calls.filter((c) => c.name === Activities.pollSqlFailover);
    const storagePolls = w.calls.filter((c) => c.name === Activities.pollStorageFailover);
    expect(sqlStarts).toHaveLength(plan.sql.length * 2);
    expect(sqlPolls).toHaveLength(plan.sql.length * 3);
    expect(storagePolls).toHaveLength(plan.storage.length * 3);
    const order = names(w);
    expect(order.lastIndexOf(Activities.pollStorageFailover)).toBeLessThan(order.indexOf(Activities.switchAppService));
  });

  it("keeps the method of the first call (what was done) in the data tier's result", async () => {
    const w = world({ pollsUntilDone: 0, primaryHealthy: false, maxLagSeconds: 12 });
    const output = await runToEnd(w);
    expect(output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "rpo-gate", rpoExposureSeconds: 12 });
  });

  it("fails the step when an operation outlives its deadline, without switching traffic", async () => {
    const w = world({ pollsUntilDone: 10_000 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("failed");
    expect(output.message).toMatch(/did not end within 600 s of Azure time/);
    expect(names(w)).not.toContain(Activities.switchFrontDoorStandard);
    // The journal says so in the shape the report reads: outcome and detail.
    const finished = w.calls.filter((c) => c.name === Activities.journal).flatMap((c) => c.input.entries).filter((e: { kind: string; step?: string }) => e.kind === "step-finished" && e.step === "data-tier");
    expect(finished).toMatchObject([{ data: { outcome: "failed", detail: expect.stringMatching(/did not end within 600 s/) } }]);
  });
});

describe("long waits for Azure operations (the watch sub-orchestration)", () => {
  /**
   * A failover whose data-tier operations take `hours` of Azure time, polled every minute: `hours` × 60
   * polls, at a scale that makes each interval a millisecond (the deadline is set far off: at this
   * scale a poll's own work takes longer than the minute it stands for).
   */
  async function longWait(hours: number) {
    const w = world({ pollsUntilDone: hours * 60, pollSeconds: 60, deadlineSeconds: 1000 * 86_400 });
    const store = new MeasuringStore();
    const h = host(w, store);
    await h.start(Orchestrations.failover, input({ options: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 }, timeScale: 1_000_000 } }), "i1");
    const status = await h.waitForCompletion("i1");
    return { w, store, output: status.output as RunOutput };
  }

  it("waits 24 hours of Azure time for an operation with the run's history and every watch execution's under a bound", async () => {
    const day = await longWait(24);
    const hour = await longWait(1);

    expect(day.output.outcome, day.output.message).toBe("completed");
    const polls = day.w.calls.filter((c) => c.name === Activities.pollSqlFailover).length / plan.sql.length;
    expect(polls).toBe(24 * 60 + 1);
    const runBytes = day.store.largestOf((id) => id === "i1");
    const watchBytes = day.store.largestOf((id) => id.includes(":watch-"));
    // The run's history does not grow with the wait: a day's wait leaves it as large as an hour's
    // (the watch's two events, whatever its length), give or take its request ids.
    expect(runBytes).toBeLessThan(hour.store.largestOf((id) => id === "i1") + 16 * 1024);
    // Each watch execution holds at most POLLS_PER_EXECUTION polls of history.
    expect(watchBytes).toBeLessThan(hour.store.largestOf((id) => id.includes(":watch-")) + 16 * 1024);
    expect(watchBytes).toBeLessThan(64 * 1024);
    console.log(`history after a 24 h wait: run ${runBytes} bytes, largest watch execution ${watchBytes} bytes (1 h wait: run ${hour.store.largestOf((id) => id === "i1")}, watch ${hour.store.largestOf((id) => id.includes(":watch-"))})`);
  }, 120_000);
});

describe("a failback's long wait for re-protection (the reprotect sub-orchestration)", () => {
  it("waits 72 hours of Azure time (864 rounds 5 minutes apart) with the run's history under the bound an hour's wait gives", async () => {
    const measure = async (rounds: number) => {
      const w = world({ reprotectRounds: rounds });
      const store = new MeasuringStore();
      const h = host(w, store);
      await h.start(Orchestrations.failback, input({ kind: "failback", mode: "planned", from: S, to: P, options: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 }, timeScale: 1_000_000, reprotectionHorizonSeconds: 10 ** 9 } }), "i1");
      const status = await h.waitForCompletion("i1");
      return { w, output: status.output as RunOutput, run: store.largestOf((id) => id === "i1"), wait: store.largestOf((id) => id.endsWith(":reprotect")) };
    };
    expect(plan.storage.length).toBeGreaterThan(0); // a plan with storage to wait for
    const threeDays = await measure(72 * 12);
    const hour = await measure(12);

    expect(threeDays.output.outcome, threeDays.output.message).toBe("completed");
    expect(threeDays.w.calls.filter((c) => c.name === Activities.reprotectStorageAccount).length).toBeGreaterThanOrEqual(72 * 12 * plan.storage.length);
    expect(threeDays.run).toBeLessThan(hour.run + 16 * 1024);
    expect(threeDays.wait).toBeLessThan(hour.wait + 16 * 1024);
    console.log(`history after a 72 h re-protection wait: run ${threeDays.run} bytes, largest wait execution ${threeDays.wait} bytes (1 h: run ${hour.run}, wait ${hour.wait})`);
  }, 120_000);
});

describe("orchestration versions", () => {
  it("finishes a run started under version 1 on version 1's code after an upgrade, where replacing the code in place fails it", async () => {
    // A run under version 1's name, stopped dead in the middle of its inline polls (a deployment).
    const w = world({ pollsUntilDone: 3 });
    const store = new MemoryInstanceStore();
    const before = host(w, store, (p) => p.afterActivity === Activities.pollStorageFailover, { [EarlierOrchestrations.failoverV1]: runOrchestrationV1 });
    await before.start(EarlierOrchestrations.failoverV1, input(), "i1");
    await until(() => before.crashPoint !== undefined);
    const recorded = (await store.get("i1"))!;
    expect(recorded.history.some((e) => e.EventType === 4 && e.Name === Activities.pollSqlFailover)).toBe(true);

    // Upgraded app: every registration of today, version 1 included.
    const upgraded = host(w, store);
    await upgraded.resume();
    const status = await upgraded.waitForCompletion("i1");

    // The same history under version 2's code registered with version 1's name (a change made in place).
    const inPlace = new MemoryInstanceStore();
    await inPlace.put(recorded);
    const replaced = host(w, inPlace, undefined, { [EarlierOrchestrations.failoverV1]: runOrchestration, [Orchestrations.watch]: ORCHESTRATIONS[Orchestrations.watch] });
    await replaced.resume();
    const broken = await replaced.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Completed");
    expect((status.output as RunOutput).outcome).toBe("completed");
    expect(await store.get("run-1:watch-1")).toBeUndefined();
    expect(broken.runtimeStatus).toBe("Failed");
    expect(broken.error).toMatch(/^Non-Deterministic workflow detected: /);
  });

  it("starts new runs under the current version, which waits for operations in watch sub-orchestrations", async () => {
    const w = world({ pollsUntilDone: 2 });
    const store = new MemoryInstanceStore();
    const h = host(w, store);
    await h.start(Orchestrations.failover, input(), "i1");

    const status = await h.waitForCompletion("i1");

    expect((status.output as RunOutput).outcome).toBe("completed");
    expect((await store.get("run-1:watch-1"))?.runtimeStatus).toBe("Completed");
    expect(Orchestrations.failover).not.toBe(EarlierOrchestrations.failoverV1);
  });
});

describe("settings before traffic", () => {
  it("waits for the target to answer healthy after a settings write restarts its sites, before any traffic switch", async () => {
    const w = world({ restartAssessments: 2 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("completed");
    const order = names(w);
    const lastSettings = order.indexOf(Activities.switchAppService);
    const assessesAfter = order.slice(lastSettings, order.indexOf(Activities.switchFrontDoorStandard)).filter((n) => n === Activities.assessRegions);
    // Two unhealthy answers, then healthy ones: two in a row and at least a minute of Azure time after
    // the write (polls 15 s apart, so at least four), then one more right before the switch.
    expect(assessesAfter.length).toBeGreaterThanOrEqual(5);
    expect(order.lastIndexOf(Activities.assessRegions)).toBeLessThan(order.indexOf(Activities.switchFrontDoorStandard));
  });

  it("fails the run without switching traffic when the target never answers healthy after its restart", async () => {
    const w = world({ restartAssessments: 1_000_000 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("failed");
    expect(output.message).toMatch(/did not answer healthy/);
    expect(names(w)).not.toContain(Activities.switchFrontDoorStandard);
  });
});

describe("traffic only to a target that is still healthy", () => {
  it("asks the target again right before the switch, and switches nothing when it went down meanwhile", async () => {
    const w = world({ pollsUntilDone: 1 });
    const acts = activities(w);
    let asked = 0;
    const failing = {
      ...acts,
      [Activities.assessRegions]: async (i: any) => {
        asked++;
        const healthy = i.regions.length === 2; // the run's first assessment (both regions) says healthy; later ones not
        return { ok: true, value: { at: "t", regions: { [P]: { healthy: true, probes: [] }, [S]: { healthy, probes: [] } } } };
      },
    };
    const h = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: failing as never });
    await h.start(Orchestrations.failover, input(), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("failed");
    expect(output.message).toMatch(/stopped answering healthy before traffic was switched/);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(names(w)).not.toContain(Activities.switchFrontDoorStandard);
    expect(names(w)).not.toContain(Activities.switchFrontDoorClassic);
  });
});

describe("verification that does not pass", () => {
  it("fails the run and shows the verify step failed, not ok, with what did not verify", async () => {
    const w = world({ settlingVerifies: 10_000 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("failed");
    expect(output.steps.at(-1)).toMatchObject({ step: "verify", outcome: "failed", detail: "Front Door deployment" });
    expect(output.message).toMatch(/verification failed: Front Door deployment/);
  });
});

describe("verification that settles", () => {
  it("checks again while Front Door propagates, and completes once it has", async () => {
    const w = world({ settlingVerifies: 3 });
    const output = await runToEnd(w);
    expect(output.outcome).toBe("completed");
    expect(w.calls.filter((c) => c.name === Activities.verifyPrimary)).toHaveLength(4);
  });
});

describe("failback re-protection", () => {
  const failback = () => input({ kind: "failback", mode: "planned", from: S, to: P });

  it("re-protects in rounds on durable timers until every account is protected, then fails back", async () => {
    const w = world({ reprotectRounds: 2 });
    const output = await runToEnd(w, failback());
    const order = names(w);
    const beforeDataTier = order.slice(0, order.indexOf(Activities.failoverSqlGroup));
    const rounds = beforeDataTier.filter((n) => n === Activities.reprotectStorageAccount).length / plan.storage.length;
    expect(output.outcome).toBe("completed");
    expect(rounds).toBeGreaterThanOrEqual(3);
    // Once verified, one more round restores what only a home account can get back (zone redundancy).
    expect(order.slice(order.lastIndexOf(Activities.verifyPrimary)).filter((n) => n === Activities.reprotectStorageAccount)).toHaveLength(plan.storage.length);
  });

  it("stops with the failback aborted when an operator aborts the wait", async () => {
    const w = world({ reprotectRounds: 1_000_000 });
    const h = host(w);
    await h.start(Orchestrations.failover, { ...failback(), options: { ...failback().options, reprotectionHorizonSeconds: 10 ** 9 } }, "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string } | undefined)?.waitingFor === "reprotection");
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: false, by: "oncall@contoso.com", reason: "stay in the secondary for now" });
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("stopped-aborted");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
  });

  it("stops the re-protection wait itself when an operator aborts through the run port: at most the round in flight runs after the abort", async () => {
    const w = world({ reprotectRounds: 1_000_000 });
    const h = host(w);
    const runs = new LocalRuns(h);
    const rounds = () => w.calls.filter((c) => c.name === Activities.reprotectStorageAccount).length;
    await runs.start(startInput({ kind: "failback", mode: "planned", from: S, to: P, options: { ...failback().options, reprotectionHorizonSeconds: 10 ** 9 } }));
    await until(async () => (await runs.get(plan.name))?.progress?.waitingFor === "reprotection");

    const atAbort = rounds();
    await runs.approve(plan.name, { approve: false, by: "oncall@contoso.com", reason: "stay in the secondary for now" });
    const view = await runs.waitFor(plan.name);
    const wait = await h.getStatus(reprotectInstanceId(view.runId));

    expect(view.output?.outcome).toBe("stopped-aborted");
    // The run ended after its wait did (it waits for it), and the wait saw the abort itself.
    expect(wait).toMatchObject({ runtimeStatus: "Completed", output: { result: "aborted" } });
    expect(rounds() - atAbort).toBeLessThanOrEqual(plan.storage.length);
  });

  it("ends the re-protection wait too when the run is terminated (an incident pre-empting a failback drill)", async () => {
    const w = world({ reprotectRounds: 1_000_000 });
    const h = host(w);
    const runs = new LocalRuns(h);
    const rounds = () => w.calls.filter((c) => c.name === Activities.reprotectStorageAccount).length;
    const started = await runs.start(startInput({ kind: "failback", mode: "planned", from: S, to: P, options: { ...failback().options, reprotectionHorizonSeconds: 10 ** 9 } }));
    await until(async () => (await runs.get(plan.name))?.progress?.waitingFor === "reprotection");

    await runs.terminate(plan.name, "pre-empted by an incident");
    const wait = await h.waitForCompletion(reprotectInstanceId(started.runId));
    const atEnd = rounds();
    const ended = await runs.waitFor(plan.name);

    expect(wait.runtimeStatus).toBe("Terminated");
    expect(rounds() - atEnd).toBeLessThanOrEqual(plan.storage.length);
    // The run is terminated, not failed by its wait's end (which would journal and notify a failure).
    expect(ended.status).toBe("terminated");
    expect(w.calls.filter((c) => c.name === Activities.notify).map((c) => c.input.event)).not.toContain("failback-stopped");
  });

  it("stops when the abort arrives while a later round's re-protection calls run", async () => {
    const w = world({ reprotectRounds: 1_000_000 });
    const h = host(w);
    w.onReprotect = (call) => {
      if (call === plan.storage.length + 1) void h.raiseEvent("i1", APPROVAL_EVENT, { approve: false, by: "oncall@contoso.com", reason: "not this week" });
    };
    await h.start(Orchestrations.failover, { ...failback(), options: { ...failback().options, reprotectionHorizonSeconds: 10 ** 9 } }, "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("stopped-aborted");
    expect(w.calls.filter((c) => c.name === Activities.reprotectStorageAccount).length).toBeLessThanOrEqual(plan.storage.length * 3);
  });

  it("stops when the abort arrives while re-protection is being checked", async () => {
    const w = world({ reprotectRounds: 0 });
    const acts = activities(w);
    let h!: LocalDurableHost;
    let checks = 0;
    const notYet = { ...acts, [Activities.checkReprotection]: async () => {
      if (++checks === 1) void h.raiseEvent("i1", APPROVAL_EVENT, { approve: false, by: "oncall@contoso.com", reason: "hold" });
      return { ok: true, value: { ok: false, checks: [{ what: "storage", ok: false, detail: "Bootstrap" }] } };
    } };
    h = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: notYet as never });
    await h.start(Orchestrations.failover, failback(), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("stopped-aborted");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
  });

  it("refuses the failback when re-protection does not finish within its horizon", async () => {
    const w = world({ reprotectRounds: 1_000_000 });
    const output = await runToEnd(w, { ...failback(), options: { ...failback().options, reprotectionHorizonSeconds: 1200 } });
    expect(output.outcome).toBe("refused-not-reprotected");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
  });
});

describe("the Functions host's activity timeout, locally", () => {
  it("fails an activity that runs longer than functionTimeout ÷ the time scale, and the run fails in that step", async () => {
    const w = world();
    const acts = activities(w);
    const slow = { ...acts, [Activities.measureReplication]: () => new Promise((resolve) => setTimeout(() => resolve({ ok: true, value: { at: "t", sql: [], storage: [], maxLagSeconds: 0 } }), 300)) };
    const h = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: slow as never, activityTimeoutMs: 50, functionTimeoutMs: 30 * 60_000 });
    await h.start(Orchestrations.failover, input(), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("failed");
    expect(output.message).toContain("Timeout value of 00:30:00 was exceeded by function: Functions.measureReplication");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
  });
});

describe("failover orchestration replay", () => {
  const require = createRequire(import.meta.url);
  const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js");
  const handler = new Orchestrator(runOrchestration).listen();
  const T0 = "2026-01-01T00:00:00.000Z";
  const trigger = (history: unknown[]) => orchestratorTrigger(structuredClone(history), input(), "i1");
  const started = [
    { EventType: 12, EventId: -1, IsPlayed: false, Timestamp: T0 },
    { EventType: 0, EventId: -1, IsPlayed: false, Timestamp: T0, Name: Orchestrations.failover, Input: JSON.stringify(input()) },
  ];

  it("journals the run's start first, before anything else", async () => {
    const state = await handler(trigger(started), new df.DummyOrchestrationContext());
    const [first] = state.actions.flat().flatMap((x: { compoundActions?: unknown[] }) => x.compoundActions ?? [x]);
    expect(first).toMatchObject({ actionType: 0, functionName: Activities.journal });
    expect(first.input.entries[0]).toMatchObject({ kind: "run-started", data: { plan: plan.name, rtoTargetSeconds: plan.objectives.rtoMinutes * 60 } });
  });

  it("replays the same history to the same actions (determinism)", async () => {
    const history = [
      ...started,
      { EventType: 4, EventId: 0, IsPlayed: false, Timestamp: T0, Name: Activities.journal },
      { EventType: 13, EventId: -1, IsPlayed: false, Timestamp: T0 },
      { EventType: 12, EventId: -1, IsPlayed: false, Timestamp: "2026-01-01T00:00:01.000Z" },
      { EventType: 5, EventId: -1, IsPlayed: false, Timestamp: "2026-01-01T00:00:01.000Z", TaskScheduledId: 0, Result: JSON.stringify({ ok: true, value: null }) },
    ];
    const a = await handler(trigger(history), new df.DummyOrchestrationContext());
    const b = await handler(trigger(history), new df.DummyOrchestrationContext());
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const names = a.actions.flat().flatMap((x: { compoundActions?: unknown[] }) => x.compoundActions ?? [x]).map((x: { functionName?: string }) => x.functionName);
    expect(names).toEqual([Activities.journal, Activities.notify]);
    expect(a.customStatus).toBeUndefined();
  });
});

async function until(condition: () => Promise<unknown> | unknown, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}

describe("classic Front Door waves", () => {
  it("puts at most one entry per Front Door in each wave, keeping plan order", async () => {
    const { classicWaves } = await import("../../src/orchestrations/run.ts");
    expect(classicWaves(["/a", "/b", "/A", "/c", "/a"])).toEqual([[0, 1, 3], [2], [4]]);
    expect(classicWaves([])).toEqual([]);
  });
});

describe("run ids", () => {
  it("name their plan, time and kind, and give the plan back", async () => {
    const { newRunId, planOfRunId } = await import("../../src/core/run/model.ts");
    const id = newRunId("contoso-orders", "failover", new Date("2026-11-28T13:51:29.951Z"), () => 0.5);
    expect(id).toBe("contoso-orders.20261128T135129Z.failover-8000");
    expect(planOfRunId(id)).toBe("contoso-orders");
    expect(planOfRunId("../etc/passwd")).toBeUndefined();
  });
});

describe("data-loss gate", () => {
  it("lets an operator's forced request through only while the primary is unreachable", async () => {
    const { decideDataLoss } = await import("../../src/core/run/gates.ts");
    expect(decideDataLoss({ mode: "forced", primaryHealthy: true, maxLagSeconds: null, rpoSeconds: 60 }).kind).toBe("planned");
    expect(decideDataLoss({ mode: "forced", primaryHealthy: false, maxLagSeconds: null, rpoSeconds: 60 })).toMatchObject({ kind: "forced", by: "operator" });
    expect(decideDataLoss({ mode: "auto", primaryHealthy: false, maxLagSeconds: 61, rpoSeconds: 60 }).kind).toBe("needs-approval");
    expect(decideDataLoss({ mode: "auto", primaryHealthy: false, maxLagSeconds: 60, rpoSeconds: 60 })).toMatchObject({ kind: "forced", by: "rpo-gate" });
    // Planned mode never loses data without a human: with the primary unreachable it asks, even within the RPO.
    expect(decideDataLoss({ mode: "planned", primaryHealthy: false, maxLagSeconds: 0, rpoSeconds: 60 }).kind).toBe("needs-approval");
    expect(decideDataLoss({ mode: "planned", primaryHealthy: true, maxLagSeconds: 0, rpoSeconds: 60 }).kind).toBe("planned");
  });
});

describe("a manual planned failover with the primary unreachable", () => {
  it("asks for approval in the same step, with the same wait and notification as an automatic run, and completes once approved", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: 5 });
    const h = host(w);
    await h.start(Orchestrations.failover, input({ mode: "planned" }), "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string; step?: string } | undefined)?.waitingFor === "approval");
    expect(((await h.getStatus("i1"))!.customStatus as { step: string }).step).toBe("approval");
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
    expect(w.calls.filter((c) => c.name === Activities.notify).map((c) => c.input.event)).toContain("approval-needed");
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: true, by: "oncall@contoso.com", reason: "region gone" });
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "approval" });
    expect(w.calls.filter((c) => c.name === Activities.failoverSqlGroup).every((c) => c.input.allowDataLoss)).toBe(true);
  });

  it("still goes straight to a planned failover under version 2 (runs in flight finish on their own rules)", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: 5 });
    const h = host(w);
    await h.start(EarlierOrchestrations.failoverV2, input({ mode: "planned" }), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.steps.map((s) => s.step)).not.toContain("approval");
    expect(w.calls.filter((c) => c.name === Activities.failoverSqlGroup).every((c) => !c.input.allowDataLoss)).toBe(true);
  });
});

describe("a run's status follows its outcome", () => {
  it("is completed only for a completed outcome: failed for a failed run, stopped for a refused or stopped one", async () => {
    const { runStateOf } = await import("../../src/core/run/model.ts");
    expect(runStateOf("completed", { outcome: "completed" })).toBe("completed");
    expect(runStateOf("completed", { outcome: "failed" })).toBe("failed");
    for (const outcome of ["stopped-aborted", "stopped-approval-timeout", "refused-target-unhealthy", "refused-not-reprotected"] as const) expect(runStateOf("completed", { outcome })).toBe("stopped");
    expect(runStateOf("running")).toBe("running");
    expect(runStateOf("terminated")).toBe("terminated");
  });
});

describe("an operation that ended without being applied", () => {
  it("is started again after a journaled backoff, and the run completes", async () => {
    const { OperationEndedError } = await import("../../src/activities/operations.ts");
    const ended = () => new OperationEndedError("the failover ended Failed", { operation: "FailoverGroups_Failover" });
    const w = world({ pollsUntilDone: 0, failures: { [Activities.pollSqlFailover]: [ended()] } });
    const output = await runToEnd(w);
    expect(output.outcome, output.message).toBe("completed");
    const journaled = w.calls.filter((c) => c.name === Activities.journal).flatMap((c) => c.input.entries);
    expect(journaled.filter((e: { kind: string; data?: { code?: string } }) => e.kind === "wait" && e.data?.code === "OperationEnded")).toMatchObject([{ step: "data-tier", data: { attempt: 2, maxAttempts: 3 } }]);
    // The data-tier calls were made again after the failed poll.
    expect(names(w).lastIndexOf(Activities.failoverSqlGroup)).toBeGreaterThan(names(w).indexOf(Activities.pollSqlFailover));
  });

  it("fails the step under version 2, as it did", async () => {
    const { OperationEndedError } = await import("../../src/activities/operations.ts");
    const w = world({ pollsUntilDone: 0, failures: { [Activities.pollSqlFailover]: [new OperationEndedError("the failover ended Failed", { operation: "FailoverGroups_Failover" })] } });
    const h = host(w);
    await h.start(EarlierOrchestrations.failoverV2, input(), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    expect(output.outcome).toBe("failed");
    expect(output.message).toContain("POST /api/runs/run-1/resume");
  });
});

describe("terminating a run", () => {
  it("ends a run waiting for approval at once: nothing further runs, and waiters hear of it", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const h = host(w);
    await h.start(Orchestrations.failover, input(), "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    const finished = h.waitForCompletion("i1");

    await h.terminate("i1", "an incident pre-empts this drill");

    expect(await finished).toMatchObject({ runtimeStatus: "Terminated", error: "an incident pre-empts this drill" });
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: true, by: "late", reason: "too late" }).catch(() => undefined);
    expect(names(w)).not.toContain(Activities.failoverSqlGroup);
    await h.start(Orchestrations.failover, input({ runId: "run-2" }), "i1");
    expect((await h.getStatus("i1"))?.runtimeStatus).toMatch(/Pending|Running/);
    await h.terminate("i1", "cleanup");
  });
});

describe("failover orchestration replay of a whole recorded run", () => {
  const require = createRequire(import.meta.url);
  const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js");
  const handler = new Orchestrator(runOrchestration).listen();
  const flatten = (actions: any[]): any[] => actions.flatMap((a) => (a.compoundActions ? flatten(a.compoundActions) : [a]));

  it("replays every episode of a run (approval wait, throttled retries, parallel data tier) to exactly the recorded schedule, twice", async () => {
    // Record: a forced failover that waits for approval, with a throttled step retried on a timer.
    const throttled = () => new SwitchyardError("429", { code: "AzureRequestFailed", retryable: true, retryAfterSeconds: 0 });
    const w = world({ primaryHealthy: false, maxLagSeconds: null, failures: { [Activities.switchFrontDoorStandard]: [throttled()] } });
    const store = new MemoryInstanceStore();
    const h = host(w, store);
    const runInput = input();
    await h.start(Orchestrations.failover, runInput, "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: true, by: "oncall", reason: "region lost" });
    expect(((await h.waitForCompletion("i1")).output as RunOutput).outcome).toBe("completed");
    const history = (await store.get("i1"))!.history;

    // The schedule as recorded: every TaskScheduled / TimerCreated, in order.
    const scheduling = (e: { EventType: number }) => e.EventType === 4 || e.EventType === 10;
    const recorded = history.filter(scheduling).map((e: any) => (e.EventType === 4 ? e.Name : "timer"));
    expect(recorded).toContain("timer");

    // Replay each episode from the history it was given, and compare with what was recorded by then.
    const starts = history.flatMap((e: any, i: number) => (e.EventType === 12 ? [i] : []));
    let episodes = 0;
    for (const start of starts) {
      let end = start + 1;
      while (end < history.length && !scheduling(history[end]!) && history[end]!.EventType !== 13) end++;
      const given = history.slice(0, end).map((e: any) => ({ ...e }));
      const trigger = orchestratorTrigger(given, runInput, "i1");
      const a = await handler(structuredClone(trigger), new df.DummyOrchestrationContext());
      const b = await handler(structuredClone(trigger), new df.DummyOrchestrationContext());
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      const replayed = flatten(a.actions.flat()).filter((x) => x.actionType !== 6).map((x) => (x.actionType === 5 ? "timer" : x.functionName));
      const scheduledByThen = history.slice(0, history.findIndex((e: any, i: number) => i >= end && e.EventType === 13) + 1).filter(scheduling).length;
      expect(replayed).toEqual(recorded.slice(0, scheduledByThen));
      episodes++;
    }
    expect(episodes).toBeGreaterThan(10);
  });
});

describe("notices (version 4)", () => {
  const notices = (w: World) => w.calls.filter((c) => c.name === Activities.notify).map((c) => c.input as { id: string; kind: string; at: string; severity: string; incident?: { key: string; action: string } });

  it("reminds at half the approval timeout, then stops at the deadline; every notice numbered in order", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const output = await runToEnd(w, input({ options: { approvalTimeoutSeconds: 0.2 } }));
    const sent = notices(w);
    expect(output.outcome).toBe("stopped-approval-timeout");
    expect(sent.map((n) => n.kind)).toEqual(["run-started", "approval-needed", "approval-reminder", "run-finished"]);
    expect(sent.map((n) => n.id)).toEqual(["run-1.1.run-started", "run-1.2.approval-needed", "run-1.3.approval-reminder", "run-1.4.run-finished"]);
    // The reminder's durable timer fires at half the time, not before.
    expect(Date.parse(sent[2]!.at) - Date.parse(sent[1]!.at)).toBeGreaterThanOrEqual(100);
    // What needs a person opens the run's incident; a stop keeps it open.
    expect(sent.slice(1).map((n) => n.incident?.action)).toEqual(["trigger", "trigger", "trigger"]);
  });

  it("sends no reminder when the answer comes first, and notifies the answer; a completed run resolves the incident", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: 3600 });
    const h = host(w);
    await h.start(Orchestrations.failover, input({ options: { approvalTimeoutSeconds: 600 } }), "i1");
    await until(async () => ((await h.getStatus("i1"))?.customStatus as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    await h.raiseEvent("i1", APPROVAL_EVENT, { approve: true, by: "oncall@contoso.com", reason: "region gone" });
    const output = (await h.waitForCompletion("i1")).output as RunOutput;
    const sent = notices(w);
    expect(output.outcome).toBe("completed");
    expect(sent.map((n) => n.kind)).toEqual(["run-started", "approval-needed", "approval-answered", "run-finished"]);
    expect(sent.at(-1)!.incident).toEqual({ key: "switchyard/contoso-orders/runs", action: "resolve" });
  });

  it("gives a notice the same id when its activity runs again after a crash (the outbox deduplicates on it)", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const store = new MemoryInstanceStore();
    let crashes = 0;
    const first = host(w, store, (p) => p.afterActivity === Activities.notify && crashes++ === 1);
    await first.start(Orchestrations.failover, input({ options: { approvalTimeoutSeconds: 0.05 } }), "i1");
    await until(async () => first.crashPoint !== undefined);
    const second = host(w, store);
    await second.resume();
    await second.waitForCompletion("i1");
    const ids = notices(w).map((n) => n.id);
    // The approval notice ran twice (crash before its result was kept), under one id.
    expect(ids.filter((id) => id === "run-1.2.approval-needed")).toHaveLength(2);
    expect(new Set(ids).size).toBe(ids.length - 1);
  });

  it("notifies a step that failed for good before the run's end", async () => {
    const w = world({ failures: { [Activities.failoverSqlGroup]: [new PreconditionError("planned failover impossible", "PlannedFailoverImpossible")] } });
    await runToEnd(w);
    const sent = notices(w);
    expect(sent.map((n) => n.kind)).toEqual(["run-started", "step-failed", "run-finished"]);
    expect(sent[1]!.severity).toBe("critical");
  });

  it("keeps version 3 runs on version 3's notices: no reminder, no answer notice", async () => {
    const w = world({ primaryHealthy: false, maxLagSeconds: null });
    const h = host(w);
    await h.start(EarlierOrchestrations.failoverV3, input({ options: { approvalTimeoutSeconds: 0.1 } }), "i1");
    expect(((await h.waitForCompletion("i1")).output as RunOutput).outcome).toBe("stopped-approval-timeout");
    expect(notices(w).map((n) => n.kind)).toEqual(["run-started", "approval-needed", "run-finished"]);
  });
});
