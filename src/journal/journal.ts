import type { Journal, JournalEntry } from "../core/journal.ts";

/** The journal's types live in core (src/core/journal.ts); the stores are here. */
export type { Journal, JournalEntry, JournalEntryKind } from "../core/journal.ts";

/** In-memory journal for unit tests and single-process tools. */
export class MemoryJournal implements Journal {
  private readonly runs = new Map<string, JournalEntry[]>();

  async append(entry: JournalEntry): Promise<void> {
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
