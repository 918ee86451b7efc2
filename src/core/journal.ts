/**
 * The run journal: an append-only record per run of every decision (with the inputs it used), what
 * activities observed, every Azure write (with its request id and result), every long-running
 * operation, every wait, step boundaries and notifications. Entries never carry secret values.
 *
 * An entry is one of the kinds below, each with the data of its kind. Stored entries are read back
 * through `parseJournalEntry` (src/core/journalParse.ts), so a reader can rely on these types.
 */
import type { RunInput, RunOutput } from "./run/model.ts";

interface EntryBase {
  readonly runId: string;
  /** ISO time the entry was made (orchestrator time for orchestrator entries). */
  readonly at: string;
  /**
   * The run's step the entry belongs to (`data-tier`, `traffic`); `notify` for notifications outside a
   * step; absent for the run's own start and end.
   */
  readonly step?: string;
  /** The activity that wrote the entry (`failoverSqlGroup`); absent when the orchestration wrote it. */
  readonly activity?: string;
  /** One line for people. */
  readonly message: string;
}

/**
 * Free-form facts of a decision, an observation or a wait: the inputs it used, what was seen. Every
 * kind's data is Facts too: the fields of its kind are typed, and an entry may carry more facts.
 */
export type Facts = Readonly<Record<string, unknown>>;

export interface RunStartedData extends Facts {
  readonly kind: RunInput["kind"];
  readonly mode: RunInput["mode"];
  /** The plan's name (never the whole plan). */
  readonly plan: string;
  readonly from: string;
  readonly to: string;
  readonly trigger: RunInput["trigger"];
  readonly rtoTargetSeconds: number;
  readonly rpoBudgetSeconds: number;
}

export interface RunFinishedData extends Facts {
  readonly outcome: RunOutput["outcome"];
  /** The run's output, whole: the report renders RTO, RPO and step durations from it. */
  readonly output: RunOutput;
}

export interface StepFinishedData extends Facts {
  readonly outcome: "ok" | "failed" | "skipped";
  readonly durationMs?: number;
  readonly detail?: string;
}

/** An Azure write: what, on which resource, Azure's request ids and the result; more facts besides. */
export interface WriteData extends Facts {
  readonly resourceId: string;
  readonly operation: string;
  readonly requestIds: readonly string[];
  readonly result: string;
}

/**
 * A long-running operation's state: `sending` before the request, `running` once Azure accepted it
 * (with the resume token that polls it), `succeeded` or `failed` when a poll saw it end.
 */
export interface OperationData extends Facts {
  readonly resourceId: string;
  readonly operation: string;
  readonly status: "sending" | "running" | "succeeded" | "failed";
  readonly resumeToken?: string;
  readonly requestIds?: readonly string[];
  readonly error?: string;
}

/** A notification: the event it was about and, when known, its severity; delivery facts besides. */
export interface NotificationData extends Facts {
  readonly event: string;
  readonly severity?: "info" | "warning" | "critical";
}

export interface RunStartedEntry extends EntryBase {
  readonly kind: "run-started";
  readonly data: RunStartedData;
}
export interface RunFinishedEntry extends EntryBase {
  readonly kind: "run-finished";
  readonly data: RunFinishedData;
}
export interface StepStartedEntry extends EntryBase {
  readonly kind: "step-started";
  readonly step: string;
  readonly data?: undefined;
}
export interface StepFinishedEntry extends EntryBase {
  readonly kind: "step-finished";
  readonly step: string;
  readonly data: StepFinishedData;
}
export interface DecisionEntry extends EntryBase {
  readonly kind: "decision";
  readonly data?: Facts;
}
/** What an activity saw (probes, replica figures, verification checks): the evidence behind a decision. */
export interface ObservationEntry extends EntryBase {
  readonly kind: "observation";
  readonly data: Facts;
}
export interface WriteEntry extends EntryBase {
  readonly kind: "write";
  readonly data: WriteData;
}
export interface WaitEntry extends EntryBase {
  readonly kind: "wait";
  readonly data?: Facts;
}
export interface NotificationEntry extends EntryBase {
  readonly kind: "notification";
  readonly data: NotificationData;
}
export interface OperationEntry extends EntryBase {
  readonly kind: "operation";
  readonly data: OperationData;
}

export type JournalEntry =
  | RunStartedEntry
  | RunFinishedEntry
  | StepStartedEntry
  | StepFinishedEntry
  | DecisionEntry
  | ObservationEntry
  | WriteEntry
  | WaitEntry
  | NotificationEntry
  | OperationEntry;

export type JournalEntryKind = JournalEntry["kind"];

/** The entry of one kind. */
export type EntryOf<K extends JournalEntryKind> = Extract<JournalEntry, { kind: K }>;

/** Every kind, in the order a run usually writes them. */
export const JOURNAL_ENTRY_KINDS: readonly JournalEntryKind[] = ["run-started", "step-started", "decision", "observation", "write", "operation", "wait", "notification", "step-finished", "run-finished"];

/** Narrows entries to one kind. */
export function entriesOf<K extends JournalEntryKind>(entries: readonly JournalEntry[], kind: K): EntryOf<K>[] {
  return entries.filter((e): e is EntryOf<K> => e.kind === kind);
}

export interface Journal {
  append(entry: JournalEntry): Promise<void>;
  read(runId: string): Promise<JournalEntry[]>;
  /** Run ids, newest first. */
  listRuns(): Promise<string[]>;
}
