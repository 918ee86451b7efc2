import { uploadJsonIf } from "../azure/blobJson.ts";
import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, readBody } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { isObject } from "../core/guards.ts";
import type { Logger } from "../core/logger.ts";
import { DecisionNotDeliveredError, DecisionTakenError, type DecisionTarget, type RunDecision } from "../core/run/port.ts";
import { isValidRunId } from "../journal/guard.ts";

/*
 * One decision per wait of a run. Approve and abort requests can reach any instance of the Function
 * App at the same moment; each claims the wait by creating the wait's decision record with a
 * create-only write (blob `If-None-Match: *`), which Azure Storage lets exactly one writer make. Only
 * the writer that created the record raises the run's event; every other request is told the
 * decision that stands.
 *
 * A record stands for good once made: a raise that fails may still have reached the run, so the
 * record is never removed to let another decision through. Instead the record says whether its
 * decision was confirmed delivered; a decision that was not (its raise failed, or its sender died
 * after claiming) is sent again, the same decision, by the next request for that wait. The run reads
 * one approval event per wait, so a second copy of the same decision changes nothing.
 */

/** How long a sender has to deliver a claimed decision before another request sends it again. */
export const DECISION_SEND_LEASE_MS = 60_000;

/** A wait's decision record: the decision, whether it was confirmed delivered, and since when a sender is delivering it. */
export interface DecisionRecord {
  readonly decision: RunDecision;
  /** When its delivery to the run was confirmed (ISO). */
  readonly sentAt?: string;
  /** When a sender started delivering it (ISO); absent when nobody is (the last attempt failed). */
  readonly sendingAt?: string;
}

export type Claim = { readonly won: true; readonly etag: string } | { readonly won: false; readonly record: DecisionRecord; readonly etag: string };

/** Where decision records are kept, one per run and wait. */
export interface DecisionStore {
  /** Creates the record of its decision's wait unless one exists: won, or the record that exists. */
  claim(record: DecisionRecord): Promise<Claim>;
  /** Replaces the wait's record if it is still at `etag`: the new ETag, or undefined if it changed. */
  replace(record: DecisionRecord, etag: string): Promise<string | undefined>;
}

export class InvalidDecisionRecordError extends Error {
  constructor(where: string, problem: string) {
    super(`the decision record ${where} is unreadable: ${problem}`);
    this.name = "InvalidDecisionRecordError";
  }
}

/** A stored record back, checked field by field (a decision is acted on). */
export function decisionRecordOf(raw: unknown, where: string): DecisionRecord {
  const invalid = (problem: string) => new InvalidDecisionRecordError(where, problem);
  if (!isObject(raw) || !isObject(raw.decision)) throw invalid("no decision");
  const { runId, waitingFor, approve, by, reason, at } = raw.decision;
  if (typeof runId !== "string" || (waitingFor !== "approval" && waitingFor !== "reprotection")) throw invalid("decision names no run and wait");
  if (typeof approve !== "boolean" || typeof by !== "string" || typeof reason !== "string" || typeof at !== "string") throw invalid("decision has no approve, by, reason and at");
  const time = (value: unknown, name: string) => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !Number.isFinite(Date.parse(value))) throw invalid(`${name} is not an ISO time`);
    return value;
  };
  const sentAt = time(raw.sentAt, "sentAt");
  const sendingAt = time(raw.sendingAt, "sendingAt");
  return { decision: { runId, waitingFor, approve, by, reason, at }, ...(sentAt ? { sentAt } : {}), ...(sendingAt ? { sendingAt } : {}) };
}

// ---- blob storage ---------------------------------------------------------------------------------

/**
 * Decision records as blobs `decisions/{runId}/{wait}.json` in the state container (created on first
 * write). A claim is an upload with `If-None-Match: *`; a replacement an upload with `If-Match`. A
 * refused condition answers 409 or 412: both mean "someone else wrote it first".
 */
export class BlobDecisionStore implements DecisionStore {
  constructor(readonly container: ContainerClient) {}

  static blobName(target: DecisionTarget): string {
    if (!isValidRunId(target.runId)) throw new Error(`'${String(target.runId).slice(0, 140)}' is not a run id`);
    return `decisions/${target.runId}/${target.waitingFor}.json`;
  }

  async claim(record: DecisionRecord): Promise<Claim> {
    const name = BlobDecisionStore.blobName(record.decision);
    for (let attempt = 1; ; attempt++) {
      const etag = await this.write(record, { ifNoneMatch: "*" });
      if (etag !== undefined) return { won: true, etag };
      const existing = await this.read(record.decision);
      if (existing) return { won: false, ...existing };
      // Records are never removed: a create refused for a record that is not there is retried, a few times.
      if (attempt >= 5) throw new Error(`the decision record ${name} in container ${this.container.containerName} could neither be created nor read`);
    }
  }

  replace(record: DecisionRecord, etag: string): Promise<string | undefined> {
    return this.write(record, { ifMatch: etag });
  }

  private async read(target: DecisionTarget): Promise<{ record: DecisionRecord; etag: string } | undefined> {
    const blob = this.container.getBlockBlobClient(BlobDecisionStore.blobName(target));
    const where = `blob ${blob.name} in container ${this.container.containerName}`;
    try {
      const response = await blob.download(0, undefined, budgetOptions());
      const text = (await readBody(response.readableStreamBody)).toString("utf8");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new InvalidDecisionRecordError(where, error instanceof Error ? error.message : String(error));
      }
      if (!response.etag) throw new InvalidDecisionRecordError(where, "the store gave no ETag");
      return { record: decisionRecordOf(parsed, where), etag: response.etag };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The new ETag, or undefined when the condition was not met. */
  private async write(record: DecisionRecord, conditions: { ifNoneMatch: string } | { ifMatch: string }): Promise<string | undefined> {
    return uploadJsonIf(this.container, BlobDecisionStore.blobName(record.decision), record, conditions);
  }
}

// ---- memory ---------------------------------------------------------------------------------------

/**
 * Decision records in memory, with the blob store's semantics: a claim creates only what does not
 * exist, a replacement only at the current version; every call takes a turn of the event loop first,
 * so that concurrent claims really interleave. Records are copied in and out (JSON).
 */
export class MemoryDecisionStore implements DecisionStore {
  private readonly records = new Map<string, { text: string; version: number }>();
  private nextVersion = 1;

  async claim(record: DecisionRecord): Promise<Claim> {
    await yieldTurn();
    const key = keyOf(record.decision);
    const existing = this.records.get(key);
    if (existing) return { won: false, record: decisionRecordOf(JSON.parse(existing.text), key), etag: `"${existing.version}"` };
    return { won: true, etag: this.put(key, record) };
  }

  async replace(record: DecisionRecord, etag: string): Promise<string | undefined> {
    await yieldTurn();
    const key = keyOf(record.decision);
    const existing = this.records.get(key);
    if (!existing || `"${existing.version}"` !== etag) return undefined;
    return this.put(key, record);
  }

  /** The wait's record as stored (for tests). */
  get(target: DecisionTarget): DecisionRecord | undefined {
    const existing = this.records.get(keyOf(target));
    return existing ? decisionRecordOf(JSON.parse(existing.text), keyOf(target)) : undefined;
  }

  private put(key: string, record: DecisionRecord): string {
    const version = this.nextVersion++;
    this.records.set(key, { text: JSON.stringify(record), version });
    return `"${version}"`;
  }
}

const keyOf = (target: DecisionTarget) => `${target.runId}/${target.waitingFor}`;
const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---- the claim ------------------------------------------------------------------------------------

export interface DecisionClaimsOptions {
  readonly store: DecisionStore;
  readonly clock: () => Date;
  /** Default DECISION_SEND_LEASE_MS. */
  readonly leaseMs?: number;
  readonly log?: Logger;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** First decision wins, per run and wait; only its claimer (or, if that one could not, a later request) sends it. */
export class DecisionClaims {
  constructor(private readonly options: DecisionClaimsOptions) {}

  /**
   * Claims `decision`'s wait and sends it with `send`. Throws DecisionTakenError naming the decision
   * that stands when another was claimed first (after sending that one again if its delivery was never
   * confirmed and nobody is delivering it), and DecisionNotDeliveredError when a claimed decision
   * could not be sent (it still stands; the next request sends it again).
   */
  async decide(decision: RunDecision, send: (decision: RunDecision) => Promise<void>): Promise<void> {
    const claim = await this.options.store.claim({ decision, sendingAt: decision.at });
    if (claim.won) return this.deliver(decision, claim.etag, send);
    const { record } = claim;
    let resent = false;
    if (this.stalled(record)) {
      // Taken over with a conditional write: of several late requests, one sends it.
      const etag = await this.options.store.replace({ decision: record.decision, sendingAt: this.options.clock().toISOString() }, claim.etag);
      if (etag !== undefined) {
        this.options.log?.warn("a decision that stands was not confirmed delivered to its run: sending it again", { runId: record.decision.runId, waitingFor: record.decision.waitingFor, claimedAt: record.decision.at });
        await this.deliver(record.decision, etag, send);
        resent = true;
      }
    }
    throw new DecisionTakenError(record.decision, resent);
  }

  /** Not confirmed delivered, and nobody is delivering it (its last attempt failed, or its sender's lease ran out). */
  private stalled(record: DecisionRecord): boolean {
    if (record.sentAt !== undefined) return false;
    if (record.sendingAt === undefined) return true;
    return this.options.clock().getTime() - Date.parse(record.sendingAt) >= (this.options.leaseMs ?? DECISION_SEND_LEASE_MS);
  }

  private async deliver(decision: RunDecision, etag: string, send: (decision: RunDecision) => Promise<void>): Promise<void> {
    const fields = { runId: decision.runId, waitingFor: decision.waitingFor };
    try {
      await send(decision);
    } catch (error) {
      // Nobody is sending it any more: the next request for this wait sends it again at once.
      await this.options.store.replace({ decision }, etag).catch((failure: unknown) => {
        this.options.log?.error("a decision that could not be delivered could not be marked so; it is sent again once its lease runs out", { ...fields, error: message(failure) });
      });
      throw new DecisionNotDeliveredError(decision, error);
    }
    await this.options.store.replace({ decision, sentAt: this.options.clock().toISOString() }, etag).then(
      (marked) => {
        if (marked === undefined) this.options.log?.warn("a delivered decision was taken over before it was marked delivered; it may be sent twice (the run reads one)", fields);
      },
      (failure: unknown) => this.options.log?.error("a delivered decision could not be marked delivered; a later request may send it again (the run reads one)", { ...fields, error: message(failure) }),
    );
  }
}
