import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, readBody } from "../azure/budget.ts";
import { uploadJsonIf } from "../azure/blobJson.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { EVENT_ID_PATTERN, type NotificationEvent } from "../core/notification.ts";
import type { Plan } from "../core/plan/index.ts";

/** A channel of a plan, as validated: names of app settings and addresses, never a credential. */
export type PlanChannel = Plan["notifications"][number];

/**
 * Where one channel stands with one event:
 * - `pending`: to be sent at `nextAttemptAt`;
 * - `accepted`: taken by a long-running send (ACS email), to be polled at `nextAttemptAt`;
 * - `delivered`: the channel took it (email: the send operation succeeded);
 * - `failed`: not delivered, and not tried again (a 4xx other than 408/429, a missing setting, the
 *   retries used up, an email operation that failed).
 * `claimedUntil` marks an attempt in flight: nobody else sends that channel until it has passed.
 */
export interface ChannelDelivery {
  readonly channel: PlanChannel;
  readonly state: "pending" | "accepted" | "delivered" | "failed";
  readonly attempts: number;
  readonly nextAttemptAt?: string;
  readonly claimedUntil?: string;
  readonly firstAttemptAt?: string;
  readonly deliveredAt?: string;
  /** The last HTTP status the channel answered. */
  readonly status?: number;
  /** Why the last attempt did not deliver (no credential in it). */
  readonly error?: string;
  /** An ACS email send: the operation id (derived from the event) and the poller state to resume from. */
  readonly operation?: { readonly id: string; readonly resumeFrom?: string };
}

/** One event and its delivery to each channel that takes it, kept until every channel is settled. */
export interface OutboxRecord {
  readonly version: 1;
  readonly event: NotificationEvent;
  readonly createdAt: string;
  readonly channels: Readonly<Record<string, ChannelDelivery>>;
}

export const isSettled = (d: ChannelDelivery): boolean => d.state === "delivered" || d.state === "failed";

/**
 * The notifications outbox: an event is created once (its id is the deduplication key: a second create
 * of the same id is refused, so a replayed or retried notify never queues it twice), then updated by
 * compare-and-swap on its version, so that two deliverers never both claim a channel.
 */
export interface Outbox {
  /** Keeps the record unless one with its event id exists; false when it does. */
  create(record: OutboxRecord): Promise<boolean>;
  get(id: string): Promise<{ readonly record: OutboxRecord; readonly etag: string } | undefined>;
  /** Replaces the record if it is still at `etag`; the new etag, or undefined when another writer was first. */
  replace(record: OutboxRecord, etag: string): Promise<string | undefined>;
  /** Ids of events with a channel not yet settled (oldest first where the store can tell). */
  open(): Promise<string[]>;
  /** Marks an event settled: it leaves `open()`; its record stays (a late repeat of it is still refused). */
  settle(id: string): Promise<void>;
}

function checkId(id: string): string {
  if (!EVENT_ID_PATTERN.test(id)) throw new Error(`'${id.slice(0, 40)}' is not a notification event id`);
  return id;
}

/** The outbox in memory (tests, and a local process that keeps nothing). */
export class MemoryOutbox implements Outbox {
  private readonly records = new Map<string, { record: OutboxRecord; etag: string }>();
  private readonly openIds = new Set<string>();
  private version = 0;

  async create(record: OutboxRecord): Promise<boolean> {
    const id = checkId(record.event.id);
    if (this.records.has(id)) return false;
    this.records.set(id, { record: structuredClone(record), etag: String(++this.version) });
    this.openIds.add(id);
    return true;
  }

  async get(id: string): Promise<{ record: OutboxRecord; etag: string } | undefined> {
    const got = this.records.get(id);
    return got ? { record: structuredClone(got.record), etag: got.etag } : undefined;
  }

  async replace(record: OutboxRecord, etag: string): Promise<string | undefined> {
    const got = this.records.get(record.event.id);
    if (!got || got.etag !== etag) return undefined;
    const next = String(++this.version);
    this.records.set(record.event.id, { record: structuredClone(record), etag: next });
    return next;
  }

  async open(): Promise<string[]> {
    return [...this.openIds];
  }

  async settle(id: string): Promise<void> {
    this.openIds.delete(id);
  }

  /** Every record (tests). */
  all(): OutboxRecord[] {
    return [...this.records.values()].map((r) => structuredClone(r.record));
  }
}

const EVENTS = "notifications/events/";
const OPEN = "notifications/open/";

/**
 * The outbox in Switchyard's state container: `notifications/events/{id}.json` (created with
 * If-None-Match: *, replaced with If-Match) and an empty marker `notifications/open/{id}` while a
 * channel is not settled, so the delivery timer lists only what is open.
 */
export class BlobOutbox implements Outbox {
  constructor(private readonly container: ContainerClient) {}

  async create(record: OutboxRecord): Promise<boolean> {
    const id = checkId(record.event.id);
    // The marker first: a crash between the two leaves a marker without a record, which open() readers
    // skip and settle, never a record nobody delivers.
    await this.container.getBlockBlobClient(`${OPEN}${id}`).upload("", 0, budgetOptions()).catch(async (error: unknown) => {
      if (statusCodeOf(error) !== 404) throw error;
      await this.container.createIfNotExists(budgetOptions());
      await this.container.getBlockBlobClient(`${OPEN}${id}`).upload("", 0, budgetOptions());
    });
    return (await uploadJsonIf(this.container, `${EVENTS}${id}.json`, record, { ifNoneMatch: "*" })) !== undefined;
  }

  async get(id: string): Promise<{ record: OutboxRecord; etag: string } | undefined> {
    const blob = this.container.getBlobClient(`${EVENTS}${checkId(id)}.json`);
    try {
      const response = await blob.download(0, undefined, budgetOptions());
      const text = (await readBody(response.readableStreamBody)).toString("utf8");
      if (!response.etag) throw new Error(`the blob store gave no ETag for ${blob.name}`);
      return { record: JSON.parse(text) as OutboxRecord, etag: response.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  async replace(record: OutboxRecord, etag: string): Promise<string | undefined> {
    return uploadJsonIf(this.container, `${EVENTS}${checkId(record.event.id)}.json`, record, { ifMatch: etag });
  }

  async open(): Promise<string[]> {
    const ids: { id: string; at: number }[] = [];
    try {
      for await (const item of this.container.listBlobsFlat({ prefix: OPEN, ...budgetOptions() })) {
        const id = item.name.slice(OPEN.length);
        if (EVENT_ID_PATTERN.test(id)) ids.push({ id, at: item.properties.createdOn?.getTime() ?? 0 });
      }
    } catch (error) {
      if (statusCodeOf(error) === 404) return [];
      throw error;
    }
    return ids.sort((a, b) => a.at - b.at).map((i) => i.id);
  }

  async settle(id: string): Promise<void> {
    await this.container.getBlobClient(`${OPEN}${checkId(id)}`).deleteIfExists(budgetOptions());
  }
}
