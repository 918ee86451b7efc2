import { isObject } from "../core/guards.ts";
import { parseJournalEntry } from "../core/journalParse.ts";
import type { JournalEntry } from "./journal.ts";
import { findSecrets, redactSecrets } from "../core/secrets.ts";

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

/**
 * Checks an entry before it is stored: its shape (every field of its kind, as the journal will be read
 * back) and its run id; throws InvalidEntryError / InvalidRunIdError naming the field.
 */
export function assertStorableEntry(entry: JournalEntry): void {
  if (!isObject(entry)) throw new InvalidEntryError("entry", "not an object");
  assertRunId(entry.runId, "entry.runId");
  const parsed = parseJournalEntry(entry);
  if (!parsed.ok) throw new InvalidEntryError(parsed.path, parsed.problem);
}

/**
 * The entry as it is stored: checked (assertStorableEntry), with every secret-looking value replaced by
 * `[redacted]` (the paths and rules that matched are returned, never the values). Much of what a
 * journal records is untrusted text (alert rule names, caller names, reasons): a secret-looking part
 * of it is masked, never a reason to refuse the entry, since a refused entry would fail the run or the
 * decision that writes it.
 */
export function storableEntry(entry: JournalEntry): { entry: JournalEntry; redacted: { path: string; rule: string }[] } {
  assertStorableEntry(entry);
  const { value, redacted } = redactSecrets(entry, "entry");
  return { entry: redacted.length === 0 ? entry : value, redacted };
}

/** The entry a draft or stored value describes, checked; InvalidEntryError naming the bad field otherwise. */
export function requireEntry(value: unknown): JournalEntry {
  const parsed = parseJournalEntry(value);
  if (!parsed.ok) throw new InvalidEntryError(parsed.path, parsed.problem);
  return parsed.value;
}
