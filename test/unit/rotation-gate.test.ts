/**
 * Rotation and failover kept apart through the plan's state document (src/rotation/gate.ts): a step
 * holds a lease while it works and is refused while a run holds the plan; a run's start, once it has
 * reserved the plan, waits for the step under way. In-memory state store, a manual clock, an injected
 * sleep: no timers.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { STEP_LEASE_MS, type RotationStepInput, type RotationStepLease } from "../../src/core/rotation/model.ts";
import { newRunId, type RunInput } from "../../src/core/run/model.ts";
import { reserveRun } from "../../src/core/run/reservation.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { holdRotationStep, RotationDeferredError, waitForRotationSteps } from "../../src/rotation/gate.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { ManualClock } from "../helpers/clock.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

const plan = parsePlanText(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8"), "harbor");
const T0 = new Date("2026-03-02T08:00:00Z");

/** A step of the secret's rotation (one rotation per secret). */
const stepOf = (secret: string, step: RotationStepInput["step"] = "create"): RotationStepInput => ({ rotationId: `${plan.name}.20260302T080000Z.rotate-${secret}`, plan: plan.name, secret, step });

function failoverInput(clock: ManualClock): RunInput {
  const [from, to] = [plan.regions.primary.name, plan.regions.secondary.name];
  return { runId: newRunId(plan.name, "failover", clock.now()), kind: "failover", mode: "planned", plan, from, to, trigger: { source: "manual", by: "oncall", reason: "drill", detectedAt: clock.now().toISOString() } };
}

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

function world() {
  const clock = new ManualClock(T0);
  const store = new MemoryPlanStateStore();
  const runs = new MemoryRuns();
  const deps = { store, clock: clock.now, runs: { get: () => runs.get() } };
  const leases = async () => (await store.get(plan.name)).state.rotationSteps;
  return { clock, store, runs, deps, leases };
}

describe("holdRotationStep", () => {
  it("holds the step's lease on the plan while the work runs, and releases it after", async () => {
    const { deps, leases } = world();
    const input = stepOf("bookings-storage-key", "replicate");
    let during: Record<string, RotationStepLease> | undefined;

    const result = await holdRotationStep(deps, input, async () => {
      during = await leases();
      return "done";
    });

    expect(result).toBe("done");
    expect(during).toEqual({
      "bookings-storage-key": { rotationId: input.rotationId, secret: input.secret, step: "replicate", since: T0.toISOString(), until: new Date(T0.getTime() + STEP_LEASE_MS).toISOString() },
    });
    expect(await leases()).toBeUndefined();
  });

  it("releases the lease when the work fails, and passes the failure on", async () => {
    const { deps, leases } = world();

    const attempt = holdRotationStep(deps, stepOf("partner-api-token"), async () => {
      throw new Error("SetSecret answered 503");
    });

    await expect(attempt).rejects.toThrow("SetSecret answered 503");
    expect(await leases()).toBeUndefined();
  });

  it("leaves another secret's lease alone when it releases its own", async () => {
    const { deps, leases } = world();
    const inner = gate();
    const entered = gate();
    const storage = holdRotationStep(deps, stepOf("bookings-storage-key"), async () => {
      entered.open();
      await inner.promise;
    });
    await entered.promise;

    await holdRotationStep(deps, stepOf("partner-api-token", "verify"), async () => undefined);

    expect(Object.keys((await leases()) ?? {})).toEqual(["bookings-storage-key"]);
    inner.open();
    await storage;
    expect(await leases()).toBeUndefined();
  });

  it("refuses as deferred while a run is running, without a lease and without starting the work", async () => {
    const { deps, runs, clock, leases } = world();
    const run = await runs.start(failoverInput(clock));
    let worked = false;

    const attempt = holdRotationStep(deps, stepOf("bookings-storage-key"), async () => {
      worked = true;
    });

    await expect(attempt).rejects.toBeInstanceOf(RotationDeferredError);
    await expect(attempt).rejects.toMatchObject({ code: "RotationDeferredByRun", retryable: true, runId: run.runId, plan: plan.name });
    expect(worked).toBe(false);
    expect(await leases()).toBeUndefined();
  });

  it("refuses as deferred while a run's reservation holds the plan (its start in flight), and begins once the run has ended", async () => {
    const { deps, store, runs, clock, leases } = world();
    const input = failoverInput(clock);
    await store.update(plan.name, (state) => {
      const decision = reserveRun(state, { runId: input.runId, kind: "failover", view: undefined, now: clock.now() });
      return decision.reserved ? decision.state : state;
    });

    await expect(holdRotationStep(deps, stepOf("bookings-storage-key"), async () => undefined)).rejects.toMatchObject({ runId: input.runId });
    expect(await leases()).toBeUndefined();

    // The run starts and completes: its reservation no longer holds the plan.
    await runs.start(input);
    runs.complete(clock.advance(60_000).toISOString());
    await expect(holdRotationStep(deps, stepOf("bookings-storage-key"), async () => "rotated")).resolves.toBe("rotated");
  });
});

describe("waitForRotationSteps", () => {
  it("returns at once when no step holds the plan", async () => {
    const { store, clock } = world();
    const slept: number[] = [];

    const waited = await waitForRotationSteps(plan.name, { store, clock: clock.now, sleep: async (ms) => void slept.push(ms) });

    expect(waited).toEqual([]);
    expect(slept).toEqual([]);
  });

  it("reads nothing when the state the caller wrote shows no step under way (a run's start: one update, no further read)", async () => {
    const { store, clock } = world();
    const written = await store.update(plan.name, (state) => state);
    let reads = 0;
    const counting = { get: (name: string) => (reads++, store.get(name)) };

    expect(await waitForRotationSteps(plan.name, { state: written, store: counting, clock: clock.now })).toEqual([]);
    expect(reads).toBe(0);
  });

  it("waits for a lease that is never released (a crashed step) until it lapses, and no longer", async () => {
    const { store, clock } = world();
    const lease: RotationStepLease = { rotationId: "r1", secret: "bookings-storage-key", step: "apply", since: T0.toISOString(), until: new Date(T0.getTime() + STEP_LEASE_MS).toISOString() };
    await store.update(plan.name, (state) => ({ ...state, rotationSteps: { [lease.secret]: lease } }));
    let slept = 0;

    const waited = await waitForRotationSteps(plan.name, { store, clock: clock.now, sleep: async (ms) => {
        slept += ms;
        clock.advance(ms);
      },
    });

    expect(waited).toEqual([lease]);
    expect(slept).toBe(STEP_LEASE_MS);
  });

  it("does not wait for a lease dated far ahead (written by a clock far off) or one already over", async () => {
    const { store, clock } = world();
    const far: RotationStepLease = { rotationId: "r1", secret: "a", step: "create", since: T0.toISOString(), until: new Date(T0.getTime() + 10 * STEP_LEASE_MS).toISOString() };
    const over: RotationStepLease = { rotationId: "r2", secret: "b", step: "retire", since: new Date(T0.getTime() - 2 * STEP_LEASE_MS).toISOString(), until: new Date(T0.getTime() - STEP_LEASE_MS).toISOString() };
    await store.update(plan.name, (state) => ({ ...state, rotationSteps: { a: far, b: over } }));
    const slept: number[] = [];

    expect(await waitForRotationSteps(plan.name, { store, clock: clock.now, sleep: async (ms) => void slept.push(ms) })).toEqual([]);
    expect(slept).toEqual([]);
  });
});

describe("a run's start while a rotation step holds the plan", () => {
  it("reserves the plan, waits for the step to end, then starts the run; a step that comes after the reservation is refused", async () => {
    const { deps, store, runs, clock, leases } = world();
    const order: string[] = [];
    const inner = gate();
    const entered = gate();
    const step = holdRotationStep(deps, stepOf("bookings-storage-key", "apply"), async () => {
      entered.open();
      await inner.promise;
      order.push("step ended");
    });
    await entered.promise;
    const started = { start: runs.start.bind(runs) };
    runs.start = async (input) => {
      order.push("run started");
      return started.start(input);
    };
    let refusedMeanwhile: unknown;
    const sleeps: number[] = [];
    const reserving = new ReservingRuns(runs, {
      store,
      clock: clock.now,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
        if (sleeps.length === 1) {
          // While the start waits, the plan is reserved: no other step begins.
          refusedMeanwhile = await holdRotationStep(deps, stepOf("partner-api-token"), async () => "begun").catch((error: unknown) => error);
          // The step under way finishes (its lease is released).
          inner.open();
          await step;
        }
      },
    });

    const view = await reserving.start(failoverInput(clock));

    expect(order).toEqual(["step ended", "run started"]);
    expect(view.status).toBe("running");
    expect(sleeps.length).toBeGreaterThanOrEqual(1);
    expect(sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(STEP_LEASE_MS);
    expect(refusedMeanwhile).toBeInstanceOf(RotationDeferredError);
    expect(await leases()).toBeUndefined();
    await expect(holdRotationStep(deps, stepOf("partner-api-token"), async () => "begun")).rejects.toMatchObject({ runId: view.runId });
  });
});
