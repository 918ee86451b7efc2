import { mkdir, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { assertRunId, isValidRunId, storableEntry } from "./guard.ts";
import type { Journal, JournalEntry } from "./journal.ts";
import { encodeEntry, newestFirst, parseJournalText, type ParsedJournal } from "./lines.ts";

const SUFFIX = ".jsonl";

/**
 * The journal in a local folder, for the drill when no blob store is configured: one `{runId}.jsonl`
 * per run, one JSON entry per line, the same format as the blob journal's blobs.
 *
 * Each entry is written with one `write` on a file opened for appending (O_APPEND), so concurrent
 * appends from several instances in one or more processes on a local file system land whole and in
 * some order. If a process crashed in the middle of a write, the next append first ends the partial
 * line, so the partial write is skipped on read (and reported by readDetailed) and never merges with
 * the next entry. Run ids are checked (letters, digits, `.`, `_`, `-`), so a run id cannot escape
 * the folder.
 */
export class FileJournal implements Journal {
  private dirReady: Promise<unknown> | undefined;

  constructor(readonly dir: string) {}

  /** The file of a run's journal. */
  fileOf(runId: string): string {
    assertRunId(runId);
    return join(this.dir, `${runId}${SUFFIX}`);
  }

  async append(given: JournalEntry): Promise<void> {
    const { entry } = storableEntry(given);
    const file = this.fileOf(entry.runId);
    this.dirReady ??= mkdir(this.dir, { recursive: true });
    await this.dirReady;
    const handle = await open(file, "a+");
    try {
      const { size } = await handle.stat();
      let line = encodeEntry(entry);
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) line = `\n${line}`;
      }
      await handle.write(line);
    } finally {
      await handle.close();
    }
  }

  async read(runId: string): Promise<JournalEntry[]> {
    return (await this.readDetailed(runId)).entries;
  }

  /** The run's entries and any lines that were skipped as unfinished or damaged. */
  async readDetailed(runId: string): Promise<ParsedJournal> {
    let text: string;
    try {
      text = await readFile(this.fileOf(runId), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { entries: [], skipped: [] };
      throw error;
    }
    return parseJournalText(text, runId);
  }

  async listRuns(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const runs = await Promise.all(
      names
        .filter((name) => name.endsWith(SUFFIX) && isValidRunId(name.slice(0, -SUFFIX.length)))
        .map(async (name) => {
          const runId = name.slice(0, -SUFFIX.length);
          return { runId, firstAt: await this.firstAt(join(this.dir, name)) };
        }),
    );
    return newestFirst(runs);
  }

  /** The `at` of the first entry in a run's file (the file's own timestamps are not reliable everywhere). */
  private async firstAt(file: string): Promise<string | undefined> {
    const handle = await open(file, "r");
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const text = buffer.subarray(0, bytesRead).toString("utf8");
      for (const line of text.split("\n").slice(0, -1)) {
        try {
          const at = (JSON.parse(line) as { at?: unknown }).at;
          if (typeof at === "string") return at;
        } catch {
          // an unfinished line: try the next
        }
      }
      return undefined;
    } finally {
      await handle.close();
    }
  }
}
