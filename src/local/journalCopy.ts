import type { Journal, JournalEntry } from "../core/journal.ts";
import type { Logger } from "../core/logger.ts";

/**
 * The local app's journal: every entry goes to the journal of record (Azurite's blob journal, as in
 * Azure) and a copy to a folder journal that outlives the local app, so `switchyard report` reads a
 * drill's or a local serve's runs after the process has ended, without storage settings. Reads come
 * from the journal of record. A copy that cannot be written is logged and never fails the run: the
 * record is complete without it.
 */
export class CopyingJournal implements Journal {
  constructor(
    private readonly record: Journal,
    private readonly copy: Journal,
    private readonly log: Logger,
  ) {}

  async append(entry: JournalEntry): Promise<void> {
    await this.record.append(entry);
    try {
      await this.copy.append(entry);
    } catch (error) {
      this.log.warn("journal copy not written", { runId: entry.runId, error: error instanceof Error ? error.message : String(error) });
    }
  }

  read(runId: string): Promise<JournalEntry[]> {
    return this.record.read(runId);
  }

  listRuns(): Promise<string[]> {
    return this.record.listRuns();
  }
}
