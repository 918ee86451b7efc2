import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../src/core/plan/index.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import type { RunOutput } from "../../src/core/run/model.ts";
import { renderReport, seconds } from "../../src/core/run/report.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { failoverJournal, FOG, t } from "../helpers/runJournal.ts";

let plan: Plan;
beforeAll(async () => {
  plan = await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname);
});

/** The lines of a section (from its `## ` heading to the next). */
function section(markdown: string, heading: string): string[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  expect(start, `section ${heading}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  return lines.slice(start + 1, end === -1 ? undefined : end).filter((l) => l.trim() !== "");
}

/** The table row whose first cell is `first` (cells trimmed). */
function rowOf(lines: string[], first: string): string[] {
  const line = lines.find((l) => l.startsWith(`| ${first} |`));
  expect(line, `row ${first}`).toBeDefined();
  return line!.slice(2, -2).split(" | ").map((c) => c.trim());
}

describe("renderReport", () => {
  it("has a title with the run id and a summary of kind, plan, regions, outcome and trigger", () => {
    const { entries } = failoverJournal(plan);
    const md = renderReport(entries);
    expect(md.split("\n")[0]).toBe("# Switchyard run `contoso-orders-20250301T100000Z`");
    expect(md).toContain("Failover of **contoso-orders** from **eastus2** to **centralus**: **completed**");
    expect(md).toContain("- **Kind:** failover (mode auto)");
    expect(md).toContain("- **Plan:** contoso-orders");
    expect(md).toContain("- **From → to:** eastus2 → centralus");
    expect(md).toContain("- **Outcome:** completed — centralus is primary and verified");
    expect(md).toContain("- **Trigger:** alert by alert rule orders-availability: eastus2 health endpoints failing (outage detected 2025-03-01T09:59:00.000Z)");
    for (const heading of ["Objectives", "Steps", "Timeline", "Decisions and why", "Azure writes", "Waits", "Notifications"]) expect(md).toContain(`\n## ${heading}\n`);
  });

  it("computes per-step durations from the step entries when the output has none", () => {
    const { entries } = failoverJournal(plan);
    const withoutOutput = entries.filter((e) => e.kind !== "run-finished");
    const steps = section(renderReport(withoutOutput), "Steps");
    expect(rowOf(steps, "`assess-regions`").slice(1)).toEqual(["10:00:00.500", "10:00:02.000", "1.5 s", "ok", ""]);
    expect(rowOf(steps, "`measure-replication`")[3]).toBe("2.25 s");
    expect(rowOf(steps, "`await-approval`")[3]).toBe("1 min 35 s");
    expect(rowOf(steps, "`data-tier`")[3]).toBe("42 s");
    expect(rowOf(steps, "`switch-traffic`")[3]).toBe("2 min 5 s");
    expect(rowOf(steps, "`verify`")[3]).toBe("3.75 s");
  });

  it("pairs repeated and unfinished steps and keeps a failed step's detail", () => {
    const runId = "r1";
    const entries: JournalEntry[] = [
      { runId, at: t(0), kind: "step-started", step: "data-tier", message: "start" },
      { runId, at: t(5), kind: "step-finished", step: "data-tier", message: "failed", data: { outcome: "failed", detail: "LRO ended Failed" } },
      { runId, at: t(10), kind: "step-started", step: "data-tier", message: "start again" },
      { runId, at: t(22.5), kind: "step-finished", step: "data-tier", message: "ok" },
      { runId, at: t(30), kind: "step-started", step: "verify", message: "start" },
    ];
    const steps = section(renderReport(entries), "Steps").filter((l) => l.startsWith("| `"));
    expect(steps).toEqual([
      "| `data-tier` | 10:00:00.000 | 10:00:05.000 | 5 s | failed | LRO ended Failed |",
      "| `data-tier` | 10:00:10.000 | 10:00:22.500 | 12.5 s | ok |  |",
      "| `verify` | 10:00:30.000 | — | unfinished | unfinished |  |",
    ]);
  });

  it("prefers the run output's step records for durations", () => {
    const { entries, output } = failoverJournal(plan);
    const changed: RunOutput = { ...output, steps: [{ step: "verify", startedAt: t(0), endedAt: t(61), outcome: "failed", detail: "api healthz 500" }] };
    const steps = section(renderReport(entries, changed), "Steps").filter((l) => l.startsWith("| `"));
    expect(steps).toEqual(["| `verify` | 10:00:00.000 | 10:01:01.000 | 1 min 1 s | failed | api healthz 500 |"]);
  });

  it("says whether the RTO was met or missed, and by how much", () => {
    const { entries, output } = failoverJournal(plan);
    const objectives = (o: RunOutput) => section(renderReport(entries, o), "Objectives").join("\n");
    expect(objectives(output)).toContain("5 min 30 s (330 s) against a target of 30 min: **met** (24 min 30 s to spare).");
    expect(objectives({ ...output, rtoSeconds: 2000 })).toContain("33 min 20 s (2000 s) against a target of 30 min: **missed** by 3 min 20 s.");
    expect(objectives({ ...output, rtoSeconds: 1800 })).toContain("**met** (0 s to spare)");
    expect(objectives({ ...output, rtoSeconds: null, outcome: "stopped-approval-timeout" })).toContain("not achieved: the run did not reach a verified new primary (a target of 30 min).");
  });

  it("puts RPO exposure against the budget and names what allowed data loss", () => {
    const { entries, output } = failoverJournal(plan);
    const objectives = (o: RunOutput) => section(renderReport(entries, o), "Objectives").join("\n");
    expect(objectives(output)).toContain("7 min (420 s) against a budget of 5 min: **over budget** by 2 min; data-loss failover allowed by a human approval.");
    expect(objectives({ ...output, rpoExposureSeconds: 12, dataLossAllowedBy: "rpo-gate" })).toContain("12 s against a budget of 5 min: **within budget**; data-loss failover allowed by the RPO gate.");
    expect(objectives({ ...output, rpoExposureSeconds: 0, dataLossAllowedBy: "none" })).toContain("0 s against a budget of 5 min: **within budget**; no data-loss failover was allowed.");
    expect(objectives({ ...output, rpoExposureSeconds: null })).toContain("unknown: replication lag could not be measured");
  });

  it("renders from the run-finished entry's output when no output is passed", () => {
    const { entries, output } = failoverJournal(plan);
    expect(renderReport(entries)).toBe(renderReport(entries, output));
    const unfinished = renderReport(entries.filter((e) => e.kind !== "run-finished"));
    expect(unfinished).toContain("RTO and RPO exposure are not available");
    expect(unfinished).toContain("**in progress**");
  });

  it("lists every decision with the inputs it used", () => {
    const { entries } = failoverJournal(plan);
    const decisions = section(renderReport(entries), "Decisions and why");
    expect(decisions.filter((l) => /^\d+\. /.test(l))).toEqual([
      "1. **eastus2 is down and centralus is healthy: fail over**",
      "2. **lag 420 s is above the RPO budget of 300 s: a forced failover needs an approval**",
      "3. **centralus verified: every health endpoint answers 200**",
    ]);
    const first = decisions.slice(decisions.indexOf("1. **eastus2 is down and centralus is healthy: fail over**"), decisions.findIndex((l) => l.startsWith("2. ")));
    expect(first).toEqual([
      "1. **eastus2 is down and centralus is healthy: fail over**",
      "   - at 10:00:01.900 in `assess-regions`",
      "   - quorum: 2",
      "   - downSignals: 3",
      "   - target: region: centralus; healthy: true",
      "   - probes:",
      "     - [1] url: https://contoso-orders-eastus2.azurewebsites.net/healthz; ok: false; status: 503; ms: 12",
      "     - [2] url: https://contoso-orders-centralus.azurewebsites.net/healthz; ok: true; status: 200; ms: 9",
    ]);
    expect(decisions).toContain("   - maxLagSeconds: 420");
    expect(decisions).toContain("   - rpoSeconds: 300");
    expect(decisions).toContain(`     - [1] failoverGroup: ${FOG}; lagSeconds: 420; replicationState: CATCH_UP`);
    expect(decisions).toContain("   - checks: healthz 200, api healthz 200");
  });

  it("lists Azure writes with their request ids, operations without resume tokens, waits with who and why, and notifications", () => {
    const { entries } = failoverJournal(plan);
    const md = renderReport(entries);
    const writes = section(md, "Azure writes");
    const sqlWrite = rowOf(writes, "10:02:21.000");
    expect(sqlWrite).toEqual(["10:02:21.000", "`data-tier`", "FailoverGroups_ForceFailoverAllowDataLoss", `\`${FOG}\``, "Succeeded", "`5d1e7c2a-0001`, `5d1e7c2a-0002`"]);
    expect(rowOf(writes, "10:04:26.000")[5]).toBe("`9a8b-0003`");
    expect(rowOf(writes, "10:01:40.000")[4]).toBe("running");
    expect(md).not.toContain("resumeToken");
    const waits = section(md, "Waits");
    expect(rowOf(waits, "10:01:39.000")[3]).toBe("result: approved; by: alice@contoso.com; reason: eastus2 outage confirmed by Azure status page");
    const notes = section(md, "Notifications").filter((l) => /^\| \d/.test(l));
    expect(notes.map((l) => l.split(" | ").slice(1, 3))).toEqual([
      ["failover-started", "critical"],
      ["failover-completed", "info"],
    ]);
  });

  it("orders the timeline by time with the elapsed time since the run started", () => {
    const { entries } = failoverJournal(plan);
    const timeline = section(renderReport(entries), "Timeline").filter((l) => /^\| \d/.test(l));
    expect(timeline).toHaveLength(entries.length);
    const times = timeline.map((l) => l.split(" | ")[0]!.slice(2));
    expect([...times].sort()).toEqual(times);
    // The failover-started notification was appended last but happened at +3 s.
    expect(timeline[5]).toBe("| 10:00:03.000 | +3 s | `notify` | notification | critical failover-started: eastus2 is down |");
  });

  it("is deterministic: the same entries in any arrival order render the same text", () => {
    const { entries } = failoverJournal(plan);
    // Entries with distinct times may arrive in any order (parallel activities); equal times keep journal order.
    const distinct = entries.map((e, i) => ({ ...e, at: t(i) }));
    const reversed = [...distinct].reverse();
    const shuffled = distinct.filter((_, i) => i % 2 === 0).concat(distinct.filter((_, i) => i % 2 === 1));
    const a = renderReport(distinct);
    expect(renderReport(reversed)).toBe(a);
    expect(renderReport(shuffled)).toBe(a);
    expect(renderReport(structuredClone(distinct))).toBe(a);
  });

  it("shows full times when the run crosses midnight", () => {
    const runId = "r2";
    const md = renderReport([
      { runId, at: "2025-03-01T23:59:59.000Z", kind: "step-started", step: "verify", message: "start" },
      { runId, at: "2025-03-02T00:00:01.000Z", kind: "step-finished", step: "verify", message: "ok" },
    ]);
    expect(section(md, "Steps")).toContain("| `verify` | 2025-03-01T23:59:59.000Z | 2025-03-02T00:00:01.000Z | 2 s | ok |  |");
  });

  it("keeps table structure intact and masks secret-looking text that reached an unguarded journal", () => {
    const runId = "r3";
    const md = renderReport([
      { runId, at: t(0), kind: "wait", step: "await-approval", message: "approved | by ops\nsecond line", data: { by: "bob", password: "hunter2" } },
      { runId, at: t(1), kind: "decision", message: "used https://a.blob.core.windows.net/c?sv=1&sig=SECRETSIG", data: { connectionString: "AccountKey=SECRETKEY" } },
    ]);
    expect(md).toContain("| 10:00:00.000 | `await-approval` | approved \\| by ops second line | by: bob; password: [redacted] |");
    expect(md).not.toContain("hunter2");
    expect(md).not.toContain("SECRETSIG");
    expect(md).not.toContain("SECRETKEY");
  });

  it("formats seconds for people", () => {
    expect([0, 0.25, 9.999, 12.34, 59.9, 60, 125, 3600, 3725].map(seconds)).toEqual(["0 s", "0.25 s", "10 s", "12.3 s", "59.9 s", "1 min", "2 min 5 s", "1 h 0 min", "1 h 2 min 5 s"]);
  });
});
