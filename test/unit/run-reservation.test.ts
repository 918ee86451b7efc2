import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState } from "../../src/core/detection/model.ts";
import { type ApprovalEvent, type RunInput } from "../../src/core/run/model.ts";
import { RunInProgressError, type RunPort, type RunView } from "../../src/core/run/port.ts";
import { isReservationLive, releaseRun, RESERVATION_GRACE_MS, reserveRun } from "../../src/core/run/reservation.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { InvalidStateError, MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { waitingRunHost } from "../helpers/waitingRunHost.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import { PRIMARY, SECONDARY, T0, at, iso, testPlan } from "../helpers/detectionPlan.ts";

/*
 * The run reservation: every start records its run in the plan's state document (ETag) before the run
 * port starts it, so that racing starts of one plan start one run.
 */

const plan = testPlan();
const PLAN = plan.name;
const GRACE_S = RESERVATION_GRACE_MS / 1000;

const view = (runId: string, status: RunView["status"]): RunView => ({ instanceId: `switchyard-${PLAN}`, runId, status, kind: "failover", from: PRIMARY, to: SECONDARY });
const reservedBy = (runId: string, seconds: number): PlanState => ({ ...emptyPlanState(PLAN), activeRun: { runId, kind: "failover", reservedAt: iso(seconds) } });
const input = (runId: string): RunInput => ({
  runId,
  kind: "failover",
  mode: "planned",
  plan,
  from: PRIMARY,
  to: SECONDARY,
  trigger: { source: "manual", by: "test", reason: "test", detectedAt: iso(0) },
});

describe("reserveRun: the pure decision", () => {
  it("reserves a plan that has never had a run", () => {
    const decision = reserveRun(emptyPlanState(PLAN), { runId: "b", kind: "failback", view: undefined, now: at(10) });

    expect(decision).toEqual({ reserved: true, state: { ...emptyPlanState(PLAN), activeRun: { runId: "b", kind: "failback", reservedAt: iso(10) } } });
  });

  it("refuses while another run is running, naming it, whether it was reserved or not", () => {
    const unreserved = reserveRun(emptyPlanState(PLAN), { runId: "b", kind: "failover", view: view("a", "running"), now: at(10) });
    const reservedLongAgo = reserveRun(reservedBy("a", 0), { runId: "b", kind: "failover", view: view("a", "pending"), now: at(10 * GRACE_S) });

    expect(unreserved).toEqual({ reserved: false, holder: "a", why: "running" });
    expect(reservedLongAgo).toEqual({ reserved: false, holder: "a", why: "running" });
  });

  it("refuses while another run's reservation is younger than the grace period and its run is not visible yet", () => {
    const state = reservedBy("a", 0);

    const beforeAnyRun = reserveRun(state, { runId: "b", kind: "failover", view: undefined, now: at(GRACE_S - 1) });
    const afterAnOlderRun = reserveRun(state, { runId: "b", kind: "failover", view: view("older", "completed"), now: at(GRACE_S - 1) });

    expect(beforeAnyRun).toEqual({ reserved: false, holder: "a", why: "reserved" });
    expect(afterAnOlderRun).toEqual({ reserved: false, holder: "a", why: "reserved" });
  });

  it("takes over a reservation whose run never became visible once the grace period has passed", () => {
    const decision = reserveRun(reservedBy("a", 0), { runId: "b", kind: "failover", view: view("older", "failed"), now: at(GRACE_S) });

    expect(decision).toMatchObject({ reserved: true, replaced: { runId: "a" }, state: { activeRun: { runId: "b", reservedAt: iso(GRACE_S) } } });
  });

  it("takes over the reservation of a run that has finished at once, even within the grace period (a terminated drill)", () => {
    for (const status of ["completed", "failed", "terminated"] as const) {
      const decision = reserveRun(reservedBy("drill", 0), { runId: "incident", kind: "failover", view: view("drill", status), now: at(5) });

      expect(decision).toMatchObject({ reserved: true, replaced: { runId: "drill" }, state: { activeRun: { runId: "incident" } } });
    }
  });

  it("lets the same run id retry its start, and renews its reservation", () => {
    const decision = reserveRun(reservedBy("a", 0), { runId: "a", kind: "failover", view: undefined, now: at(30) });

    expect(decision).toEqual({ reserved: true, state: reservedBy("a", 30) });
  });

  it("does not let a reservation dated far in the future (a clock far off) hold the plan for ever", () => {
    const state = reservedBy("a", 10 * GRACE_S);

    expect(isReservationLive(state.activeRun!, undefined, at(10 * GRACE_S - 30))).toBe(true);
    expect(isReservationLive(state.activeRun!, undefined, at(0))).toBe(false);
  });

  it("releases only its own reservation", () => {
    const state = reservedBy("a", 0);

    expect(releaseRun(state, "a")).toEqual(emptyPlanState(PLAN));
    expect(releaseRun(state, "b")).toBe(state);
  });
});

describe("the reservation in the stored state", () => {
  /** Puts a document in the memory store as if an earlier version (or a person) had written it. */
  const storeWith = (doc: unknown) => {
    const store = new MemoryPlanStateStore();
    (store as unknown as { docs: Map<string, { text: string; version: number }> }).docs.set(PLAN, { text: JSON.stringify(doc), version: 99 });
    return store;
  };

  it("loads a document written before reservations existed, without one", async () => {
    const { activeRun: _none, ...old } = reservedBy("a", 0);

    const { state } = await storeWith(old).get(PLAN);

    expect(state).toEqual(emptyPlanState(PLAN));
    expect("activeRun" in state).toBe(false);
  });

  it("keeps a valid reservation as it was written", async () => {
    const { state } = await storeWith(reservedBy("a", 0)).get(PLAN);

    expect(state.activeRun).toEqual({ runId: "a", kind: "failover", reservedAt: iso(0) });
  });

  it("refuses a reservation that is not one, saying what is wrong", async () => {
    const bad = [
      [{ runId: "", kind: "failover", reservedAt: iso(0) }, /activeRun: no run id/],
      [{ runId: "a", kind: "drill", reservedAt: iso(0) }, /activeRun: kind 'drill'/],
      [{ runId: "a", kind: "failover", reservedAt: "yesterday" }, /activeRun: reservedAt 'yesterday' is not an ISO time/],
      [["a"], /activeRun: not an object/],
    ] as const;
    for (const [activeRun, problem] of bad) {
      const read = storeWith({ ...emptyPlanState(PLAN), activeRun }).get(PLAN);

      await expect(read).rejects.toThrow(InvalidStateError);
      await expect(read).rejects.toThrow(problem);
    }
  });
});

/**
 * A run port whose start is slow and not atomic: it checks, waits, then records, so that racing starts
 * all pass its check (as racing `startNew` calls can with the Azure Storage backend).
 */
class SlowRuns implements RunPort {
  readonly starts: string[] = [];
  current?: RunView;
  failNext?: Error;
  /** Called while a start is in the run port (another process acting meanwhile). */
  whileStarting?: () => Promise<void>;

  async start(run: RunInput): Promise<RunView> {
    const running = this.current && (this.current.status === "running" || this.current.status === "pending");
    await new Promise((resolve) => setTimeout(resolve, 5));
    await this.whileStarting?.();
    if (this.failNext) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    if (running) throw new RunInProgressError(run.plan.name, this.current!.runId);
    this.starts.push(run.runId);
    this.current = view(run.runId, "running");
    return this.current;
  }

  async get(): Promise<RunView | undefined> {
    return this.current;
  }

  async approve(_plan: string, _approval: ApprovalEvent): Promise<void> {}

  async terminate(): Promise<void> {}
}

describe("ReservingRuns: every start reserves first", () => {
  const setup = () => {
    const inner = new SlowRuns();
    const store = new MemoryPlanStateStore();
    let now = 0;
    const runs = new ReservingRuns(inner, { store, clock: () => at(now) });
    return { inner, store, runs, setNow: (s: number) => (now = s) };
  };

  it("of 20 concurrent starts of different runs of one plan, exactly one reaches the run port; the others are refused naming it", async () => {
    const t = setup();
    const ids = Array.from({ length: 20 }, (_, i) => `run-${i}`);

    const results = await Promise.allSettled(ids.map((id) => t.runs.start(input(id))));

    expect(t.inner.starts).toHaveLength(1);
    const winner = t.inner.starts[0]!;
    const refusals = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
    expect(refusals).toHaveLength(19);
    expect(refusals.every((e) => e instanceof RunInProgressError && e.runningRunId === winner)).toBe(true);
    expect((await t.store.get(PLAN)).state.activeRun).toEqual({ runId: winner, kind: "failover", reservedAt: iso(0) });
  });

  it("a start the run port fails releases its reservation, so the next start goes ahead at once", async () => {
    const t = setup();
    t.inner.failNext = new Error("durable client unreachable");

    await expect(t.runs.start(input("a"))).rejects.toThrow("durable client unreachable");
    const afterFailure = (await t.store.get(PLAN)).state.activeRun;
    await t.runs.start(input("b"));

    expect(afterFailure).toBeUndefined();
    expect(t.inner.starts).toEqual(["b"]);
  });

  it("a release never drops a reservation another start has taken since", async () => {
    const t = setup();
    t.inner.failNext = new Error("timed out");
    // Another process takes the plan while this start is in the run port.
    t.inner.whileStarting = async () => void (await t.store.update(PLAN, (s) => ({ ...s, activeRun: { runId: "b", kind: "failover", reservedAt: iso(0) } })));

    await expect(t.runs.start(input("a"))).rejects.toThrow("timed out");

    expect((await t.store.get(PLAN)).state.activeRun?.runId).toBe("b");
  });

  it("keeps the reservation when the run port says this very run is already in progress (a retried start)", async () => {
    const t = setup();
    await t.runs.start(input("a"));

    await expect(t.runs.start(input("a"))).rejects.toThrow(RunInProgressError);

    expect((await t.store.get(PLAN)).state.activeRun?.runId).toBe("a");
  });

  it("starts the next run once the reserved one has finished", async () => {
    const t = setup();
    await t.runs.start(input("a"));
    t.inner.current = view("a", "completed");
    t.setNow(10);

    await t.runs.start(input("b"));

    expect(t.inner.starts).toEqual(["a", "b"]);
    expect((await t.store.get(PLAN)).state.activeRun).toEqual({ runId: "b", kind: "failover", reservedAt: iso(10) });
  });

  it("refuses a start while another process's start is in flight (reserved, not visible yet), until the grace period has passed", async () => {
    const t = setup();
    await t.store.update(PLAN, (s) => ({ ...s, activeRun: { runId: "elsewhere", kind: "failover", reservedAt: iso(0) } }));

    t.setNow(GRACE_S - 1);
    const early = t.runs.start(input("b"));
    await expect(early).rejects.toThrow(RunInProgressError);
    await expect(early).rejects.toMatchObject({ runningRunId: "elsewhere" });
    t.setNow(GRACE_S);
    await t.runs.start(input("b"));

    expect(t.inner.starts).toEqual(["b"]);
  });
});

describe("ReservingRuns over the real local durable host", () => {
  it("of 10 concurrent starts, one reaches LocalRuns and runs; the others are refused naming it", async () => {
    // The run waits for an event: it stays running while the other starts arrive.
    const host = waitingRunHost();
    const local = new LocalRuns(host);
    const reached: string[] = [];
    const counted: RunPort = {
      start: (run) => (reached.push(run.runId), local.start(run)),
      get: (name) => local.get(name),
      approve: (name, approval) => local.approve(name, approval),
      terminate: (name, reason) => local.terminate(name, reason),
    };
    const runs = new ReservingRuns(counted, { store: new MemoryPlanStateStore(), clock: () => new Date(T0) });
    try {
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => runs.start(input(`run-${i}`))));

      expect(reached).toHaveLength(1);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
      expect(refused).toHaveLength(9);
      expect(refused.every((e) => e instanceof RunInProgressError && e.runningRunId === reached[0])).toBe(true);
      expect(await runs.get(PLAN)).toMatchObject({ runId: reached[0], status: expect.stringMatching(/^(pending|running)$/) });
    } finally {
      host.stop();
    }
  });
});
