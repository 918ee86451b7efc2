/**
 * The run journal: an append-only record per run of every decision (with the inputs it used), every
 * Azure write (with its request id and result), every wait, step boundaries and notifications.
 * Entries never carry secret values.
 */
export type JournalEntryKind =
  | "run-started"
  | "run-finished"
  | "step-started"
  | "step-finished"
  | "decision"
  | "observation"
  | "write"
  | "wait"
  | "notification"
  | "operation";

export interface JournalEntry {
  readonly runId: string;
  /** ISO time the entry was made (orchestrator time for orchestrator entries). */
  readonly at: string;
  readonly kind: JournalEntryKind;
  readonly step?: string;
  /** One line for people. */
  readonly message: string;
  /** Structured facts: inputs of a decision, the resource, request id, result. */
  readonly data?: Record<string, unknown>;
}

export interface Journal {
  append(entry: JournalEntry): Promise<void>;
  read(runId: string): Promise<JournalEntry[]>;
  /** Run ids, newest first. */
  listRuns(): Promise<string[]>;
}
