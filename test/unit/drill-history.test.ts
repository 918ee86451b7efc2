/**
 * A plan's drill history: the record kept per drill, its bound, the check of a stored document (a
 * malformed one is reported by path, never trusted or dropped without a word), the RTO trend and its
 * direction rule, and the store's ETag-conditional appends.
 */
import { describe, expect, it } from "vitest";
import {
  appendDrill,
  DRILL_HISTORY_LIMIT,
  DrillHistoryError,
  drillsView,
  drillTrend,
  emptyHistory,
  fitDrillRecord,
  formatTrend,
  latestPassedDrill,
  MAX_PROBLEMS,
  parseDrillHistory,
  TREND_BAND,
  TREND_WINDOW,
  type DrillHistory,
  type DrillRecord,
} from "../../src/core/drill/history.ts";
import { renderDrillReport } from "../../src/core/drill/report.ts";
import { drillRunId, isDrillId } from "../../src/core/drill/model.ts";
import { MemoryDrillHistoryStore } from "../../src/drills/store.ts";

const PLAN = "northwind-logistics";
const HOUR = Date.parse("2026-12-03T10:00:00Z");

/** A drill of PLAN that ended `n` hours after HOUR, with a failover RTO of `rto` Azure seconds (null: not reached). */
function drill(n: number, rto: number | null, outcome: DrillRecord["outcome"] = "passed", extra: Partial<DrillRecord> = {}): DrillRecord {
  const id = `${PLAN}.2026120${3 + Math.floor(n / 24)}T${String(n % 24).padStart(2, "0")}0000Z.drill-${n.toString(16).padStart(4, "0")}`;
  return {
    drillId: id,
    plan: PLAN,
    mode: "planned",
    trigger: { kind: "timer", by: "scheduledDrill" },
    startedAt: new Date(HOUR + n * 3600_000).toISOString(),
    endedAt: new Date(HOUR + n * 3600_000 + 1800_000).toISOString(),
    outcome,
    reason: outcome,
    timeScale: 3600,
    runs:
      rto === null
        ? []
        : [
            { kind: "failover", runId: drillRunId(id, "failover"), from: "japaneast", to: "japanwest", outcome: "completed", rtoSeconds: rto, rtoLocalSeconds: rto / 3600, rtoProjected: true, rtoTargetSeconds: 10800, rpoExposureSeconds: 0, dataLossAllowedBy: "none" },
            { kind: "failback", runId: drillRunId(id, "failback"), from: "japanwest", to: "japaneast", outcome: "completed", rtoSeconds: rto * 2, rtoLocalSeconds: (rto * 2) / 3600, rtoProjected: true, rtoTargetSeconds: 10800, rpoExposureSeconds: 0, dataLossAllowedBy: "none" },
          ],
    ...extra,
  };
}

const historyOf = (...drills: DrillRecord[]): DrillHistory => drills.reduce((h, d) => appendDrill(h, d), emptyHistory(PLAN));

describe("a drill's ids", () => {
  it("derives each run's id from the drill's, in a run id's form", () => {
    const id = "northwind-logistics.20261203T100000Z.drill-0a1b";

    expect(isDrillId(id)).toBe(true);
    expect(drillRunId(id, "failover")).toBe("northwind-logistics.20261203T100000Z.drill-failover-0a1b");
    expect(drillRunId(id, "failback")).toBe("northwind-logistics.20261203T100000Z.drill-failback-0a1b");
    expect(() => drillRunId("northwind-logistics.20261203T100000Z.rotate-0a1b", "failover")).toThrow(/not a drill id/);
  });
});

describe("the drill history", () => {
  it("keeps the newest drills, oldest first, up to its bound", () => {
    const drills = Array.from({ length: DRILL_HISTORY_LIMIT + 3 }, (_, n) => drill(n, 3000 + n));

    const history = historyOf(...drills);

    expect(history.drills).toHaveLength(DRILL_HISTORY_LIMIT);
    expect(history.drills[0]!.drillId).toBe(drills[3]!.drillId);
    expect(history.drills.at(-1)!.drillId).toBe(drills.at(-1)!.drillId);
  });

  it("records a drill once: appending the same drill again changes nothing", () => {
    const once = historyOf(drill(1, 3600));

    const again = appendDrill(once, { ...drill(1, 3600), outcome: "failed" });

    expect(again).toBe(once);
    expect(again.drills.map((d) => d.outcome)).toEqual(["passed"]);
  });

  it("names the latest passed drill for a readiness check, not a later refused one", () => {
    const history = historyOf(drill(1, 3000), drill(2, 3100), drill(3, null, "refused"));

    expect(latestPassedDrill(history)?.drillId).toBe(drill(2, 3100).drillId);
    expect(latestPassedDrill(historyOf(drill(1, null, "refused")))).toBeUndefined();
  });
});

describe("reading a stored history", () => {
  it("reads back what was stored", () => {
    const stored = historyOf(drill(1, 3000), drill(2, null, "preempted"));

    const read = parseDrillHistory(PLAN, JSON.stringify(stored), "test");

    expect(read.drills).toEqual(stored.drills);
    expect(read.problems).toEqual([]);
  });

  it("leaves out a malformed record and reports it with the path of its bad field", () => {
    const good = drill(1, 3000);
    const bad = { ...drill(2, 3100), runs: [{ ...drill(2, 3100).runs[0]!, rtoSeconds: "an hour" }] };
    const alsoBad = { ...drill(3, 3200), outcome: "exploded" };

    const read = parseDrillHistory(PLAN, JSON.stringify({ plan: PLAN, drills: [good, bad, alsoBad] }), "test");

    expect(read.drills.map((d) => d.drillId)).toEqual([good.drillId]);
    expect(read.problems.map((p) => p.path)).toEqual(["drills[1].runs[0].rtoSeconds", "drills[2].outcome"]);
  });

  it("takes every record cut to its limits, however long its texts were", () => {
    const base = drill(1, 100);
    const long = (n: number) => "x".repeat(n);
    const overlong: DrillRecord = {
      ...base,
      reason: long(2400),
      trigger: { kind: "operator", by: long(900), reason: long(900) },
      report: long(1500),
      runs: base.runs.map((r) => ({ ...r, from: long(150), to: long(150), outcome: long(90), report: long(1500) })),
    };
    const raw = (d: DrillRecord) => JSON.stringify({ plan: PLAN, drills: [d] });

    const refused = parseDrillHistory(PLAN, raw(overlong), "test");
    const fitted = parseDrillHistory(PLAN, raw(fitDrillRecord(overlong)), "test");

    expect(refused.drills).toEqual([]);
    expect(fitted.problems).toEqual([]);
    expect(fitted.drills[0]!.reason).toMatch(/^x+…$/);
    expect(fitDrillRecord(base)).toEqual(base);
  });

  it("reports the first MAX_PROBLEMS records that did not read and counts the rest, in the read and in the API's view", () => {
    const raw = JSON.stringify({ plan: PLAN, drills: [drill(1, 100), ...Array.from({ length: 450 }, () => 0)] });

    const read = parseDrillHistory(PLAN, raw, "test");
    const view = drillsView(read);

    expect(read.drills).toHaveLength(1);
    expect(read.problems).toHaveLength(MAX_PROBLEMS);
    expect(read.problems[0]!.path).toBe("drills[1]");
    expect(read.moreProblems).toBe(450 - MAX_PROBLEMS);
    expect(view.problems).toHaveLength(MAX_PROBLEMS);
    expect(view.moreProblems).toBe(450 - MAX_PROBLEMS);
  });

  it("leaves out a record whose drill id is not a drill id of the plan", () => {
    const other = drill(2, 100, "passed", { drillId: "harbor-freight.20261203T100000Z.drill-0a1b" });
    const junk = drill(3, 100, "passed", { drillId: "x` | **pwn** | <img src=x>" });
    const raw = JSON.stringify({ plan: PLAN, drills: [drill(1, 100), other, junk] });

    const read = parseDrillHistory(PLAN, raw, "test");

    expect(read.drills.map((d) => d.drillId)).toEqual([drill(1, 100).drillId]);
    expect(read.problems.map((p) => p.path)).toEqual(["drills[1].drillId", "drills[2].drillId"]);
  });

  it("refuses a document that is not a drill history, saying where", () => {
    const refused = (text: string) => {
      try {
        parseDrillHistory(PLAN, text, "blob switchyard-state/drills/northwind-logistics.json");
      } catch (error) {
        return error as DrillHistoryError;
      }
      throw new Error("not refused");
    };

    expect(refused("{not json")).toBeInstanceOf(DrillHistoryError);
    expect(refused(JSON.stringify({ plan: "another-plan", drills: [] })).path).toBe("plan");
    expect(refused(JSON.stringify({ plan: PLAN, drills: {} })).path).toBe("drills");
    expect(refused(JSON.stringify({ plan: PLAN, drills: {} })).message).toMatch(/blob switchyard-state\/drills\/northwind-logistics\.json.*malformed at drills/);
  });
});

describe("the RTO trend", () => {
  it("lists the failover RTOs of the last drills in order, with their median", () => {
    const history = historyOf(drill(1, 4000), drill(2, null, "refused"), drill(3, 3000), drill(4, 3500));

    const trend = drillTrend(history);

    expect(trend.rtos.map((p) => p.rtoSeconds)).toEqual([4000, 3000, 3500]);
    expect(trend.medianSeconds).toBe(3500);
    expect(trend.projected).toBe(true);
  });

  it("looks at the last TREND_WINDOW RTOs only", () => {
    const history = historyOf(...Array.from({ length: TREND_WINDOW + 2 }, (_, n) => drill(n, 1000 * (n + 1))));

    expect(drillTrend(history).rtos.map((p) => p.rtoSeconds)).toEqual(Array.from({ length: TREND_WINDOW }, (_, i) => 1000 * (i + 3)));
  });

  it("calls the latest RTO improving, worsening or steady against the median of the earlier ones, by the stated band", () => {
    const earlier = [drill(1, 3000), drill(2, 4000), drill(3, 3600)]; // median 3600
    const lower = 3600 * (1 - TREND_BAND);
    const higher = 3600 * (1 + TREND_BAND);

    expect(drillTrend(historyOf(...earlier, drill(4, lower - 1))).direction).toBe("improving");
    expect(drillTrend(historyOf(...earlier, drill(4, lower))).direction).toBe("steady");
    expect(drillTrend(historyOf(...earlier, drill(4, higher))).direction).toBe("steady");
    expect(drillTrend(historyOf(...earlier, drill(4, higher + 1))).direction).toBe("worsening");
  });

  it("gives no direction with fewer than two RTOs, and says so", () => {
    expect(drillTrend(historyOf(drill(1, 3000))).direction).toBeNull();
    expect(formatTrend(drillTrend(historyOf(drill(1, 3000))))).toMatch(/no direction yet/);
    expect(formatTrend(drillTrend(emptyHistory(PLAN)))).toMatch(/no drill has measured a failover RTO yet/);
  });

  it("reads in one line, with the RTOs, the median, the direction and that they are projected", () => {
    const line = formatTrend(drillTrend(historyOf(drill(1, 3600), drill(2, 7200))));

    expect(line).toBe("RTO trend (failover, last 2 drill(s)): 1 h 0 min, 2 h 0 min; median 1 h 30 min; worsening (latest 2 h 0 min against 1 h 0 min before); projected to Azure time from a local time scale");
  });

  it("is shown by the API newest first, with the trend as data and as a line", () => {
    const view = drillsView(historyOf(drill(1, 3000), drill(2, 3100), drill(3, null, "preempted")));

    expect(view.last.map((d) => d.outcome)).toEqual(["preempted", "passed", "passed"]);
    expect(view.last[1]).toMatchObject({ rtoSeconds: 3100, failbackRtoSeconds: 6200, rpoExposureSeconds: 0, rtoProjected: true });
    expect(view.trend).toMatchObject({ medianSeconds: 3050, direction: "steady" });
    expect(view.trend.line).toMatch(/^RTO trend/);
  });
});

describe("a drill's report", () => {
  it("escapes every stored field: a hostile id stays inside its code span, and no field starts a heading, a cell or markup", () => {
    const hostile = drill(1, 100, "passed", {
      drillId: "x` | pwn | <script>",
      plan: "a*b",
      runs: [{ ...drill(1, 100).runs[0]!, runId: "r`\n# injected heading", from: "a | b", outcome: "<b>x</b>", report: "``x``" }],
    });

    const report = renderDrillReport(hostile, { drills: [hostile] });
    const lines = report.split("\n");

    expect(lines.filter((l) => l.startsWith("#")).map((l) => l.split(" ")[0])).toEqual(["#", "##", "##"]);
    expect(report).toContain("`` x` \\| pwn \\| <script> ``");
    expect(report).toContain("`` r` # injected heading ``");
    expect(report).toContain("``` ``x`` ```");
    expect(report).toContain("a \\| b");
    expect(report).toContain("\\<b\\>x\\</b\\>");
    expect(report).toContain("**a\\*b**");
    // Each table row keeps its cells: the pipes a field held are escaped.
    const row = lines.find((l) => l.startsWith("| failover"))!;
    expect(row.split(/(?<!\\)\|/).length).toBe(10);
  });

  it("shows the outcome, each run and the trend with this drill in it", () => {
    const earlier = historyOf(drill(1, 3000), drill(2, 3200));
    const record = drill(3, 5000);

    const report = renderDrillReport(record, appendDrill(earlier, record));

    expect(report.split("\n")[0]).toBe(`# Switchyard drill \`${record.drillId}\``);
    expect(report).toContain("## RTO trend");
    expect(report).toContain("RTO trend (failover, last 3 drill(s)): 50 min 0 s, 53 min 20 s, 1 h 23 min; median 53 min 20 s; worsening");
    expect(report).toContain(`| failover \`${record.runs[0]!.runId}\``);
  });
});

describe("the history store", () => {
  it("appends with version checks: two racing appends of different drills both land", async () => {
    const store = new MemoryDrillHistoryStore();

    await Promise.all([store.append(drill(1, 3000)), store.append(drill(2, 3100))]);

    expect((await store.read(PLAN)).drills.map((d) => d.drillId).sort()).toEqual([drill(1, 3000).drillId, drill(2, 3100).drillId].sort());
  });

  it("says when a drill was already recorded, and writes nothing", async () => {
    const store = new MemoryDrillHistoryStore();
    await store.append(drill(1, 3000));

    const again = await store.append(drill(1, 3000));

    expect(again.appended).toBe(false);
    expect((await store.read(PLAN)).drills).toHaveLength(1);
  });

  it("reports the records of a stored document that did not read, and does not write them back", async () => {
    const store = new MemoryDrillHistoryStore();
    store.putRaw(PLAN, JSON.stringify({ plan: PLAN, drills: [drill(1, 3000), { drillId: 7 }] }));

    const appended = await store.append(drill(2, 3100));

    expect(appended.history.problems).toEqual([{ path: "drills[1].drillId", problem: expect.any(String) }]);
    expect((await store.read(PLAN)).problems).toEqual([]);
    expect((await store.read(PLAN)).drills).toHaveLength(2);
  });

  it("appends nothing over a document that is not a drill history", async () => {
    const store = new MemoryDrillHistoryStore();
    store.putRaw(PLAN, "[]");

    await expect(store.append(drill(1, 3000))).rejects.toBeInstanceOf(DrillHistoryError);
    await expect(store.read(PLAN)).rejects.toThrow(/malformed at its root/);
  });
});
