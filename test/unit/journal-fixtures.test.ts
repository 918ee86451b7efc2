/**
 * The recorded run journals (test/fixtures/journals/, from real local runs) still describe what the code
 * journals: they parse as the journals parse them, and use only the entry kinds, step names, run id
 * format and outcomes the code defines. A rename in the code fails this test until the fixtures are
 * re-recorded (npx tsx test/fixtures/record-journals.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { notificationEntry } from "../../src/core/run/entries.ts";
import { Activities, planOfRunId, type NotifyInput, type RunOutcome } from "../../src/core/run/model.ts";
import type { JournalEntryKind } from "../../src/journal/journal.ts";
import { recordedRun, recordedRunNames } from "../helpers/recordedJournals.ts";

/** Every entry kind (a Record over the union: the typecheck fails when a kind is added, renamed or removed). */
const KINDS: Record<JournalEntryKind, true> = {
  "run-started": true,
  "run-finished": true,
  "step-started": true,
  "step-finished": true,
  decision: true,
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

const ORCHESTRATIONS = fileURLToPath(new URL("../../src/orchestrations/", import.meta.url));

/**
 * The step names the orchestrations write, read from their source: the literal step argument of
 * `step(name, …)` (the run's steps, with `runSteps` true) and of everything that journals under a step
 * (`note(kind, message, data, step)`, `call`/`callAll`/`converge`/`awaitOperations(step, …)`,
 * `new StepFailed(step, …)`, and the local helpers `aborted(step)` and `awaitHealthy(step)`).
 */
function orchestrationStepNames(): { runSteps: Set<string>; journaled: Set<string> } {
  const stepArgument: Record<string, number> = { step: 0, note: 3, call: 0, callAll: 0, converge: 0, awaitOperations: 0, awaitOperationsInline: 0, StepFailed: 0, aborted: 0, awaitHealthy: 0 };
  const runSteps = new Set<string>();
  const journaled = new Set<string>();
  for (const file of readdirSync(ORCHESTRATIONS).filter((f) => f.endsWith(".ts"))) {
    const source = ts.createSourceFile(file, readFileSync(join(ORCHESTRATIONS, file), "utf8"), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) || ts.isNewExpression(node)) {
        const callee = node.expression;
        const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
        const index = name === undefined ? undefined : stepArgument[name];
        const arg = index === undefined ? undefined : node.arguments?.[index];
        if (arg && ts.isStringLiteral(arg)) {
          journaled.add(arg.text);
          if (name === "step") runSteps.add(arg.text);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return { runSteps, journaled };
}

describe("the recorded run journals", () => {
  const names = recordedRunNames();
  const { runSteps, journaled } = orchestrationStepNames();
  /** Steps entries may carry: the orchestrations', the activities' (they journal under their own name), and notifications'. */
  const notifyStep = notificationEntry({ runId: "r", plan: { name: "p" }, event: "e", severity: "info", message: "m" } as NotifyInput, "2025-01-01T00:00:00.000Z").step!;
  const knownSteps = new Set([...journaled, ...Object.values(Activities), notifyStep]);

  it("are there, one per recorded variant, and small", () => {
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) expect(recordedRun(name).text.length, name).toBeLessThan(20_000);
  });

  it("the source scan finds the orchestration's steps (the scan itself still works)", () => {
    for (const step of ["assess", "measure", "approval", "data-tier", "traffic", "verify", "reprotect", "check-reprotection", "restore-redundancy"]) expect(runSteps).toContain(step);
    expect(journaled).toContain("gate");
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
    expect(output.outcome in OUTCOMES, output.outcome).toBe(true);
    expect(output.steps.map((s) => s.step).filter((step) => !runSteps.has(step))).toEqual([]);
  });
});
