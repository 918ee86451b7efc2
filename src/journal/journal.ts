import type { Journal, JournalEntry } from "../core/journal.ts";
import { storableEntry } from "./guard.ts";

/** The journal's types live in core (src/core/journal.ts); the stores are here. */
export type { Journal, JournalEntry, JournalEntryKind } from "../core/journal.ts";

/** In-memory journal for unit tests and single-process tools; entries are checked and redacted as the stores do. */
export class MemoryJournal implements Journal {
  private readonly runs = new Map<string, JournalEntry[]>();

  async append(given: JournalEntry): Promise<void> {
    const { entry } = storableEntry(given);
    const list = this.runs.get(entry.runId) ?? [];
    list.push(structuredClone(entry));
    this.runs.set(entry.runId, list);
  }

  async read(runId: string): Promise<JournalEntry[]> {
    return structuredClone(this.runs.get(runId) ?? []);
  }

  async listRuns(): Promise<string[]> {
    return [...this.runs.keys()].reverse();
  }
}
