import { describe, expect, it } from "vitest";
import { renderReport, seconds } from "../../src/core/run/report.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { recordedRun, type RecordedRun } from "../helpers/recordedJournals.ts";

// Journals recorded from real local runs of test/fixtures/storage-only.plan.json (tailspin-media,
// uksouth → ukwest, RPO budget 300 s, RTO target 20 min): see test/fixtures/record-journals.ts.
const OVER_BUDGET = recordedRun("storage-failover-approved-over-budget");
const RPO_GATE = recordedRun("storage-failover-rpo-gate");
const FAILBACK = recordedRun("storage-failback");
const TIMED_OUT = recordedRun("storage-failover-approval-timeout");
const ABORTED = recordedRun("storage-failover-aborted");
const FAILED = recordedRun("storage-failover-failed");

/** The lines of a section (from its `## ` heading to the next). */
function section(markdown: string, heading: string): string[] {
  const lines = markdown.split("\n");
  const start = lines.indexOf(`## ${heading}`);
  expect(start, `section ${heading}`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  return lines.slice(start + 1, end === -1 ? undefined : end).filter((l) => l.trim() !== "");
}

/** The table rows of a section whose first cell is `first` (cells trimmed). */
function rowsOf(lines: string[], first: string): string[][] {
  return lines.filter((l) => l.startsWith(`| ${first} |`)).map((l) => l.slice(2, -2).split(" | ").map((c) => c.trim()));
}

function rowOf(lines: string[], first: string): string[] {
  const rows = rowsOf(lines, first);
  expect(rows, `row ${first}`).toHaveLength(1);
  return rows[0]!;
}

/** A recorded time as the report shows it for a run within one UTC day. */
function clock(run: RecordedRun, iso: string): string {
  expect(new Set(run.entries.map((e) => e.at.slice(0, 10))).size, `${run.name} is within one UTC day`).toBe(1);
  return iso.slice(11, 23);
}

const byTime = (entries: readonly JournalEntry[]) => [...entries].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
const startedData = (run: RecordedRun) => run.entries[0]!.data as { trigger: { detectedAt: string } };

describe("renderReport, on journals recorded from real runs", () => {
  it("has a title with the run id and a summary of kind, plan, regions, outcome and trigger", () => {
    const { runId, entries, output } = OVER_BUDGET;
    const md = renderReport(entries);
    const [first, last] = [byTime(entries)[0]!, byTime(entries).at(-1)!];
    expect(md.split("\n")[0]).toBe(`# Switchyard run \`${runId}\``);
    expect(md).toContain("Failover of **tailspin-media** from **uksouth** to **ukwest**: **completed**");
    expect(md).toContain("- **Kind:** failover (mode auto)");
    expect(md).toContain("- **Plan:** tailspin-media");
    expect(md).toContain("- **From → to:** uksouth → ukwest");
    // The recorded message begins "Failed over to ukwest": the report says what happened.
    expect(output.message).toMatch(/^Failed over to ukwest /);
    expect(md).toContain(`- **Outcome:** completed — ${output.message.replace(/^Failed over to /, "Switched to ")}`);
    expect(md.slice(0, md.indexOf("## Objectives")), "the summary").not.toMatch(/Failed over/);
    expect(md).toContain(`- **Trigger:** drill by switchyard drill: DR drill: uksouth taken down (outage began (drill) ${startedData(OVER_BUDGET).trigger.detectedAt})`);
    expect(md).toContain(`- **Journal:** ${entries.length} entries, ${first.at} → ${last.at}`);
    for (const heading of ["Objectives", "Steps", "Timeline", "Decisions and why", "Azure writes", "Waits", "Notifications"]) expect(md).toContain(`\n## ${heading}\n`);
  });

  it.each([OVER_BUDGET, RPO_GATE, FAILBACK])("$name: the steps from the step entries are the steps the run output records", (run) => {
    const fromJournal = section(renderReport(run.entries.filter((e) => e.kind !== "run-finished")), "Steps");
    const fromOutput = section(renderReport(run.entries, run.output), "Steps");
    expect(fromJournal).toEqual(fromOutput);
    const rows = fromJournal.filter((l) => l.startsWith("| `"));
    expect(rows).toEqual(
      // An approval that came shows as approved (the recorded step outcome is ok).
      run.output.steps.map((s) => `| \`${s.step}\` | ${clock(run, s.startedAt)} | ${clock(run, s.endedAt)} | ${seconds((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000)} | ${s.step === "approval" ? "approved" : "ok"} |  |`),
    );
  });

  it("a failed step shows as failed, with its error, from the step entries alone (a run whose end is not journaled)", () => {
    const steps = section(renderReport(FAILED.entries.filter((e) => e.kind !== "run-finished")), "Steps");
    const failed = FAILED.output.steps.find((s) => s.outcome === "failed")!;
    expect(rowOf(steps, `\`${failed.step}\``).slice(4)).toEqual(["failed", failed.detail]);
  });

  it("shows the open step of a run in progress (its journal so far) as unfinished, without objectives", () => {
    const waiting = OVER_BUDGET.entries.findIndex((e) => e.kind === "wait" && e.step === "approval");
    const sofar = OVER_BUDGET.entries.slice(0, waiting + 1);
    const md = renderReport(sofar);
    expect(md).toContain("from **uksouth** to **ukwest**: **in progress**");
    expect(md).toContain("(the journal has no run-finished entry)");
    expect(md).toContain("RTO and RPO exposure are not available");
    const steps = section(md, "Steps").filter((l) => l.startsWith("| `"));
    expect(steps.map((l) => l.split(" | ")[0])).toEqual(["| `assess`", "| `measure`", "| `approval`"]);
    const opened = sofar.find((e) => e.kind === "step-started" && e.step === "approval")!;
    expect(rowOf(steps, "`approval`").slice(1)).toEqual([clock(OVER_BUDGET, opened.at), "—", "unfinished", "unfinished", ""]);
  });

  it("takes step outcomes and details from the run output: a failed step with its error", () => {
    const steps = section(renderReport(FAILED.entries), "Steps");
    const failed = FAILED.output.steps.find((s) => s.outcome === "failed")!;
    expect(failed.step).toBe("data-tier");
    expect(failed.detail).toContain("429 TooManyRequests");
    expect(rowOf(steps, "`data-tier`").slice(4)).toEqual(["failed", failed.detail]);
    expect(FAILED.output.steps.map((s) => s.step)).toEqual(["assess", "measure", "data-tier"]);
  });

  it("says whether the RTO was met, and that a run that stopped did not reach it", () => {
    const rto = (run: RecordedRun, output = run.output) => section(renderReport(run.entries, output), "Objectives")[0]!;
    const { rtoSeconds, rtoTargetSeconds } = OVER_BUDGET.output;
    expect(rtoTargetSeconds).toBe(1200);
    expect(rto(OVER_BUDGET)).toBe(`- **RTO** (outage began (drill) → new primary verified): ${seconds(rtoSeconds!)} against a target of 20 min: **met** (${seconds(1200 - rtoSeconds!)} to spare).`);
    for (const stopped of [TIMED_OUT, ABORTED, FAILED]) expect(rto(stopped)).toContain("not achieved: the run did not reach a verified new primary (a target of 20 min).");
    // Past the target (a local run is far faster than the plan's RTO): the output's figure, moved.
    expect(rto(OVER_BUDGET, { ...OVER_BUDGET.output, rtoSeconds: 2000 })).toContain("33 min 20 s (2000 s) against a target of 20 min: **missed** by 13 min 20 s.");
    expect(rto(OVER_BUDGET, { ...OVER_BUDGET.output, rtoSeconds: 1200 })).toContain("**met** (0 s to spare)");
  });

  it("puts RPO exposure against the budget and names what allowed data loss", () => {
    const rpo = (run: RecordedRun) => section(renderReport(run.entries), "Objectives")[1]!;
    const over = OVER_BUDGET.output.rpoExposureSeconds!;
    expect(over).toBeGreaterThan(300);
    expect(rpo(OVER_BUDGET)).toBe(`- **RPO exposure** (replication lag at the switch): ${seconds(over)} (${over} s) against a budget of 5 min: **over budget** by ${seconds(over - 300)}; data-loss failover allowed by a human approval.`);
    const gated = RPO_GATE.output.rpoExposureSeconds!;
    expect(RPO_GATE.output.dataLossAllowedBy).toBe("rpo-gate");
    expect(rpo(RPO_GATE)).toContain(`${seconds(gated)} against a budget of 5 min: **within budget**; data-loss failover allowed by the RPO gate.`);
    expect(rpo(FAILBACK)).toContain("0 s against a budget of 5 min: **within budget**; no data-loss failover was allowed.");
  });

  it("renders from the run-finished entry's output when no output is passed", () => {
    for (const run of [OVER_BUDGET, FAILED, ABORTED]) expect(renderReport(run.entries), run.name).toBe(renderReport(run.entries, run.output));
  });

  it("lists every decision, in time order, with the inputs it used", () => {
    const decisions = section(renderReport(OVER_BUDGET.entries), "Decisions and why");
    const made = byTime(OVER_BUDGET.entries).filter((e) => e.kind === "decision");
    expect(decisions.filter((l) => /^\d+\. /.test(l))).toEqual(made.map((d, i) => `${i + 1}. **${d.message}**`));
    expect(made.map((d) => d.step)).toEqual(["assess", "gate", "approval", "data-tier", "traffic", "verify"]);
    const gate = made[1]!;
    const start = decisions.indexOf(`2. **${gate.message}**`);
    expect(decisions.slice(start, decisions.findIndex((l) => l.startsWith("3. ")))).toEqual([
      `2. **${gate.message}**`,
      `   - at ${clock(OVER_BUDGET, gate.at)} in \`gate\``,
      "   - decision: needs-approval",
      "   - primaryHealthy: false",
      `   - maxLagSeconds: ${gate.data!.maxLagSeconds}`,
      "   - rpoSeconds: 300",
    ]);
  });

  it("lists what activities observed, with the activity and the figures behind each decision", () => {
    const observed = section(renderReport(OVER_BUDGET.entries), "What was observed");
    const measured = OVER_BUDGET.entries.find((e) => e.kind === "observation" && e.step === "measure")!;
    const storage = (measured.data!.storage as Record<string, unknown>[])[0]!;
    const start = observed.findIndex((l) => l.endsWith(`**${measured.message}**`));
    expect(start).toBeGreaterThanOrEqual(0);
    expect(observed[start + 1]).toBe(`   - at ${clock(OVER_BUDGET, measured.at)} in \`measure\` by \`measureReplication\``);
    expect(observed).toContain(`     - [1] ${Object.entries(storage).map(([k, v]) => `${k}: ${v}`).join("; ")}`);
  });

  it("lists Azure writes with their request ids, operations without resume tokens, waits with why, and notifications", () => {
    const md = renderReport(OVER_BUDGET.entries);
    const write = OVER_BUDGET.entries.find((e) => e.kind === "write")!;
    const data = write.data as { resourceId: string; operation: string; requestIds: string[]; result: string };
    expect(rowOf(section(md, "Azure writes"), clock(OVER_BUDGET, write.at))).toEqual([
      clock(OVER_BUDGET, write.at),
      "`data-tier`",
      "StorageAccounts_Failover (Unplanned)",
      `\`${data.resourceId}\``,
      "accepted",
      data.requestIds.map((id) => `\`${id}\``).join(", "),
    ]);
    expect(data.requestIds.length).toBeGreaterThan(0);
    const operations = OVER_BUDGET.entries.filter((e) => e.kind === "operation");
    expect(operations.map((o) => rowOf(section(md, "Azure writes"), clock(OVER_BUDGET, o.at))[4])).toEqual(["running", "succeeded"]);
    expect(OVER_BUDGET.text).toContain("resumeToken");
    expect(md).not.toContain("resumeToken");
    const wait = OVER_BUDGET.entries.find((e) => e.kind === "wait" && e.step === "approval")!;
    expect(rowOf(section(md, "Waits"), clock(OVER_BUDGET, wait.at))[3]).toBe(`until: ${wait.data!.until}; why: ${wait.data!.why}`);
    const notes = section(md, "Notifications").filter((l) => /^\| \d/.test(l));
    expect(notes.map((l) => l.split(" | ").slice(1, 3))).toEqual([
      ["failover-started", "warning"],
      ["approval-needed", "critical"],
      ["failover-completed", "info"],
    ]);
  });

  it("says how the approval wait ended: timed out, aborted or approved, never a bare ok", () => {
    const approvalRow = (run: RecordedRun, withEnd = true) =>
      rowOf(section(renderReport(withEnd ? run.entries : run.entries.filter((e) => e.kind !== "run-finished")), "Steps"), "`approval`")[4];
    expect(TIMED_OUT.output.steps.find((s) => s.step === "approval")?.outcome, "as recorded").toBe("ok");
    expect(approvalRow(TIMED_OUT)).toBe("timed out (no approval)");
    expect(approvalRow(TIMED_OUT, false), "from the journal alone").toBe("timed out (no approval)");
    expect(approvalRow(ABORTED)).toBe("aborted");
    expect(approvalRow(OVER_BUDGET)).toBe("approved");
  });

  it("names what started the RTO clock: an outage for alerts, a request for a manual run or a failback", () => {
    const withSource = (run: RecordedRun, source: string) =>
      run.entries.map((e) => (e.kind === "run-started" ? ({ ...e, data: { ...e.data, trigger: { ...e.data.trigger, source } } } as JournalEntry) : e));
    const summary = (entries: JournalEntry[]) => renderReport(entries).split("## Steps")[0]!;
    expect(summary(withSource(OVER_BUDGET, "manual"))).toContain("(failover requested 2");
    expect(summary(withSource(OVER_BUDGET, "manual"))).toContain("- **RTO** (failover requested → new primary verified)");
    expect(summary(withSource(OVER_BUDGET, "manual"))).not.toContain("outage");
    expect(summary(withSource(OVER_BUDGET, "alert"))).toContain("- **RTO** (outage detected → new primary verified)");
    expect(summary(FAILBACK.entries)).toContain("- **RTO** (failback requested → new primary verified)");
    expect(summary(FAILBACK.entries)).toContain(`- **Outcome:** completed — Returned to uksouth`);
  });

  it("shows who aborted and why, and the stop notification", () => {
    const md = renderReport(ABORTED.entries);
    expect(md).toContain("**stopped-aborted**");
    expect(section(md, "Decisions and why")).toContain("3. **aborted by oncall@tailspin.example: the primary is coming back: no data-loss failover**");
    expect(section(md, "Azure writes")).toEqual(["No Azure writes recorded."]);
    expect(section(md, "Notifications").filter((l) => /^\| \d/.test(l)).map((l) => l.split(" | ")[1])).toEqual(["failover-started", "approval-needed", "failover-stopped"]);
  });

  it("orders the timeline by time, whatever order the entries were stored in, with the elapsed time", () => {
    const { entries } = FAILED;
    // Activities and the orchestrator append separately: the run's retry notes were stored after the
    // activity's writes they came between.
    expect(entries.map((e) => e.at)).not.toEqual(byTime(entries).map((e) => e.at));
    const timeline = section(renderReport(entries), "Timeline").filter((l) => /^\| \d/.test(l));
    expect(timeline).toHaveLength(entries.length);
    expect(timeline.map((l) => l.split(" | ")[0]!.slice(2))).toEqual(byTime(entries).map((e) => clock(FAILED, e.at)));
    expect(timeline[0]).toMatch(/^\| [\d:.]+ \| \+0 s \|  \| run-started \| /);
  });

  it("is deterministic: the entries in another arrival order render the same text (entries of one instant keep their order)", () => {
    const { entries } = FAILED;
    const instants = [...new Set(entries.map((e) => e.at))];
    const group = (at: string) => entries.filter((e) => e.at === at);
    const reversed = [...instants].reverse().flatMap(group);
    const interleaved = [...instants.filter((_, i) => i % 2 === 1), ...instants.filter((_, i) => i % 2 === 0)].flatMap(group);
    const md = renderReport(entries);
    expect(renderReport(reversed)).toBe(md);
    expect(renderReport(interleaved)).toBe(md);
    expect(renderReport(structuredClone(entries))).toBe(md);
  });
});

describe("renderReport, on entries no run makes", () => {
  const at = (s: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, 0) + s * 1000).toISOString();

  it("shows full times when the run crosses midnight", () => {
    const runId = "r2";
    const md = renderReport([
      { runId, at: "2025-03-01T23:59:59.000Z", kind: "step-started", step: "verify", message: "verify started" },
      { runId, at: "2025-03-02T00:00:01.000Z", kind: "step-finished", step: "verify", message: "verify finished", data: { outcome: "ok", durationMs: 2000 } },
    ]);
    expect(section(md, "Steps")).toContain("| `verify` | 2025-03-01T23:59:59.000Z | 2025-03-02T00:00:01.000Z | 2 s | ok |  |");
  });

  it("keeps table structure intact and masks secret-looking text that reached an unguarded journal", () => {
    // The journals refuse such entries (src/journal/guard.ts): only a journal written without the guard has them.
    const runId = "r3";
    const md = renderReport([
      { runId, at: at(0), kind: "wait", step: "approval", message: "approved | by ops\nsecond line", data: { by: "bob", password: "hunter2" } },
      { runId, at: at(1), kind: "decision", message: "used https://a.blob.core.windows.net/c?sv=1&sig=SECRETSIG", data: { connectionString: "AccountKey=SECRETKEY" } },
    ]);
    expect(md).toContain("| 10:00:00.000 | `approval` | approved \\| by ops second line | by: bob; password: [redacted] |");
    expect(md).not.toContain("hunter2");
    expect(md).not.toContain("SECRETSIG");
    expect(md).not.toContain("SECRETKEY");
  });

  it("formats seconds for people", () => {
    expect([0, 0.25, 9.999, 12.34, 59.9, 60, 125, 3600, 3725].map(seconds)).toEqual(["0 s", "0.25 s", "10 s", "12.3 s", "59.9 s", "1 min", "2 min 5 s", "1 h 0 min", "1 h 2 min 5 s"]);
  });
});
