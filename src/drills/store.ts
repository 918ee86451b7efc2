/**
 * Where each plan's drill history is kept: one JSON document per plan (`drills/{plan}.json` in
 * Switchyard's state container), appended with optimistic concurrency (the blob's ETag), the way the
 * lag samples and the detection state are, and checked when read (core/drill/history.ts): a document
 * that is not a drill history is refused with the path of what is wrong, and a record that does not
 * read is left out and reported, never trusted.
 */
import type { ContainerClient } from "@azure/storage-blob";
import { readBlobText, uploadJsonIf } from "../azure/blobJson.ts";
import { appendDrill, DRILL_HISTORY_LIMIT, parseDrillHistory, type DrillHistory, type DrillRecord, type ReadHistory } from "../core/drill/history.ts";

/** Stored documents above this are refused (20 drills are a few KB). */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

export interface AppendResult {
  /** The history as stored after the append (this drill's record included, once). */
  readonly history: ReadHistory;
  /** False when the history already held this drill (a step that ran again): nothing was written. */
  readonly appended: boolean;
}

export interface DrillHistoryStore {
  /** The plan's history, checked (empty when none is stored); rejects with DrillHistoryError when it is not one. */
  read(plan: string): Promise<ReadHistory>;
  /**
   * Adds `record` as the plan's newest drill, atomically (retrying on conflicts), keeping the newest
   * DRILL_HISTORY_LIMIT. A record of the same drill already there is kept as it is. Records of the
   * stored history that did not read are not written back: they are reported in `history.problems`.
   */
  append(record: DrillRecord): Promise<AppendResult>;
}

/** The blob name of a plan's history. */
export function drillHistoryBlobName(plan: string): string {
  if (!/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/.test(plan)) throw new Error(`'${plan}' is not a plan name`);
  return `drills/${plan}.json`;
}

/** Optimistic appends over a backend that reads a document with a version and writes it only if unchanged. */
export abstract class VersionedDrillHistoryStore implements DrillHistoryStore {
  constructor(protected readonly limit: number = DRILL_HISTORY_LIMIT) {}

  /** The stored text and its version; undefined when the plan has no history. */
  protected abstract load(plan: string): Promise<{ text: string; etag: string; where: string } | undefined>;
  /** False when the document changed since `etag` (or exists, with no etag). */
  protected abstract save(plan: string, history: DrillHistory, etag: string | undefined): Promise<boolean>;
  /** What the document is called in messages. */
  protected abstract whereOf(plan: string): string;

  private async readVersioned(plan: string): Promise<{ history: ReadHistory; etag?: string }> {
    const stored = await this.load(plan);
    if (!stored) return { history: { plan, drills: [], problems: [] } };
    return { history: parseDrillHistory(plan, stored.text, stored.where), etag: stored.etag };
  }

  async read(plan: string): Promise<ReadHistory> {
    return (await this.readVersioned(plan)).history;
  }

  async append(record: DrillRecord): Promise<AppendResult> {
    for (let attempt = 1; ; attempt++) {
      const { history, etag } = await this.readVersioned(record.plan);
      const next = appendDrill(history, record, this.limit);
      if (next === history) return { history, appended: false };
      if (await this.save(record.plan, { plan: next.plan, drills: next.drills }, etag)) return { history: { ...next, problems: history.problems, ...(history.moreProblems ? { moreProblems: history.moreProblems } : {}) }, appended: true };
      if (attempt >= 8) throw new Error(`the drill history of plan ${record.plan} kept changing under ${attempt} attempts to append drill ${record.drillId}`);
      await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
    }
  }
}

export class BlobDrillHistoryStore extends VersionedDrillHistoryStore {
  constructor(
    private readonly container: ContainerClient,
    limit?: number,
  ) {
    super(limit);
  }

  protected whereOf(plan: string): string {
    return `blob ${this.container.containerName}/${drillHistoryBlobName(plan)}`;
  }

  protected async load(plan: string): Promise<{ text: string; etag: string; where: string } | undefined> {
    const name = drillHistoryBlobName(plan);
    const stored = await readBlobText(this.container, name, MAX_DOCUMENT_BYTES, (bytes) => `the drill history of plan ${plan} (${this.whereOf(plan)}) is ${bytes} bytes, more than ${MAX_DOCUMENT_BYTES}`);
    if (!stored) return undefined;
    if (!stored.etag) throw new Error(`the blob store gave no ETag for ${name}`);
    return { text: stored.text, etag: stored.etag, where: this.whereOf(plan) };
  }


  protected async save(plan: string, history: DrillHistory, etag: string | undefined): Promise<boolean> {
    return (await uploadJsonIf(this.container, drillHistoryBlobName(plan), history, etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: "*" })) !== undefined;
  }
}

/** In memory, with the blob store's version checks (tests). */
export class MemoryDrillHistoryStore extends VersionedDrillHistoryStore {
  private readonly docs = new Map<string, { text: string; version: number }>();

  protected whereOf(plan: string): string {
    return `memory ${drillHistoryBlobName(plan)}`;
  }

  /** Stores a document as it is (tests of malformed histories). */
  putRaw(plan: string, text: string): void {
    this.docs.set(plan, { text, version: (this.docs.get(plan)?.version ?? 0) + 1 });
  }

  protected async load(plan: string): Promise<{ text: string; etag: string; where: string } | undefined> {
    const held = this.docs.get(plan);
    await new Promise((r) => setImmediate(r));
    return held ? { text: held.text, etag: String(held.version), where: this.whereOf(plan) } : undefined;
  }

  protected async save(plan: string, history: DrillHistory, etag: string | undefined): Promise<boolean> {
    const held = this.docs.get(plan);
    if (etag === undefined ? held !== undefined : held?.version !== Number(etag)) return false;
    this.docs.set(plan, { text: JSON.stringify(history), version: (held?.version ?? 0) + 1 });
    return true;
  }
}
