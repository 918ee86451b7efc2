/**
 * Run journals recorded from real local runs (test/fixtures/record-journals.ts), as the journals store
 * them: one `{name}.jsonl` per run under test/fixtures/journals/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunOutput } from "../../src/core/run/model.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { parseJournalText } from "../../src/journal/lines.ts";

export const JOURNALS_DIR = fileURLToPath(new URL("../fixtures/journals/", import.meta.url));

/** The recorded runs (file names without .jsonl); what each is: test/fixtures/record-journals.ts. */
export type RecordedRunName =
  | "storage-failover-rpo-gate"
  | "storage-failback"
  | "storage-failover-approved-over-budget"
  | "storage-failover-approval-timeout"
  | "storage-failover-aborted"
  | "storage-failover-failed";

export interface RecordedRun {
  readonly name: string;
  readonly runId: string;
  /** The stored text (JSON Lines). */
  readonly text: string;
  /** The entries in the order they were stored (not necessarily time order: see renderReport). */
  readonly entries: JournalEntry[];
  /** The run's output, from its run-finished entry. */
  readonly output: RunOutput;
}

/** Every recorded journal's name. */
export function recordedRunNames(): string[] {
  return readdirSync(JOURNALS_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length))
    .sort();
}

/** A recorded run, parsed as the journals parse it; throws on any line that is not an entry of the run. */
export function recordedRun(name: RecordedRunName | (string & {})): RecordedRun {
  const text = readFileSync(join(JOURNALS_DIR, `${name}.jsonl`), "utf8");
  const runId = (JSON.parse(text.slice(0, text.indexOf("\n"))) as { runId: string }).runId;
  const { entries, skipped } = parseJournalText(text, runId);
  if (skipped.length > 0) throw new Error(`${name}.jsonl: lines that are not entries of ${runId}: ${JSON.stringify(skipped)}`);
  const finished = entries.filter((e) => e.kind === "run-finished");
  if (finished.length !== 1) throw new Error(`${name}.jsonl: ${finished.length} run-finished entries`);
  return { name, runId, text, entries, output: finished[0]!.data!.output as RunOutput };
}
