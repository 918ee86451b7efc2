/**
 * The recorded run journals (test/fixtures/journals/, from real local runs) still describe what the code
 * journals: they parse as the journals parse them, and use only the entry kinds, step names, run id
 * format and outcomes the code defines. A rename in the code fails this test until the fixtures are
 * re-recorded (npx tsx test/fixtures/record-journals.ts).
 */
import { describe, expect, it } from "vitest";
import { notificationEntry } from "../../src/core/run/entries.ts";
import { Activities, planOfRunId, Steps, type NotifyInput, type RunOutcome } from "../../src/core/run/model.ts";
import type { JournalEntryKind } from "../../src/journal/journal.ts";
import { recordedRun, recordedRunNames } from "../helpers/recordedJournals.ts";

/** Every entry kind (a Record over the union: the typecheck fails when a kind is added, renamed or removed). */
const KINDS: Record<JournalEntryKind, true> = {
  "run-started": true,
  "run-finished": true,
  "step-started": true,
  "step-finished": true,
  decision: true,
  observation: true,
  write: true,
  wait: true,
  notification: true,
  operation: true,
};

/** Every run outcome (same check as KINDS). */
const OUTCOMES: Record<RunOutcome, true> = {
  completed: true,
  "refused-target-unhealthy": true,
  "refused-not-reprotected": true,
  "stopped-approval-timeout": true,
  "stopped-aborted": true,
  failed: true,
};

describe("the recorded run journals", () => {
  const names = recordedRunNames();
  // The run's steps are the Steps constants the orchestrations name them by.
  const runSteps = new Set<string>(Object.values(Steps));
  /** Steps entries may carry: the run's, and notifications' (outside any step). Activities name themselves apart. */
  const notifyStep = notificationEntry({ runId: "r", plan: { name: "p" }, event: "e", severity: "info", message: "m" } as NotifyInput, "2025-01-01T00:00:00.000Z").step!;
  const knownSteps = new Set([...runSteps, notifyStep]);
  const activities = new Set<string>(Object.values(Activities));

  it("are there, one per recorded variant, and small", () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) expect(recordedRun(name).text.length, name).toBeLessThan(20_000);
  });

  it.each(names)("%s parses whole, as one run with an id the code makes", (name) => {
    const run = recordedRun(name); // throws on a line that is not an entry of the run
    expect(run.text.endsWith("\n")).toBe(true);
    expect(planOfRunId(run.runId), run.runId).toBe(JSON.parse(run.text.split("\n")[0]!).data.plan);
    expect(run.entries[0]!.kind).toBe("run-started");
    expect(run.entries.filter((e) => e.kind === "run-started")).toHaveLength(1);
    expect(run.entries.filter((e) => e.kind === "run-finished")).toHaveLength(1);
    for (const e of run.entries) expect(Number.isNaN(Date.parse(e.at)), e.at).toBe(false);
  });

  it.each(names)("%s uses only entry kinds, step names and outcomes the code defines", (name) => {
    const { entries, output } = recordedRun(name);
    expect([...new Set(entries.map((e) => e.kind))].filter((kind) => !(kind in KINDS))).toEqual([]);
    expect([...new Set(entries.flatMap((e) => (e.step === undefined ? [] : [e.step])))].filter((step) => !knownSteps.has(step))).toEqual([]);
    // An entry an activity wrote names the activity, and the run's step it served.
    expect([...new Set(entries.flatMap((e) => (e.activity === undefined ? [] : [e.activity])))].filter((a) => !activities.has(a))).toEqual([]);
    for (const kind of ["write", "operation", "observation"] as const) {
      for (const e of entries.filter((x) => x.kind === kind)) {
        expect(e.activity, `${kind} ${e.message}`).toBeDefined();
        expect(runSteps.has(e.step ?? ""), `${kind} ${e.message} in step ${e.step}`).toBe(true);
      }
    }
    expect(output.outcome in OUTCOMES, output.outcome).toBe(true);
    expect(output.steps.map((s) => s.step).filter((step) => !runSteps.has(step))).toEqual([]);
  });
});
