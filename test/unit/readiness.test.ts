import { describe, expect, it } from "vitest";
import { applyEvaluation, blocking, emptyReadinessRecord, formatReadiness, isReady, READINESS_HISTORY, type ReadinessCheck, type ReadinessResult } from "../../src/core/readiness.ts";
import { MemoryReadinessStore, parseReadinessRecord } from "../../src/readiness/store.ts";

const pass = (subject: string): ReadinessCheck => ({ area: "resources", subject, result: "pass", detail: "fine" });
const fail = (subject: string): ReadinessCheck => ({ area: "settings", subject, result: "fail", detail: "app setting(s) X missing" });
const unknown = (subject: string): ReadinessCheck => ({ area: "replication", subject, result: "unknown", detail: "lag not measurable" });

let minute = 0;
function evaluation(checks: ReadinessCheck[], plan = "tailspin-web"): ReadinessResult {
  minute += 30;
  return { plan, evaluatedAt: new Date(Date.UTC(2026, 11, 3, 0, minute)).toISOString(), primary: "westus3", standby: "eastus", ready: isReady(checks), checks };
}

describe("readiness verdict", () => {
  it("is ready only when every check that is not advisory passed; an unknown is not ready", () => {
    expect(isReady([pass("a"), { ...fail("drill"), advisory: true }])).toBe(true);
    expect(isReady([pass("a"), unknown("b")])).toBe(false);
    expect(isReady([pass("a"), fail("b")])).toBe(false);
  });

  it("lists failed checks before unknown ones and leaves advisory ones out", () => {
    const open = blocking({ checks: [unknown("u"), pass("p"), fail("f"), { ...fail("d"), advisory: true }] });
    expect(open.map((c) => c.subject)).toEqual(["f", "u"]);
  });

  it("prints each check and ends with what is not ready", () => {
    const text = formatReadiness(evaluation([pass("storage account data"), fail("site web")]));
    expect(text).toContain("FAIL settings    site web: app setting(s) X missing");
    expect(text.split("\n").at(-2)).toBe("not ready: 1 check(s)");
    expect(formatReadiness(evaluation([pass("x")])).split("\n").at(-1)).toBe("ready");
  });
});

describe("drift", () => {
  it("tells people once when a ready plan becomes not ready, and once when it is ready again", () => {
    let record = emptyReadinessRecord("tailspin-web");
    const changes: (string | undefined)[] = [];
    for (const checks of [[pass("a")], [pass("a")], [fail("b")], [fail("b")], [fail("b"), fail("c")], [pass("a")], [pass("a")]]) {
      const next = applyEvaluation(record, evaluation(checks));
      record = next.record;
      changes.push(next.change);
    }
    expect(changes).toEqual([undefined, undefined, "drift", undefined, undefined, "restored", undefined]);
    expect(record.state).toBe("ready");
  });

  it("a first evaluation that is not ready is a drift: nobody was told it is ready", () => {
    expect(applyEvaluation(emptyReadinessRecord("p1"), evaluation([fail("b")], "p1")).change).toBe("drift");
  });

  it("waits for a second evaluation when only reads failed, so one flaky read tells nobody", () => {
    let record = applyEvaluation(emptyReadinessRecord("p2"), evaluation([pass("a")], "p2")).record;
    const first = applyEvaluation(record, evaluation([unknown("lag")], "p2"));
    expect(first.change).toBeUndefined();
    expect(first.record.state).toBe("ready");
    record = applyEvaluation(first.record, evaluation([pass("a")], "p2")).record;
    expect(record.unknownStreak).toBe(0);
    const again = applyEvaluation(applyEvaluation(record, evaluation([unknown("lag")], "p2")).record, evaluation([unknown("lag")], "p2"));
    expect(again.change).toBe("drift");
  });

  it("keeps a bounded history", () => {
    let record = emptyReadinessRecord("p3");
    for (let i = 0; i < READINESS_HISTORY + 10; i++) record = applyEvaluation(record, evaluation([pass("a")], "p3")).record;
    expect(record.history).toHaveLength(READINESS_HISTORY);
  });
});

describe("readiness store", () => {
  it("notifies a drift once when two evaluations record it at once", async () => {
    const store = new MemoryReadinessStore();
    await store.record(evaluation([pass("a")], "p4"));
    const notReady = evaluation([fail("b")], "p4");
    const told = await Promise.all([store.record(notReady), store.record({ ...notReady, evaluatedAt: new Date(Date.parse(notReady.evaluatedAt) + 1000).toISOString() })]);
    // Both may hand the notice over (until one settles it), but as one event: the evaluation that found it.
    expect(told.every((t) => t?.change === "drift")).toBe(true);
    expect(new Set(told.map((t) => t?.at)).size).toBe(1);
    expect((await store.get("p4")).state).toBe("not-ready");
  });

  it("keeps a change pending until it is handed over, so a notice that failed is told at the next evaluation", async () => {
    const store = new MemoryReadinessStore();
    await store.settle("p8", "never");
    const first = await store.record(evaluation([pass("a")], "p8"));
    expect(first).toBeUndefined();
    const drift = await store.record(evaluation([fail("b")], "p8"));
    expect(drift?.change).toBe("drift");
    // The notifier failed (or the host stopped): nothing settled it; the next evaluation tells it again.
    expect(await store.record(evaluation([fail("b")], "p8"))).toEqual(drift);
    await store.settle("p8", drift!.at);
    expect(await store.record(evaluation([fail("b")], "p8"))).toBeUndefined();
    const restored = await store.record(evaluation([pass("a")], "p8"));
    expect(restored?.change).toBe("restored");
    // Settling an older change leaves a newer one pending.
    await store.settle("p8", drift!.at);
    expect((await store.get("p8")).pending).toEqual(restored);
  });

  it("keeps a record readable whatever a check says: long details are cut", async () => {
    const store = new MemoryReadinessStore();
    const long: ReadinessCheck = { area: "settings", subject: "site s", result: "fail", detail: `app setting(s) ${Array.from({ length: 400 }, (_, i) => `SETTING_${i}`).join(", ")} missing` };
    await store.record(evaluation([long], "p9"));
    const record = await store.get("p9");
    expect(record.latest?.blocking[0]!.detail.length).toBeLessThanOrEqual(600);
    expect(record.latest?.blocking[0]!.detail).toMatch(/more characters\)$/);
    expect(await store.record(evaluation([long], "p9"))).toBeDefined();
  });

  it("does not apply an evaluation older than the one recorded", async () => {
    const store = new MemoryReadinessStore();
    const late = evaluation([fail("b")], "p5");
    await store.record(evaluation([pass("a")], "p5"));
    expect(await store.record(late)).toBeUndefined();
    expect((await store.get("p5")).history).toHaveLength(1);
    expect((await store.get("p5")).state).toBe("ready");
  });

  it("refuses a malformed record with the path of the bad field", () => {
    const good = applyEvaluation(emptyReadinessRecord("p6"), evaluation([fail("b")], "p6")).record;
    expect(() => parseReadinessRecord("p6", JSON.stringify({ ...good, history: [{ at: "yesterday", ready: true, blocking: 0 }] }), "test")).toThrow(/malformed at history\.0\.at/);
    expect(() => parseReadinessRecord("p7", JSON.stringify(good), "test")).toThrow(/plan p6's, not p7's/);
    expect(parseReadinessRecord("p6", JSON.stringify(good), "test").state).toBe("not-ready");
  });
});
