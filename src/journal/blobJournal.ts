import type { AppendBlobClient, ContainerClient } from "@azure/storage-blob";
import { budgetOptions } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { assertRunId, isValidRunId, storableEntry } from "./guard.ts";
import type { Journal, JournalEntry } from "./journal.ts";
import { encodeEntry, newestFirst, parseJournalText, type ParsedJournal } from "./lines.ts";

const PREFIX = "runs/";
const SUFFIX = ".jsonl";
/** Blob metadata key holding the `at` of the entry that created the run's blob (for newest-first listing). */
const FIRST_AT = "firstentryat";

/**
 * The journal in blob storage (Azurite locally, a container in Azure): one append blob per run,
 * `runs/{runId}.jsonl`, one JSON entry per line. Each entry is one Append Block, which Azure commits
 * atomically at the end of the blob, so any number of writers (activities on several instances,
 * re-runs) can append to the same run at once without losing or interleaving entries. No read-modify-
 * write, no lease. A trailing partial line (only an outside writer can leave one: blocks commit whole)
 * is ignored on read, and an entry appended after it is still recovered (see parseJournalText).
 *
 * The container is created on the first append if it is missing. An append blob holds at most 50,000
 * blocks, so a run holds at most 50,000 entries.
 *
 * Every request carries the time budget of the work that makes it (an activity's), so a storage
 * account that stops answering fails the append or read instead of holding it.
 */
export class BlobJournal implements Journal {
  /**
   * `prefix`: the folder of the journals (`runs/` for failover runs; secret rotations keep theirs in
   * `rotations/`, so that a listing of runs never shows a rotation).
   */
  constructor(
    readonly container: ContainerClient,
    private readonly prefix: string = PREFIX,
  ) {}

  /** The blob name of a run's journal. */
  static blobName(runId: string, prefix: string = PREFIX): string {
    assertRunId(runId);
    return `${prefix}${runId}${SUFFIX}`;
  }

  async append(given: JournalEntry): Promise<void> {
    const { entry } = storableEntry(given);
    const blob = this.container.getAppendBlobClient(BlobJournal.blobName(entry.runId, this.prefix));
    const body = Buffer.from(encodeEntry(entry), "utf8");
    try {
      await blob.appendBlock(body, body.length, budgetOptions());
      return;
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
    }
    // The run's blob (or the container) does not exist yet: create it, then append. Creating is
    // idempotent, so two writers racing to start the same run both succeed.
    await this.container.createIfNotExists(budgetOptions());
    await blob.createIfNotExists({ metadata: { [FIRST_AT]: entry.at }, blobHTTPHeaders: { blobContentType: "application/x-ndjson; charset=utf-8" }, ...budgetOptions() });
    await blob.appendBlock(body, body.length, budgetOptions());
  }

  async read(runId: string): Promise<JournalEntry[]> {
    return (await this.readDetailed(runId)).entries;
  }

  /** The run's entries and any lines that were skipped as unfinished or damaged. */
  async readDetailed(runId: string): Promise<ParsedJournal> {
    const blob: AppendBlobClient = this.container.getAppendBlobClient(BlobJournal.blobName(runId, this.prefix));
    let text: string;
    try {
      text = (await blob.downloadToBuffer(0, undefined, budgetOptions())).toString("utf8");
    } catch (error) {
      if (statusCodeOf(error) === 404) return { entries: [], skipped: [] };
      throw error;
    }
    return parseJournalText(text, runId);
  }

  async listRuns(): Promise<string[]> {
    const runs: { runId: string; firstAt?: string; createdMs?: number }[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix: this.prefix, includeMetadata: true, ...budgetOptions() })) {
        if (!item.name.endsWith(SUFFIX)) continue;
        const runId = item.name.slice(this.prefix.length, -SUFFIX.length);
        if (!isValidRunId(runId)) continue;
        runs.push({
          runId,
          ...(item.metadata?.[FIRST_AT] ? { firstAt: item.metadata[FIRST_AT] } : {}),
          ...(item.properties.createdOn ? { createdMs: item.properties.createdOn.getTime() } : {}),
        });
      }
    } catch (error) {
      if (statusCodeOf(error) === 404) return [];
      throw error;
    }
    return newestFirst(runs);
  }
}
