import { describe, expect, it } from "vitest";
import { formatDrillRun, formatDrillSummary, waitingLines, type DrillRun } from "../../src/local/drill.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import type { RunStatus } from "../../src/core/run/model.ts";
import { recordedRun } from "../helpers/recordedJournals.ts";

// What `switchyard drill` prints, from outputs and journals recorded from real local runs.
const OVER_BUDGET = recordedRun("storage-failover-approved-over-budget");
const FAILBACK = recordedRun("storage-failback");
const TIMED_OUT = recordedRun("storage-failover-approval-timeout");

const drillRun = (run: typeof OVER_BUDGET): DrillRun => ({ output: run.output, timeScale: 3600, reportPath: `/tmp/${run.runId}.md`, wallSeconds: 2.5 });

describe("a drill run's summary", () => {
  it("says what happened: Switched to the target, Returned to home, never 'Failed over' for a success", () => {
    expect(OVER_BUDGET.output.message).toMatch(/^Failed over to ukwest/);
    expect(FAILBACK.output.message).toMatch(/^Failed back to uksouth/);

    const failover = formatDrillRun("failover", drillRun(OVER_BUDGET));
    const failback = formatDrillRun("failback", drillRun(FAILBACK));

    expect(failover).toContain("\n  Switched to ukwest in ");
    expect(failback).toContain("\n  Returned to uksouth in ");
    expect(`${failover}\n${failback}`).not.toMatch(/Failed (over|back)/);
  });

  it("shows an approval that timed out as timed out, and one that came as approved", () => {
    const approvalLine = (text: string) => text.split("\n").find((l) => l.trimStart().startsWith("approval "))!;
    expect(TIMED_OUT.output.steps.find((s) => s.step === "approval")?.outcome, "as recorded").toBe("ok");

    expect(approvalLine(formatDrillRun("failover", drillRun(TIMED_OUT)))).toMatch(/timed out \(no approval\)$/);
    expect(approvalLine(formatDrillRun("failover", drillRun(OVER_BUDGET)))).toMatch(/ approved$/);
  });

  it("is plain text unless given a terminal style", () => {
    const summary = formatDrillSummary({ plan: "tailspin-media", timeScale: 3600, failover: drillRun(OVER_BUDGET), wallSeconds: 3, ok: true });
    expect(summary).not.toMatch(/\u001b|✓/);
    expect(summary.split("\n").at(-1)).toBe("drill passed in 3.0 s");
  });
});

describe("progress inside a lasting step", () => {
  const status = (step: string, waitingFor?: RunStatus["waitingFor"]): RunStatus => ({ runId: FAILBACK.runId, kind: "failback", step, stepStartedAt: "2026-12-02T19:22:06.100Z", ...(waitingFor ? { waitingFor } : {}) });
  const at = (iso: string) => new Date(iso);

  it("names each resource the step waits for, with its latest wait and how long it has been waited for", () => {
    const upTo = (iso: string) => FAILBACK.entries.filter((e) => e.at <= iso);

    const lines = waitingLines(upTo("2026-12-02T19:22:07.000Z"), status("reprotect", "reprotection"), at("2026-12-02T19:22:06.100Z"), at("2026-12-02T19:22:16.112Z"));

    expect(lines).toEqual([expect.stringMatching(/^tailspinmedia: tailspinmedia is Standard_RAGRS; Azure is still making the first copy to uksouth .* \(waiting 10\.0 s\)$/)]);
  });

  it("lists the Azure operations being watched until they end", () => {
    const watching: JournalEntry[] = FAILBACK.entries.filter((e) => e.step === "data-tier" && e.kind === "wait");
    const started = watching.filter((e) => /^watching/.test(e.message));
    expect(started.length).toBeGreaterThan(0);
    const from = Date.parse(started[0]!.at);

    const during = waitingLines(started, status("data-tier", "operation"), new Date(from), new Date(from + 4_000));
    const after = waitingLines(watching, status("data-tier", "operation"), new Date(from), new Date(from + 4_000));

    expect(during).toEqual(["tailspinmedia: StorageAccounts_Failover (Planned) in progress (waiting 4.0 s)"]);
    expect(after).toEqual(["waiting for operation (step running 4.0 s)"]);
    // With the run's time scale, the estimate from Azure's profile: a storage failover takes about an hour.
    expect(waitingLines(started, status("data-tier", "operation"), new Date(from), new Date(from + 4_000), 3600)).toEqual([
      "tailspinmedia: StorageAccounts_Failover (Planned) in progress (waiting 4.0 s of about 1.0 s, as Azure's profile has it)",
    ]);
  });
});
