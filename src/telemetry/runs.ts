/**
 * A run's telemetry at its end: the journal activity that writes the run's `run-finished` entry calls
 * recordRunFinished, which reads the run's recorded start (its `run-started` entry) and emits the run's
 * root span and metrics (src/telemetry/telemetry.ts recordRunEnd). Activities run at least once: a
 * journal activity retried after it wrote the end emits it again (the same span id, so the same row in
 * a trace view).
 */
import type { JournalEntry } from "../core/journal.ts";
import type { JournalDraft } from "../core/run/entries.ts";
import { isObject } from "../core/guards.ts";
import { recordRunEnd, telemetryEnabled } from "./telemetry.ts";

const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Emits the run's span and metrics when `entries` (one journal activity call) hold its `run-finished` entry. Never rejects. */
export async function recordRunFinished(runId: string, entries: readonly JournalDraft[], readJournal: (runId: string) => Promise<JournalEntry[]>): Promise<void> {
  if (!telemetryEnabled()) return;
  const finished = entries.find((e) => e.kind === "run-finished");
  if (!finished) return;
  try {
    const output = isObject(finished.data) && isObject(finished.data.output) ? finished.data.output : undefined;
    if (!output) return;
    const endedAt = new Date(finished.at);
    const journal = await readJournal(runId).catch(() => [] as JournalEntry[]);
    const started = journal.find((e) => e.kind === "run-started");
    const startData: Record<string, unknown> = isObject(started?.data) ? started.data : {};
    const steps = Array.isArray(output.steps) ? output.steps : [];
    const firstStep = isObject(steps[0]) ? text(steps[0].startedAt) : undefined;
    const startedAt = new Date(started?.at ?? firstStep ?? finished.at);
    if (Number.isNaN(startedAt.getTime()) || Number.isNaN(endedAt.getTime())) return;
    recordRunEnd({
      runId,
      plan: text(startData.plan) ?? runId.split(".")[0]!,
      kind: text(output.kind) ?? "unknown",
      ...(text(startData.mode) ? { mode: text(startData.mode)! } : {}),
      outcome: text(output.outcome) ?? "unknown",
      from: text(output.from) ?? "",
      to: text(output.to) ?? "",
      startedAt,
      endedAt,
      rtoSeconds: num(output.rtoSeconds),
      rtoTargetSeconds: num(output.rtoTargetSeconds) ?? 0,
      rpoExposureSeconds: num(output.rpoExposureSeconds),
      rpoBudgetSeconds: num(output.rpoBudgetSeconds) ?? 0,
      dataLossAllowedBy: text(output.dataLossAllowedBy) ?? "none",
    });
  } catch {
    // telemetry is best effort: the journal entry is written
  }
}
