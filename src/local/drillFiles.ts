/**
 * A planned drill's history and reports in a folder, for `switchyard drill --mode planned`: each
 * invocation runs on a fresh in-memory Azurite, so the history (`{dir}/{plan}.json`, the same document
 * as the blob `drills/{plan}.json` in Azure) is kept in the `--out` folder, where the next drill finds it.
 * Appends are conditional as the blob's are: the version is the content's hash, checked again just
 * before the new document is renamed into place (two drills of one folder at once are not expected;
 * the check narrows, and does not close, the window between the two).
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DrillHistory } from "../core/drill/history.ts";
import type { DrillReportStore } from "../drills/reports.ts";
import { VersionedDrillHistoryStore, drillHistoryBlobName } from "../drills/store.ts";

const hashOf = (text: string) => createHash("sha256").update(text).digest("hex");

export class FileDrillHistoryStore extends VersionedDrillHistoryStore {
  constructor(readonly dir: string) {
    super();
  }

  /** The file of a plan's history. */
  fileOf(plan: string): string {
    // The blob name's rules (a plan name) keep the path inside the folder.
    return join(this.dir, drillHistoryBlobName(plan).replace(/^drills\//, ""));
  }

  protected whereOf(plan: string): string {
    return `file ${this.fileOf(plan)}`;
  }

  private async text(plan: string): Promise<string | undefined> {
    try {
      return await readFile(this.fileOf(plan), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  protected async load(plan: string): Promise<{ text: string; etag: string; where: string } | undefined> {
    const text = await this.text(plan);
    return text === undefined ? undefined : { text, etag: hashOf(text), where: this.whereOf(plan) };
  }

  protected async save(plan: string, history: DrillHistory, etag: string | undefined): Promise<boolean> {
    await mkdir(this.dir, { recursive: true });
    const next = `${JSON.stringify(history, null, 2)}\n`;
    const temp = `${this.fileOf(plan)}.${randomUUID()}.tmp`;
    await writeFile(temp, next);
    const current = await this.text(plan);
    if (etag === undefined ? current !== undefined : current === undefined || hashOf(current) !== etag) {
      await rm(temp, { force: true });
      return false;
    }
    await rename(temp, this.fileOf(plan));
    return true;
  }
}

/** Reports as Markdown files in a folder (`<out>/reports/{id}.md`, beside the outage drill's). */
export class FileDrillReportStore implements DrillReportStore {
  constructor(readonly dir: string) {}

  async put(id: string, markdown: string): Promise<string> {
    if (!/^[A-Za-z0-9._-]{1,200}$/.test(id)) throw new Error(`'${id}' is not a report id`);
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${id}.md`);
    await writeFile(path, markdown);
    return path;
  }
}
