import type { JournalEntry, RunFinishedData, RunStartedData } from "../journal.ts";
import type { NotifyInput, RunInput, RunOrchestrationInput, RunOutput, StepRecord } from "./model.ts";

/**
 * Builders of the run-level journal entries (their data types are in src/core/journal.ts): writers use
 * them so that `switchyard report` finds kind, plan, regions, trigger and the run's output.
 */

export function runStartedEntry(input: RunOrchestrationInput | RunInput, at: string): JournalEntry {
  const data: RunStartedData = {
    kind: input.kind,
    mode: input.mode,
    plan: input.plan.name,
    from: input.from,
    to: input.to,
    trigger: input.trigger,
    rtoTargetSeconds: input.plan.objectives.rtoMinutes * 60,
    rpoBudgetSeconds: input.plan.objectives.rpoSeconds,
  };
  return {
    runId: input.runId,
    at,
    kind: "run-started",
    message: `${input.kind} of ${input.plan.name} from ${input.from} to ${input.to} started (${input.trigger.source} by ${input.trigger.by}: ${input.trigger.reason})`,
    data: { ...data },
  };
}

export function runFinishedEntry(output: RunOutput, at: string): JournalEntry {
  const data: RunFinishedData = { outcome: output.outcome, output };
  return { runId: output.runId, at, kind: "run-finished", message: `${output.kind} ${output.outcome}: ${output.message}`, data: { ...data } };
}

export function stepStartedEntry(runId: string, step: string, at: string, message = `${step} started`): JournalEntry {
  return { runId, at, kind: "step-started", step, message };
}

export function stepFinishedEntry(runId: string, record: StepRecord, message = `${record.step} ${record.outcome}${record.detail ? `: ${record.detail}` : ""}`): JournalEntry {
  return {
    runId,
    at: record.endedAt,
    kind: "step-finished",
    step: record.step,
    message,
    data: { outcome: record.outcome, ...(record.detail !== undefined ? { detail: record.detail } : {}) },
  };
}

/**
 * An entry as the orchestration hands it to the journal activity: the run is named once per call, and
 * a step boundary that went as planned goes without its message, which `impliedMessage` words the same
 * way every time (durable history keeps what the orchestration sends, so it sends no more than needed).
 */
export type JournalDraft = Omit<JournalEntry, "runId" | "message"> & { readonly runId?: string; readonly message?: string };

/** The message of a draft that has none: a step boundary's (`data-tier started`, `data-tier finished`). */
export function impliedMessage(draft: JournalDraft): string {
  const step = draft.step ?? "run";
  if (draft.kind === "step-started") return `${step} started`;
  if (draft.kind === "step-finished") {
    const outcome = draft.data?.outcome;
    return outcome === "failed" ? `${step} failed` : `${step} finished`;
  }
  return `${draft.kind}${draft.step ? ` (${draft.step})` : ""}`;
}

/** The entry a notification leaves: what was said, to whom it matters (severity) and about which event. */
export function notificationEntry(n: NotifyInput, at: string, extra?: Record<string, unknown>): JournalEntry {
  return {
    runId: n.runId,
    at,
    kind: "notification",
    step: "notify",
    message: `${n.severity} ${n.event}: ${n.message}`,
    data: { event: n.event, severity: n.severity, plan: n.plan.name, ...(n.details ? { details: n.details } : {}), ...extra },
  };
}
