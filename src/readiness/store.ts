/**
 * Each plan's readiness record (core/readiness.ts): the latest evaluation's blocking checks, the state
 * people were told, the last evaluations. One JSON blob per plan, `readiness/{plan}.json`, written only
 * if unchanged since it was read (ETag), so that two evaluations at once tell people of a drift once.
 */
import type { ContainerClient } from "@azure/storage-blob";
import { z } from "zod";
import { readBlobText, uploadJsonIf } from "../azure/blobJson.ts";
import { applyEvaluation, emptyReadinessRecord, READINESS_AREAS, READINESS_HISTORY, settlePending, type ReadinessChange, type ReadinessRecord, type ReadinessResult } from "../core/readiness.ts";

export interface ReadinessStore {
  get(plan: string): Promise<ReadinessRecord>;
  /**
   * Applies an evaluation atomically (retrying on conflicts); returns the change people are to be told
   * of — this evaluation's, or an earlier one's that was never handed over — if any.
   */
  record(result: ReadinessResult): Promise<{ readonly change: ReadinessChange; readonly at: string } | undefined>;
  /** The change found at `at` has been handed to the notifier: it is no longer pending. */
  settle(plan: string, at: string): Promise<void>;
}

const isoTime = z.string().max(40).refine((t) => !Number.isNaN(Date.parse(t)), "an ISO time");
const text = z.string().max(2000);
const recordSchema = z.strictObject({
  plan: z.string().max(40),
  state: z.enum(["ready", "not-ready"]).optional(),
  since: isoTime.optional(),
  unknownStreak: z.number().int().min(0).max(1_000_000),
  latest: z
    .strictObject({
      evaluatedAt: isoTime,
      ready: z.boolean(),
      checks: z.number().int().min(0),
      blocking: z
        .array(
          z.strictObject({
            area: z.enum(READINESS_AREAS as [string, ...string[]]),
            subject: text,
            result: z.enum(["pass", "fail", "unknown"]),
            detail: text,
            resourceId: text.optional(),
            missingActions: z.array(text).max(100).optional(),
          }),
        )
        .max(50),
    })
    .optional(),
  history: z.array(z.strictObject({ at: isoTime, ready: z.boolean(), blocking: z.number().int().min(0) })).max(READINESS_HISTORY),
  pending: z.strictObject({ change: z.enum(["drift", "restored"]), at: isoTime }).optional(),
});

/** A record holds at most 50 blocking checks and 48 evaluations: far under this. */
const MAX_RECORD_BYTES = 1024 * 1024;

/** The stored record, checked: a record that does not parse is an error naming the field, never trusted. */
export function parseReadinessRecord(plan: string, raw: string, where: string): ReadinessRecord {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`the readiness record of plan ${plan} (${where}) is not JSON`);
  }
  const checked = recordSchema.safeParse(value);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new Error(`the readiness record of plan ${plan} (${where}) is malformed at ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  if (checked.data.plan !== plan) throw new Error(`the readiness record ${where} is plan ${checked.data.plan}'s, not ${plan}'s`);
  return checked.data as ReadinessRecord;
}

abstract class VersionedReadinessStore implements ReadinessStore {
  protected abstract read(plan: string): Promise<{ record: ReadinessRecord; etag?: string }>;
  /** False when the record changed since `etag` (or exists, with no etag). */
  protected abstract write(record: ReadinessRecord, etag: string | undefined): Promise<boolean>;

  async get(plan: string): Promise<ReadinessRecord> {
    return (await this.read(plan)).record;
  }

  async record(result: ReadinessResult): Promise<{ readonly change: ReadinessChange; readonly at: string } | undefined> {
    let told: ReadinessRecord["pending"];
    await this.update(result.plan, (record) => {
      // An evaluation older than the one recorded is not applied over it (a slow evaluation ending late).
      if (record.latest && Date.parse(record.latest.evaluatedAt) > Date.parse(result.evaluatedAt)) {
        told = record.pending;
        return undefined;
      }
      const next = applyEvaluation(record, result).record;
      told = next.pending;
      return next;
    });
    return told;
  }

  async settle(plan: string, at: string): Promise<void> {
    await this.update(plan, (record) => (record.pending?.at === at ? settlePending(record, at) : undefined));
  }

  /** Reads, changes and writes the record if unchanged since read, retrying; `change` returns undefined to write nothing. */
  private async update(plan: string, change: (record: ReadinessRecord) => ReadinessRecord | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { record, etag } = await this.read(plan);
      const next = change(record);
      if (!next || (await this.write(next, etag))) return;
      if (attempt >= 8) throw new Error(`the readiness record of plan ${plan} kept changing under ${attempt} attempts to record an evaluation`);
      await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
    }
  }
}

export class BlobReadinessStore extends VersionedReadinessStore {
  constructor(private readonly container: ContainerClient) {
    super();
  }

  static blobName(plan: string): string {
    if (!/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/.test(plan)) throw new Error(`'${plan}' is not a plan name`);
    return `readiness/${plan}.json`;
  }

  protected async read(plan: string): Promise<{ record: ReadinessRecord; etag?: string }> {
    const name = BlobReadinessStore.blobName(plan);
    const stored = await readBlobText(this.container, name, MAX_RECORD_BYTES, (bytes) => `the readiness record of plan ${plan} (blob ${name}) is ${bytes} bytes, more than ${MAX_RECORD_BYTES}`);
    if (!stored) return { record: emptyReadinessRecord(plan) };
    return { record: parseReadinessRecord(plan, stored.text, `blob ${name}`), ...(stored.etag ? { etag: stored.etag } : {}) };
  }

  protected async write(record: ReadinessRecord, etag: string | undefined): Promise<boolean> {
    return (await uploadJsonIf(this.container, BlobReadinessStore.blobName(record.plan), record, etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: "*" })) !== undefined;
  }
}

/** In memory, with the blob store's version checks (tests). */
export class MemoryReadinessStore extends VersionedReadinessStore {
  private readonly records = new Map<string, { text: string; version: number }>();

  protected async read(plan: string): Promise<{ record: ReadinessRecord; etag?: string }> {
    const held = this.records.get(plan);
    await new Promise((r) => setImmediate(r));
    return held ? { record: parseReadinessRecord(plan, held.text, "memory"), etag: String(held.version) } : { record: emptyReadinessRecord(plan) };
  }

  protected async write(record: ReadinessRecord, etag: string | undefined): Promise<boolean> {
    const held = this.records.get(record.plan);
    if ((held === undefined) !== (etag === undefined) || (held && String(held.version) !== etag)) return false;
    this.records.set(record.plan, { text: JSON.stringify(record), version: (held?.version ?? 0) + 1 });
    return true;
  }
}
