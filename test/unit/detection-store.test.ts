import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState } from "../../src/core/detection/model.ts";
import { MemoryPlanStateStore, seeAlert, StateConflictError } from "../../src/detection/stateStore.ts";

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

  it("50 concurrent updates all land (none lost), with conflicts retried", async () => {
    const store = new MemoryPlanStateStore();
    const entries = Array.from({ length: 50 }, (_, i) => `e${i}`);
    await Promise.all(entries.map((e) => store.update(PLAN, append(e))));
    const { state } = await store.get(PLAN);
    expect([...state.policy.autoFailovers].sort()).toEqual([...entries].sort());
    expect(store.stats.writes).toBe(50);
    // The updates really interleaved: without retries most of them would have been lost.
    expect(store.stats.conflicts).toBeGreaterThan(0);
  });

  it("gives up with StateConflictError after maxAttempts conflicting writes", async () => {
    const store = new MemoryPlanStateStore({ maxAttempts: 1 });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => store.update(PLAN, append(`e${i}`))));
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed.length).toBe(4);
    expect((failed[0] as PromiseRejectedResult).reason).toBeInstanceOf(StateConflictError);
    expect((await store.get(PLAN)).state.policy.autoFailovers).toHaveLength(1);
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
