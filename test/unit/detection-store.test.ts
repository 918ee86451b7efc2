import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState } from "../../src/core/detection/model.ts";
import { MAX_SEEN_ALERTS, MemoryPlanStateStore, seeAlert, StateConflictError } from "../../src/detection/stateStore.ts";

const PLAN = "detect-test";
const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const iso = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A change that appends one entry to the list of automatic failovers (any list would do). */
const append = (entry: string) => (s: PlanState): PlanState => ({ ...s, policy: { ...s.policy, autoFailovers: [...s.policy.autoFailovers, entry] } });

describe("MemoryPlanStateStore: optimistic concurrency", () => {
  it("starts from an empty state without an ETag, and hands out a new ETag per write", async () => {
    const store = new MemoryPlanStateStore();
    expect(await store.get(PLAN)).toEqual({ state: emptyPlanState(PLAN) });
    await store.update(PLAN, append("a"));
    const first = await store.get(PLAN);
    await store.update(PLAN, append("b"));
    const second = await store.get(PLAN);
    expect(first.etag).toBeDefined();
    expect(second.etag).not.toBe(first.etag);
    expect(second.state.policy.autoFailovers).toEqual(["a", "b"]);
  });

  it("50 concurrent updates of one process all land, in one read and one write (group commit), with no conflict", async () => {
    const store = new MemoryPlanStateStore();
    const entries = Array.from({ length: 50 }, (_, i) => `e${i}`);
    await Promise.all(entries.map((e) => store.update(PLAN, append(e))));
    const { state } = await store.get(PLAN);
    // Applied in arrival order, none lost.
    expect(state.policy.autoFailovers).toEqual(entries);
    expect(store.stats).toEqual({ reads: 2, writes: 1, conflicts: 0 });
  });

  it("updates that arrive while a round is in flight are applied together in the next round", async () => {
    const store = new MemoryPlanStateStore();
    let applied!: () => void;
    const firstApplied = new Promise<void>((resolve) => (applied = resolve));
    const first = store.update(PLAN, (s) => {
      applied();
      return append("first")(s);
    });
    await firstApplied; // the first round has read and applied its changes: it is writing
    const later = Array.from({ length: 30 }, (_, i) => store.update(PLAN, append(`later-${i}`)));
    await Promise.all([first, ...later]);
    expect((await store.get(PLAN)).state.policy.autoFailovers).toEqual(["first", ...Array.from({ length: 30 }, (_, i) => `later-${i}`)]);
    expect(store.stats.writes).toBe(2);
  });

  it("each caller gets the state as stored right after its own change", async () => {
    const store = new MemoryPlanStateStore();
    const results = await Promise.all(["a", "b", "c"].map((e) => store.update(PLAN, append(e))));
    expect(results.map((s) => s.policy.autoFailovers)).toEqual([["a"], ["a", "b"], ["a", "b", "c"]]);
  });

  it("a change that throws fails only its own caller; the others of its round are stored", async () => {
    const store = new MemoryPlanStateStore();
    const results = await Promise.allSettled([
      store.update(PLAN, append("a")),
      store.update(PLAN, () => {
        throw new Error("bad change");
      }),
      store.update(PLAN, () => emptyPlanState("other-plan")),
      store.update(PLAN, append("b")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain("bad change");
    expect(String((results[2] as PromiseRejectedResult).reason)).toContain("returned the state of plan other-plan");
    expect((results[3] as PromiseFulfilledResult<PlanState>).value.policy.autoFailovers).toEqual(["a", "b"]);
    expect((await store.get(PLAN)).state.policy.autoFailovers).toEqual(["a", "b"]);
    expect(store.stats.writes).toBe(1);
  });

  it("two processes writing at once: conflicts are retried by re-applying the whole round, nothing is lost", async () => {
    const one = new MemoryPlanStateStore();
    const two = new MemoryPlanStateStore({ sharing: one });
    const entries = (p: string) => Array.from({ length: 40 }, (_, i) => `${p}${i}`);
    const updates = entries("x").flatMap((e, i) => [one.update(PLAN, append(e)), two.update(PLAN, append(entries("y")[i]!))]);
    await Promise.all(updates);
    const stored = (await one.get(PLAN)).state.policy.autoFailovers;
    expect([...stored].sort()).toEqual([...entries("x"), ...entries("y")].sort());
    // Each process kept its own order.
    expect(stored.filter((e) => e.startsWith("x"))).toEqual(entries("x"));
    expect(one.stats.conflicts + two.stats.conflicts).toBeGreaterThan(0);
    expect(one.stats.writes + two.stats.writes).toBeLessThan(10);
  });

  it("gives up with StateConflictError after maxAttempts conflicting writes, failing only that round's updates", async () => {
    const one = new MemoryPlanStateStore({ maxAttempts: 1 });
    const two = new MemoryPlanStateStore({ maxAttempts: 1, sharing: one });
    const results = await Promise.allSettled([one.update(PLAN, append("a")), one.update(PLAN, append("b")), two.update(PLAN, append("c"))]);
    // Both processes read before either wrote: the first write wins, the other round conflicts.
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f.reason).toBeInstanceOf(StateConflictError);
    const stored = (await one.get(PLAN)).state.policy.autoFailovers;
    expect(stored.length).toBe(results.length - failed.length);
  });

  it("a change that returns the state it was given writes nothing", async () => {
    const store = new MemoryPlanStateStore();
    await store.update(PLAN, append("a"));
    const writes = store.stats.writes;
    const result = await store.update(PLAN, (s) => s);
    expect(store.stats.writes).toBe(writes);
    expect(result.policy.autoFailovers).toEqual(["a"]);
  });

  it("copies states in and out: a caller mutating what it got changes nothing stored", async () => {
    const store = new MemoryPlanStateStore();
    const stored = await store.update(PLAN, append("a"));
    (stored.policy.autoFailovers as string[]).push("mutated");
    expect((await store.get(PLAN)).state.policy.autoFailovers).toEqual(["a"]);
  });

  it("refuses names that are not plan names, and a change that returns another plan's state", async () => {
    const store = new MemoryPlanStateStore();
    await expect(store.get("../etc")).rejects.toThrow(/not a plan name/);
    await expect(store.update("../etc", append("a"))).rejects.toThrow(/not a plan name/);
    await expect(store.update(PLAN, () => emptyPlanState("other-plan"))).rejects.toThrow(/returned the state of plan other-plan/);
  });
});

describe("alert dedupe (markAlertSeen)", () => {
  it("50 concurrent identical alerts: exactly one is new", async () => {
    const store = new MemoryPlanStateStore();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.markAlertSeen(PLAN, "alert-1:Fired", iso(0))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(PLAN)).state.seenAlerts).toEqual({ "alert-1:Fired": iso(0) });
  });

  it("50 concurrent distinct alerts: all new, all recorded", async () => {
    const store = new MemoryPlanStateStore();
    const keys = Array.from({ length: 50 }, (_, i) => `alert-${i}:Fired`);
    const results = await Promise.all(keys.map((k) => store.markAlertSeen(PLAN, k, iso(0))));
    expect(results.every(Boolean)).toBe(true);
    expect(Object.keys((await store.get(PLAN)).state.seenAlerts).sort()).toEqual([...keys].sort());
  });

  it("Fired and Resolved of one alert are distinct keys; a repeat within 24 h is not new", async () => {
    const store = new MemoryPlanStateStore();
    expect(await store.markAlertSeen(PLAN, "a:Fired", iso(0))).toBe(true);
    expect(await store.markAlertSeen(PLAN, "a:Resolved", iso(60))).toBe(true);
    expect(await store.markAlertSeen(PLAN, "a:Fired", iso(24 * 3600 - 1))).toBe(false);
  });

  it("prunes keys older than 24 h, so the same key is new again after a day", async () => {
    const store = new MemoryPlanStateStore();
    await store.markAlertSeen(PLAN, "a:Fired", iso(0));
    await store.markAlertSeen(PLAN, "b:Fired", iso(3600));
    expect(await store.markAlertSeen(PLAN, "a:Fired", iso(24 * 3600))).toBe(true);
    const { state } = await store.get(PLAN);
    expect(state.seenAlerts).toEqual({ "b:Fired": iso(3600), "a:Fired": iso(24 * 3600) });
  });

  it("keeps at most MAX_SEEN_ALERTS keys: 2,100 concurrent distinct alerts leave the 2,000 newest, all new, in few writes", async () => {
    const store = new MemoryPlanStateStore();
    const keys = Array.from({ length: MAX_SEEN_ALERTS + 100 }, (_, i) => `alert-${i}:Fired`);
    const results = await Promise.all(keys.map((k, i) => store.markAlertSeen(PLAN, k, iso(i))));
    expect(results.every(Boolean)).toBe(true);
    const { state } = await store.get(PLAN);
    expect(Object.keys(state.seenAlerts)).toHaveLength(MAX_SEEN_ALERTS);
    expect(Object.keys(state.seenAlerts).sort()).toEqual(keys.slice(100).sort());
    expect(store.stats.writes).toBeLessThan(5);
    // A forgotten key counts as new again; a kept one does not.
    expect(await store.markAlertSeen(PLAN, "alert-0:Fired", iso(MAX_SEEN_ALERTS + 100))).toBe(true);
    expect(await store.markAlertSeen(PLAN, `alert-${MAX_SEEN_ALERTS + 99}:Fired`, iso(MAX_SEEN_ALERTS + 101))).toBe(false);
  });

  it("seeAlert forgets the oldest keys by time, not by the order they were stored in", () => {
    let s = emptyPlanState(PLAN);
    for (const [key, seconds] of [["late", 30], ["early", 10], ["middle", 20]] as const) s = seeAlert(s, key, iso(seconds), 3).state;
    const next = seeAlert(s, "new", iso(40), 3);
    expect(next.isNew).toBe(true);
    expect(next.state.seenAlerts).toEqual({ middle: iso(20), late: iso(30), new: iso(40) });
  });

  it("seeAlert is pure and writes nothing for a repeat", () => {
    const s0 = emptyPlanState(PLAN);
    const first = seeAlert(s0, "k", iso(0));
    expect(first.isNew).toBe(true);
    expect(s0.seenAlerts).toEqual({});
    const again = seeAlert(first.state, "k", iso(10));
    expect(again).toEqual({ state: first.state, isNew: false });
    expect(again.state).toBe(first.state);
    expect(() => seeAlert(s0, "k", "not a time")).toThrow(/not an ISO time/);
  });
});

describe("plan state store: unchanged state", () => {
  it("writes nothing when a change returns an equal state", async () => {
    const { MemoryPlanStateStore } = await import("../../src/detection/stateStore.ts");
    const store = new MemoryPlanStateStore();
    await store.markAlertSeen("detect-test", "alert-1:Fired", "2030-01-01T00:00:00.000Z");
    const before = await store.get("detect-test");
    await store.update("detect-test", (s) => structuredClone(s));
    expect(await store.markAlertSeen("detect-test", "alert-1:Fired", "2030-01-01T00:00:01.000Z")).toBe(false);
    const after = await store.get("detect-test");
    expect(after.etag).toBe(before.etag);
  });
});
