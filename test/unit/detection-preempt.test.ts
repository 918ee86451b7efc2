import { describe, expect, it } from "vitest";
import type { Signal } from "../../src/core/detection/model.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import { type ApprovalEvent, type RunInput } from "../../src/core/run/model.ts";
import { RunInProgressError, type RunPort, type RunView } from "../../src/core/run/port.ts";
import { RESERVATION_GRACE_MS } from "../../src/core/run/reservation.ts";
import { detectionJournalId, evaluatePlan } from "../../src/detection/evaluate.ts";
import { PreemptionTimeoutError, preemptWith } from "../../src/detection/preempt.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { waitingRunHost } from "../helpers/waitingRunHost.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import { PRIMARY, SECONDARY, T0, iso, testPlan } from "../helpers/detectionPlan.ts";

/*
 * An incident pre-empts a drill: terminate is queued (Azure answers 202 while the instance is still
 * Running), so the pre-emption waits, bounded, for the drill to be terminated before the failover starts.
 */

/**
 * A run port whose terminate is queued, as the Durable client's is: the run stays running for
 * `pollsUntilTerminated` reads after terminate (never, when Infinity), then is terminated. Every call
 * goes to `calls`, in order.
 */
class QueuedTerminateRuns implements RunPort {
  readonly calls: string[] = [];
  readonly starts: RunInput[] = [];
  current?: RunView;
  private readsLeft?: number;

  constructor(private readonly pollsUntilTerminated: number) {}

  async start(input: RunInput): Promise<RunView> {
    if (this.current && (this.current.status === "running" || this.current.status === "pending")) {
      this.calls.push(`refused ${input.runId}`);
      throw new RunInProgressError(input.plan.name, this.current.runId);
    }
    this.calls.push(`start ${input.runId}`);
    this.starts.push(input);
    this.current = { instanceId: `switchyard-${input.plan.name}`, runId: input.runId, status: "running", kind: input.kind, from: input.from, to: input.to, trigger: input.trigger };
    return this.current;
  }

  async get(): Promise<RunView | undefined> {
    if (this.current && this.readsLeft !== undefined) {
      if (this.readsLeft <= 0) {
        this.current = { ...this.current, status: "terminated" };
        this.readsLeft = undefined;
      } else this.readsLeft--;
    }
    if (this.current) this.calls.push(`get ${this.current.status}`);
    return this.current;
  }

  async approve(_plan: string, _approval: ApprovalEvent): Promise<void> {}

  async terminate(_plan: string, reason: string): Promise<void> {
    this.calls.push(`terminate: ${reason}`);
    if (this.current?.status === "running" && this.readsLeft === undefined) this.readsLeft = this.pollsUntilTerminated;
  }

  /** The runtime finally applies the termination. */
  applyTermination(): void {
    this.current = { ...this.current!, status: "terminated" };
    this.readsLeft = undefined;
  }
}

/** A clock that only moves when the code under test sleeps (or the test sets it). */
function fakeTime(startMs = T0) {
  const time = { nowMs: startMs, sleeps: [] as number[] };
  return Object.assign(time, {
    clock: () => new Date(time.nowMs),
    sleep: async (ms: number) => {
      time.sleeps.push(ms);
      time.nowMs += ms;
    },
  });
}

const plan = testPlan();
const drillInput = (): RunInput => ({
  runId: "detect-test.20300101T000000Z.drill-failover-0001",
  kind: "failover",
  mode: "auto",
  plan,
  from: PRIMARY,
  to: SECONDARY,
  trigger: { source: "drill", by: "switchyard drill", reason: "game day", detectedAt: iso(0) },
});

describe("preemptWith: terminate, then wait for the run to end", () => {
  it("resolves only once the run port shows the run terminated, polling every second", async () => {
    const runs = new QueuedTerminateRuns(3);
    await runs.start(drillInput());
    const time = fakeTime();

    await preemptWith(runs, { clock: time.clock, sleep: time.sleep })(runs.current!, "pre-empted by an incident");

    expect(runs.calls.slice(1)).toEqual(["terminate: pre-empted by an incident", "get running", "get running", "get running", "get terminated"]);
    expect(time.sleeps).toEqual([1000, 1000, 1000]);
  });

  it("gives up after the bound with a clear error when the run never ends, having waited no longer", async () => {
    const runs = new QueuedTerminateRuns(Infinity);
    await runs.start(drillInput());
    const time = fakeTime();

    const preempt = preemptWith(runs, { clock: time.clock, sleep: time.sleep, pollIntervalMs: 1000, timeoutMs: 60_000 })(runs.current!, "pre-empted");

    await expect(preempt).rejects.toThrow(PreemptionTimeoutError);
    await expect(preempt).rejects.toThrow(/run detect-test\.20300101T000000Z\.drill-failover-0001 was told to terminate but is still running after 60 s/);
    expect(time.nowMs - T0).toBe(60_000);
    expect(runs.calls.filter((c) => c.startsWith("terminate"))).toHaveLength(1);
  });

  it("ends its wait after the bound's number of polls even with a clock that does not move", async () => {
    const runs = new QueuedTerminateRuns(Infinity);
    await runs.start(drillInput());
    let sleeps = 0;

    const preempt = preemptWith(runs, { clock: () => new Date(T0), sleep: async () => void sleeps++, pollIntervalMs: 1000, timeoutMs: 5000 })(runs.current!, "pre-empted");

    await expect(preempt).rejects.toThrow(PreemptionTimeoutError);
    expect(sleeps).toBe(5);
  });
});

/** One round of probe observations: the primary's endpoints down or up, the secondary's up. */
function round(p: Plan, seconds: number, primaryDown: boolean): Signal[] {
  return [p.regions.primary, p.regions.secondary].flatMap((region) =>
    region.healthEndpoints.map((e): Signal => {
      const down = primaryDown && region.name === PRIMARY;
      return { plan: p.name, region: region.name, source: "probe", name: e.url, status: down ? "down" : "up", at: iso(seconds) };
    }),
  );
}

/** A drill running (started through the reservation at 0 s), then the primary goes down. */
async function drillThenOutage(pollsUntilTerminated: number) {
  const inner = new QueuedTerminateRuns(pollsUntilTerminated);
  const store = new MemoryPlanStateStore();
  const journal = new MemoryJournal();
  const time = fakeTime();
  const runs = new ReservingRuns(inner, { store, clock: time.clock });
  await runs.start(drillInput());
  const deps = { store, journal, runs, clock: time.clock, preemptDrill: preemptWith(runs, { clock: time.clock, sleep: time.sleep }) };
  const tick = (seconds: number) => {
    time.nowMs = T0 + seconds * 1000;
    return evaluatePlan(plan, round(plan, seconds, true), deps);
  };
  const messages = async () => (await journal.read(detectionJournalId(plan.name, new Date(T0)))).map((e) => e.message);
  return { inner, store, tick, messages };
}

describe("an incident pre-empts a drill whose termination is queued", () => {
  it("starts the failover after the drill is terminated, and the drill's reservation does not block it", async () => {
    const t = await drillThenOutage(4);

    // The primary is declared down at 240 s, while the drill's reservation (0 s) is within its grace period.
    expect(240_000).toBeLessThan(RESERVATION_GRACE_MS);
    let summary;
    for (let s = 0; s <= 240; s += 60) summary = await t.tick(s);

    expect(summary!.preempted).toBe(drillInput().runId);
    expect(summary!.started?.runId).toMatch(/auto-failover/);
    const calls = t.inner.calls;
    const terminatedAt = calls.indexOf("get terminated");
    expect(calls.indexOf(`start ${summary!.started!.runId}`)).toBeGreaterThan(terminatedAt);
    expect(calls.slice(calls.findIndex((c) => c.startsWith("terminate")), terminatedAt).filter((c) => c === "get running")).toHaveLength(4);
    expect(calls.filter((c) => c.startsWith("refused"))).toEqual([]);
    expect((await t.store.get(plan.name)).state.activeRun?.runId).toBe(summary!.started!.runId);
    expect(await t.messages()).toContainEqual(`drill ${drillInput().runId} pre-empted: the primary is down`);
  });

  it("a drill that is not terminated within the bound: nothing starts, the journal says why, counters untouched; the next evaluation starts the failover", async () => {
    const t = await drillThenOutage(Infinity);
    let summary;
    for (let s = 0; s <= 240; s += 60) summary = await t.tick(s);

    expect(summary!.started).toBeUndefined();
    expect(summary!.preempted).toBeUndefined();
    expect(summary!.decision).toMatchObject({ start: false, code: "run-in-progress", preemptDrill: true });
    expect(t.inner.starts.map((s) => s.runId)).toEqual([drillInput().runId]);
    expect((await t.messages()).at(-1)).toMatch(
      new RegExp(`^drill ${drillInput().runId.replace(/\./g, "\\.")} could not be pre-empted: .*still running after 60 s`),
    );
    const { state } = await t.store.get(plan.name);
    expect(state.policy.autoFailovers).toEqual([]);
    expect(state.policy.lastRunAt).toBeUndefined();
    expect(state.activeRun?.runId).toBe(drillInput().runId);

    t.inner.applyTermination();
    const retried = await t.tick(300);

    expect(retried.started?.runId).toMatch(/auto-failover/);
    expect(t.inner.starts).toHaveLength(2);
  });
});

describe("pre-emption over the real local durable host (terminate applied in a later episode)", () => {
  it("waits until the host has terminated the drill, after which the incident's run starts", async () => {
    const host = waitingRunHost({
      // The terminate message reaches the idle instance 50 ms after it was sent.
      controlQueueDelayMs: 50,
    });
    const local = new LocalRuns(host);
    const seen: RunView["status"][] = [];
    const watched: RunPort = {
      start: (run) => local.start(run),
      get: async (name) => {
        const run = await local.get(name);
        if (run) seen.push(run.status);
        return run;
      },
      approve: (name, approval) => local.approve(name, approval),
      terminate: (name, reason) => local.terminate(name, reason),
    };
    const runs = new ReservingRuns(watched, { store: new MemoryPlanStateStore(), clock: () => new Date(T0) });
    try {
      const drill = await runs.start(drillInput());

      await preemptWith(runs, { pollIntervalMs: 5, timeoutMs: 5_000 })(drill, "pre-empted by an incident");
      const incident = await runs.start({ ...drillInput(), runId: "detect-test.20300101T000400Z.auto-failover-0002", trigger: { source: "alert", by: "test", reason: "outage", detectedAt: iso(240) } });

      expect(seen.at(0)).toBe("running");
      expect(seen.at(-1)).toBe("terminated");
      expect(incident.runId).toBe("detect-test.20300101T000400Z.auto-failover-0002");
      expect(await local.get(plan.name)).toMatchObject({ runId: incident.runId });
    } finally {
      host.stop();
    }
  });
});
