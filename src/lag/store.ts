/**
 * The lag samples of each plan: per resource the latest sample, the latest one with a measured lag
 * (what the RPO gate falls back on in an outage), a bounded history, and whether the resource is in an
 * RPO breach. One document per plan (`lag/{plan}.json` in Switchyard's state container), updated with
 * optimistic concurrency (ETag), the way the detection state is.
 */
import type { ContainerClient } from "@azure/storage-blob";
import { readBlobText, uploadJsonIf } from "../azure/blobJson.ts";
import { isObject } from "../core/guards.ts";
import { z } from "zod";
import { FUTURE_SKEW_MS, LAG_SOURCES, nextBreach, type BreachEvent, type LagSample } from "../core/lag.ts";

/** Samples kept per resource by default: an hour at one a minute. */
export const DEFAULT_LAG_RETENTION = 60;
/** A resource no round has sampled for this long is forgotten (it left the plan). */
const FORGET_AFTER_MS = 7 * 24 * 60 * 60 * 1000;

export interface ResourceLag {
  readonly latest: LagSample;
  /** The newest sample with a lag (may be older than `latest`, which may have none). */
  readonly lastMeasured?: LagSample;
  readonly breached: boolean;
  /** When the current breach began. */
  readonly breachSince?: string;
  /**
   * The first sample since `lastMeasured` in which the primary could not be reached at all (no
   * connection): from then on it took no writes Switchyard could see. Cleared by a sample in which it
   * answered. What ends the aging of a last-known lag (core/lag.ts), kept whatever the retention.
   */
  readonly silentSince?: string;
  /** `[measuredAt epoch seconds, lag seconds or null]`, oldest first, at most `retention`. */
  readonly history: [number, number | null][];
}

export interface LagDocument {
  readonly plan: string;
  readonly resources: Record<string, ResourceLag>;
}

/** A breach that began or ended with a round. */
export interface BreachChange {
  readonly event: BreachEvent;
  readonly sample: LagSample;
  readonly rpoSeconds: number;
  /** Recovery: when the breach began. */
  readonly breachSince?: string;
  /** Recovery measured on another primary than the breach (a failover in between): that primary. */
  readonly formerPrimary?: string;
}

/** A round applied to a document: the new document and the breaches that began or ended. */
export function applyRound(doc: LagDocument, samples: readonly LagSample[], rpoSeconds: number, retention: number, now: Date): { doc: LagDocument; changes: BreachChange[] } {
  const resources: Record<string, ResourceLag> = { ...doc.resources };
  const changes: BreachChange[] = [];
  for (const sample of samples) {
    const taken = Date.parse(sample.measuredAt);
    if (Number.isNaN(taken) || taken > now.getTime() + FUTURE_SKEW_MS) continue; // not believed
    const kept = resources[sample.resourceId];
    // A stored sample dated in the future is not believed either: it neither blocks nor counts.
    const before = kept && Date.parse(kept.latest.measuredAt) <= now.getTime() + FUTURE_SKEW_MS ? kept : undefined;
    // A sample older than the one kept (a slow round finishing after a newer one) changes nothing.
    if (before && Date.parse(before.latest.measuredAt) > taken) continue;
    const breach = nextBreach(before?.breached ?? false, sample.lagSeconds, rpoSeconds);
    const moved = before?.latest.primary !== undefined && sample.primary !== undefined && before.latest.primary.toLowerCase() !== sample.primary.toLowerCase() ? before.latest.primary : undefined;
    if (breach.event) changes.push({ event: breach.event, sample, rpoSeconds, ...(breach.event === "recovery" && before?.breachSince ? { breachSince: before.breachSince } : {}), ...(breach.event === "recovery" && moved ? { formerPrimary: moved } : {}) });
    const history = [...(before?.history ?? []), [Math.floor(Date.parse(sample.measuredAt) / 1000), sample.lagSeconds] as [number, number | null]].slice(-retention);
    const lastMeasured = sample.lagSeconds !== null ? sample : before?.lastMeasured;
    const breachSince = breach.breached ? (breach.event === "breach" ? sample.measuredAt : before?.breachSince) : undefined;
    const silentSince = sample.lagSeconds !== null || sample.reach === "answered" ? undefined : sample.reach === "silent" ? (before?.silentSince ?? sample.measuredAt) : before?.silentSince;
    resources[sample.resourceId] = { latest: sample, ...(lastMeasured ? { lastMeasured } : {}), breached: breach.breached, ...(breachSince ? { breachSince } : {}), ...(silentSince ? { silentSince } : {}), history };
  }
  for (const [id, r] of Object.entries(resources)) if (now.getTime() - Date.parse(r.latest.measuredAt) > FORGET_AFTER_MS) delete resources[id];
  return { doc: { plan: doc.plan, resources }, changes };
}

export interface LagStore {
  get(plan: string): Promise<LagDocument>;
  /** Applies a round atomically (retrying on conflicts); returns the breaches it began or ended. */
  record(plan: string, samples: readonly LagSample[], rpoSeconds: number, now: Date): Promise<BreachChange[]>;
}

const empty = (plan: string): LagDocument => ({ plan, resources: {} });

const isoTime = z.string().refine((t) => !Number.isNaN(Date.parse(t)), "an ISO time");
const sampleSchema = z.object({
  resourceId: z.string().min(1).max(1000),
  kind: z.enum(["sqlDatabase", "storageAccount"]),
  name: z.string().max(260),
  group: z.string().max(1000).optional(),
  lagSeconds: z.number().finite().min(0).nullable(),
  state: z.string().max(100),
  measuredAt: isoTime,
  source: z.enum([LAG_SOURCES.sql, LAG_SOURCES.storage]),
  primary: z.string().max(260).optional(),
  lastReplication: isoTime.optional(),
  canFailover: z.boolean().optional(),
  canPlannedFailover: z.boolean().optional(),
  error: z.string().max(1000).optional(),
  reach: z.enum(["answered", "silent", "refused", "unasked"]).optional(),
});
const resourceSchema = z.object({
  latest: sampleSchema,
  lastMeasured: sampleSchema.optional(),
  breached: z.boolean(),
  breachSince: isoTime.optional(),
  silentSince: isoTime.optional(),
  // Epoch seconds between 2000 and 2200.
  history: z.array(z.tuple([z.number().int().min(946_684_800).max(7_258_118_400), z.number().finite().min(0).nullable()])).max(1440),
});

/** Stored documents above this are refused (a plan of 600 resources with an hour of samples is about 1 MB). */
const MAX_DOCUMENT_BYTES = 32 * 1024 * 1024;

/**
 * The stored document, checked: Switchyard's own storage, but the RPO gate decides on it, so every
 * resource entry must be a well-formed sample (finite, non-negative lags; readable times) kept under its
 * own id. An entry that is not is dropped (its resource then counts as unknown), never trusted.
 */
export function parseLagDocument(plan: string, text: string, where: string): LagDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`the lag samples of plan ${plan} (${where}) are unreadable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value) || value.plan !== plan || !isObject(value.resources)) throw new Error(`the lag samples of plan ${plan} (${where}) are not a lag document`);
  const resources: Record<string, ResourceLag> = {};
  for (const [id, entry] of Object.entries(value.resources)) {
    const checked = resourceSchema.safeParse(entry);
    if (!checked.success || checked.data.latest.resourceId !== id || (checked.data.lastMeasured && checked.data.lastMeasured.resourceId !== id)) continue;
    resources[id] = checked.data as ResourceLag;
  }
  return { plan, resources };
}

/** Optimistic updates over a backend that reads a document with a version and writes it only if unchanged. */
abstract class VersionedLagStore implements LagStore {
  constructor(protected readonly retention = DEFAULT_LAG_RETENTION) {}

  protected abstract read(plan: string): Promise<{ doc: LagDocument; etag?: string }>;
  /** False when the document changed since `etag` (or exists, with no etag). */
  protected abstract write(plan: string, doc: LagDocument, etag: string | undefined): Promise<boolean>;

  async get(plan: string): Promise<LagDocument> {
    return (await this.read(plan)).doc;
  }

  async record(plan: string, samples: readonly LagSample[], rpoSeconds: number, now: Date): Promise<BreachChange[]> {
    for (let attempt = 1; ; attempt++) {
      const { doc, etag } = await this.read(plan);
      const next = applyRound(doc, samples, rpoSeconds, this.retention, now);
      if (await this.write(plan, next.doc, etag)) return next.changes;
      if (attempt >= 8) throw new Error(`the lag samples of plan ${plan} kept changing under ${attempt} attempts to record a round`);
      await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
    }
  }
}

export class BlobLagStore extends VersionedLagStore {
  constructor(private readonly container: ContainerClient, retention?: number) {
    super(retention);
  }

  static blobName(plan: string): string {
    if (!/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/.test(plan)) throw new Error(`'${plan}' is not a plan name`);
    return `lag/${plan}.json`;
  }

  protected async read(plan: string): Promise<{ doc: LagDocument; etag?: string }> {
    const name = BlobLagStore.blobName(plan);
    const stored = await readBlobText(this.container, name, MAX_DOCUMENT_BYTES, (bytes) => `the lag samples of plan ${plan} (blob ${name}) are ${bytes} bytes, more than ${MAX_DOCUMENT_BYTES}`);
    if (!stored) return { doc: empty(plan) };
    return { doc: parseLagDocument(plan, stored.text, `blob ${name}`), ...(stored.etag ? { etag: stored.etag } : {}) };
  }

  protected async write(plan: string, doc: LagDocument, etag: string | undefined): Promise<boolean> {
    return (await uploadJsonIf(this.container, BlobLagStore.blobName(plan), doc, etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: "*" })) !== undefined;
  }
}

/** In memory, with the blob store's version checks (tests). */
export class MemoryLagStore extends VersionedLagStore {
  private readonly docs = new Map<string, { text: string; version: number }>();

  protected async read(plan: string): Promise<{ doc: LagDocument; etag?: string }> {
    const held = this.docs.get(plan);
    await new Promise((r) => setImmediate(r));
    return held ? { doc: parseLagDocument(plan, held.text, "memory"), etag: String(held.version) } : { doc: empty(plan) };
  }

  protected async write(plan: string, doc: LagDocument, etag: string | undefined): Promise<boolean> {
    const held = this.docs.get(plan);
    if (etag === undefined ? held !== undefined : held?.version !== Number(etag)) return false;
    this.docs.set(plan, { text: JSON.stringify(doc), version: (held?.version ?? 0) + 1 });
    return true;
  }
}
