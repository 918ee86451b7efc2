import { isObject } from "../core/guards.ts";
import { parseJournalEntry } from "../core/journalParse.ts";
import type { JournalEntry } from "./journal.ts";

/**
 * The stored form of a run's journal, shared by the blob and file journals: JSON Lines, one entry per
 * line, each line written whole by a single append.
 */

/** Every stored line starts with this: the run id is always the first property written. */
const LINE_START = '{"runId":';

/** One entry as one line (with its newline), properties in a fixed order starting with `runId`. */
export function encodeEntry(entry: JournalEntry): string {
  const { runId, at, kind, step, activity, message, data } = entry;
  const canonical = { runId, at, kind, ...(step !== undefined ? { step } : {}), ...(activity !== undefined ? { activity } : {}), message, ...(data !== undefined ? { data } : {}) };
  return `${JSON.stringify(canonical)}\n`;
}

export interface ParsedJournal {
  readonly entries: JournalEntry[];
  /**
   * Lines that were not whole entries, 1-based. Every append writes a whole line at once, so such a line
   * can only be what a writer that crashed mid-append left behind; that append was never acknowledged.
   */
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

/**
 * Parses a run's journal text. A trailing line without its newline is a partial write and is ignored.
 * When a writer crashed mid-append and another appended after it, the partial write and the next whole
 * entry share a line: the entry is recovered (it starts at a later `{"runId":`, which cannot occur
 * inside a JSON string) and the partial prefix is reported in `skipped`. Any other complete line that is
 * not an entry of this run is skipped and reported.
 */
export function parseJournalText(text: string, runId: string): ParsedJournal {
  const lines = text.split("\n");
  const entries: JournalEntry[] = [];
  const skipped: { line: number; reason: string }[] = [];
  const last = lines.length - 1;
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    if (i === last) {
      skipped.push({ line: i + 1, reason: "partial line (no newline): an unfinished append" });
      return;
    }
    const whole = parseEntry(line, runId);
    if (typeof whole !== "string") {
      entries.push(whole);
      return;
    }
    for (let at = line.indexOf(LINE_START, 1); at > 0; at = line.indexOf(LINE_START, at + 1)) {
      const recovered = parseEntry(line.slice(at), runId);
      if (typeof recovered !== "string") {
        skipped.push({ line: i + 1, reason: `partial line (${at} characters) before an entry: an unfinished append` });
        entries.push(recovered);
        return;
      }
    }
    skipped.push({ line: i + 1, reason: whole });
  });
  return { entries, skipped };
}

/** The entry on a line, or why the line is not one. */
function parseEntry(line: string, runId: string): JournalEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return "not JSON: the remains of an unfinished append";
  }
  if (!isObject(value)) return "not an object";
  if (value.runId !== runId) return `runId is not '${runId}'`;
  const parsed = parseJournalEntry(value);
  return parsed.ok ? parsed.value : `${parsed.path}: ${parsed.problem}`;
}

/**
 * The run ids in newest-first order: by the time of the run's first entry, then by when its record was
 * created, then by id (descending) so that the order is total and stable.
 */
export function newestFirst(runs: readonly { runId: string; firstAt?: string | undefined; createdMs?: number | undefined }[]): string[] {
  const t = (iso: string | undefined) => {
    const ms = iso === undefined ? NaN : Date.parse(iso);
    return Number.isNaN(ms) ? -Infinity : ms;
  };
  return [...runs]
    .sort((a, b) => t(b.firstAt) - t(a.firstAt) || (b.createdMs ?? -Infinity) - (a.createdMs ?? -Infinity) || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0))
    .map((r) => r.runId);
}
