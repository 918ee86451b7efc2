import { isObject } from "../core/guards.ts";
import type { JournalEntry } from "./journal.ts";
import { findSecrets } from "../core/secrets.ts";

export { findSecrets, secretRule } from "../core/secrets.ts";

/**
 * The journal's last line of defence: checks made on every entry before it is stored. Activities are
 * meant never to hand a secret to the journal; these checks make a mistake fail loudly (at the call
 * that made it, in tests and drills) instead of persisting a key into an audit record that many people
 * read. Errors name where the problem is (`data.details.password`), never the value.
 */

/** A run id names a blob and a file: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class InvalidRunIdError extends Error {
  constructor(
    /** Where the bad run id was found: `runId`, `entry.runId`. */
    readonly path: string,
    readonly runId: unknown,
  ) {
    super(
      `${path}: ${typeof runId === "string" ? `'${runId.slice(0, 140)}'` : typeof runId} is not a run id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit${typeof runId === "string" && runId.includes("..") ? ", without '..'" : ""}`,
    );
    this.name = "InvalidRunIdError";
  }
}

/** Throws InvalidRunIdError unless `runId` is safe to use as a blob or file name. */
export function assertRunId(runId: unknown, path = "runId"): asserts runId is string {
  if (typeof runId !== "string" || !RUN_ID.test(runId) || runId.includes("..")) throw new InvalidRunIdError(path, runId);
}

export function isValidRunId(runId: unknown): runId is string {
  return typeof runId === "string" && RUN_ID.test(runId) && !runId.includes("..");
}

export class SecretInJournalError extends Error {
  constructor(
    /** Path of the offending value inside the entry: `data.settings[2].value`, `message`. */
    readonly path: string,
    /** Which rule matched (never the value). */
    readonly rule: string,
  ) {
    super(`journal entry refused: ${path} looks like a secret (${rule}); journal names and ids, never secret values`);
    this.name = "SecretInJournalError";
  }
}

/** Throws SecretInJournalError (naming the first offending path) if the entry carries anything secret-looking. */
export function assertNoSecrets(entry: JournalEntry): void {
  const found = [...findSecrets(entry.message, "message"), ...(entry.step !== undefined ? findSecrets(entry.step, "step") : []), ...findSecrets(entry.data, "data")];
  const first = found[0];
  if (first) throw new SecretInJournalError(first.path, first.rule);
}

export class InvalidEntryError extends Error {
  constructor(readonly path: string, problem: string) {
    super(`journal entry refused: ${path}: ${problem}`);
    this.name = "InvalidEntryError";
  }
}

const KINDS = new Set(["run-started", "run-finished", "step-started", "step-finished", "decision", "observation", "write", "wait", "notification", "operation"]);

/** Checks an entry before it is stored: its shape, its run id, and that it holds no secrets. */
export function assertStorableEntry(entry: JournalEntry): void {
  if (entry === null || typeof entry !== "object") throw new InvalidEntryError("entry", "not an object");
  assertRunId(entry.runId, "entry.runId");
  if (typeof entry.at !== "string" || Number.isNaN(Date.parse(entry.at))) throw new InvalidEntryError("entry.at", "an ISO date-time is required");
  if (!KINDS.has(entry.kind)) throw new InvalidEntryError("entry.kind", `'${String(entry.kind)}' is not one of ${[...KINDS].join(", ")}`);
  if (typeof entry.message !== "string") throw new InvalidEntryError("entry.message", "a string is required");
  if (entry.step !== undefined && typeof entry.step !== "string") throw new InvalidEntryError("entry.step", "a string is required when present");
  if (entry.data !== undefined && !isObject(entry.data)) throw new InvalidEntryError("entry.data", "an object is required when present");
  assertNoSecrets(entry);
}
