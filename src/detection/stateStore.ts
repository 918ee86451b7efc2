import { uploadJsonIf } from "../azure/blobJson.ts";
import { AsyncResource } from "node:async_hooks";
import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, currentAbortSignal, readBody } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { isObject } from "../core/guards.ts";
import { leasesOf } from "../core/rotation/model.ts";
import { emptyPlanState, type PlanState, type PolicyState, type PrimaryState, type RegionVerdictState, type RunReservation, type SignalState } from "../core/detection/model.ts";

/*
 * The per-plan detection state (signals, verdicts, policy counters, alert dedupe keys), one document
 * per plan, updated with optimistic concurrency: read with its ETag, apply a pure change, write only if
 * the ETag still matches (or, for a plan with no document yet, only if none exists).
 *
 * Group commit. Within one process the updates of a plan are not each a read-modify-write of their
 * own (n concurrent writers of one document would cost O(n²) reads and writes and conflicts): they
 * queue, and one round at a time per plan reads the document, applies every update queued by then,
 * in arrival order, each to the state the one before it left, and writes the result once,
 * conditionally. Each caller gets the state as it was right after its own change (what a serial
 * application would have given it), as stored by that write. A change that throws (or returns another
 * plan's state) fails only its own caller; the round goes on without it. When the write meets a
 * conflict (another process wrote: Azure scales a Function App out to several), the round waits a
 * jittered, growing backoff, reads again and applies its changes again, with any that queued
 * meanwhile. So `change` may run several times and must be pure; a side result it sets (markAlertSeen's
 * isNew flag) is the one of its last application, which is the one stored. An update that changes
 * nothing (equal JSON) writes nothing. Updates made under different time budgets (budget.ts) are not
 * mixed in one round: a round's requests carry the budget its callers share.
 *
 * Bounds: alert dedupe keys are kept 24 h and at most MAX_SEEN_ALERTS per plan (the oldest go first).
 */

export interface PlanStateStore {
  /** The plan's state (an empty one, without an ETag, when none is stored). */
  get(plan: string): Promise<{ state: PlanState; etag?: string }>;
  /** Applies `change` atomically (retrying on conflicts) and returns the state as stored. */
  update(plan: string, change: (state: PlanState) => PlanState): Promise<PlanState>;
  /**
   * Records an alert dedupe key (`alertId:monitorCondition`) seen at `at`, in the same atomic update,
   * and says whether it was new (not seen in the last 24 h). Keys older than 24 h are pruned, and
   * beyond MAX_SEEN_ALERTS keys the oldest are forgotten.
   */
  markAlertSeen(plan: string, key: string, at: Date | string): Promise<boolean>;
}

/** The store gave up after `attempts` conflicting writes. */
export class StateConflictError extends Error {
  constructor(readonly plan: string, readonly attempts: number) {
    super(`the detection state of plan ${plan} kept changing under ${attempts} attempts to update it`);
    this.name = "StateConflictError";
  }
}

export class InvalidStateError extends Error {
  /** `where`: what held the document (a blob), named in the message. */
  constructor(readonly plan: string, problem: string, where?: string) {
    super(`the stored detection state of plan ${plan}${where ? ` (${where})` : ""} is unreadable: ${problem}`);
    this.name = "InvalidStateError";
  }
}

/** How long an alert dedupe key is remembered. */
export const ALERT_DEDUPE_MS = 24 * 60 * 60 * 1000;
/**
 * How many alert dedupe keys a plan's state keeps at most: beyond it the oldest are forgotten. A key is
 * about 140 bytes (an alert's ARM id, its condition, a time), so they take about 280 KB at most in an
 * alert storm. A forgotten key only lets a late redelivery of that alert count once more (it records
 * the same signal again).
 */
export const MAX_SEEN_ALERTS = 2_000;
/** Plan names are 3-40 lower-case letters, digits and dashes (plan schema); checked before naming a blob. */
const PLAN_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

export interface StoreOptions {
  /** Writes a round attempts before its updates fail with StateConflictError (conflicts come from other processes). Default 100. */
  readonly maxAttempts?: number;
  /**
   * Waits between a round's attempts (attempt = 1, 2, ...); default full jitter: a random wait up to
   * 10 ms × 2^(attempt - 1), at most 500 ms.
   */
  readonly backoff?: (attempt: number) => Promise<void>;
}

const defaultBackoff = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * Math.min(500, 10 * 2 ** (attempt - 1))));

/** Canonical ISO times (`toISOString`, years 0-9999) order as their strings do; others are parsed. */
const isCanonicalIso = (t: string) => t.length === 24 && t.charCodeAt(10) === 84 /* T */ && t.charCodeAt(23) === 90; /* Z */
const earlier = (a: string, b: string) => (isCanonicalIso(a) && isCanonicalIso(b) ? a < b : Date.parse(a) < Date.parse(b));

/**
 * The pure part of markAlertSeen: forgets keys older than 24 h before `at`, then records `key`, keeping
 * at most `max` keys (MAX_SEEN_ALERTS; the oldest are forgotten first). One pass over the keys, with no
 * date parsing for times in the form it writes: it runs for every alert, in an alert storm too.
 */
export function seeAlert(state: PlanState, key: string, at: Date | string, max: number = MAX_SEEN_ALERTS): { state: PlanState; isNew: boolean } {
  const iso = typeof at === "string" ? at : at.toISOString();
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) throw new Error(`markAlertSeen: '${iso}' is not an ISO time`);
  const cutoff = new Date(t - ALERT_DEDUPE_MS).toISOString();
  // Kept: seen after the cutoff (a time that does not parse is not kept).
  const fresh = (seen: string) => (isCanonicalIso(seen) && isCanonicalIso(cutoff) ? seen > cutoff : Date.parse(seen) > Date.parse(cutoff));
  const kept: [string, string][] = [];
  let total = 0;
  let isNew = true;
  for (const [k, seen] of Object.entries(state.seenAlerts)) {
    total++;
    if (!fresh(seen)) continue;
    kept.push([k, seen]);
    if (k === key) isNew = false;
  }
  if (!isNew) {
    // Already seen: nothing to write unless old keys were pruned.
    return { state: kept.length === total ? state : { ...state, seenAlerts: Object.fromEntries(kept) }, isNew: false };
  }
  let room = kept;
  const excess = kept.length - max + 1;
  if (excess === 1) {
    // The usual case at the bound (one key in, one out): the oldest, found without sorting.
    let oldest = 0;
    for (let i = 1; i < kept.length; i++) if (earlier(kept[i]![1], kept[oldest]![1])) oldest = i;
    room = kept.filter((_, i) => i !== oldest);
  } else if (excess > 1) {
    room = [...kept].sort(([, a], [, b]) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0)).slice(excess);
  }
  const seenAlerts: Record<string, string> = {};
  for (const [k, seen] of room) seenAlerts[k] = seen;
  seenAlerts[key] = iso;
  return { state: { ...state, seenAlerts }, isNew: true };
}

type Invalid = (problem: string) => InvalidStateError;

/**
 * A stored document back as the plan's state, checked field by field (detection acts on it), with the
 * fields a state written by an older version lacks filled in. Fields this version does not know are
 * kept, so that an update does not drop them.
 */
function normalise(plan: string, raw: unknown, where?: string): PlanState {
  const invalid: Invalid = (problem) => new InvalidStateError(plan, problem, where);
  if (!isObject(raw)) throw invalid("not a JSON object");
  const { plan: named, signals = {}, regions = {}, policy, seenAlerts = {}, primary, activeRun, rotationSteps, ...unknownFields } = raw;
  if (named !== undefined && named !== plan) throw invalid(`it names plan '${String(named)}'`);
  if (!isRecordOf(signals, isRegionSignals)) throw invalid("signals are not signal states by region and name");
  if (!isRecordOf(regions, isRegionVerdict)) throw invalid("regions are not region verdicts");
  if (!isRecordOf(seenAlerts, isString)) throw invalid("seenAlerts are not times by alert key");
  const reservation = reservationOf(activeRun, invalid);
  const current = primaryOf(primary, invalid);
  const leases = leasesOf(rotationSteps);
  return {
    ...unknownFields,
    plan,
    signals,
    regions,
    policy: policyOf(policy, invalid),
    seenAlerts,
    ...(current ? { primary: current } : {}),
    ...(reservation ? { activeRun: reservation } : {}),
    ...(leases ? { rotationSteps: leases } : {}),
  };
}

const SIGNAL_SOURCES: readonly unknown[] = ["probe", "frontdoor", "alert"];
const SIGNAL_STATUSES: readonly unknown[] = ["up", "down", "unknown"];
const REGION_STATES: readonly unknown[] = ["healthy", "down"];

const isString = (value: unknown): value is string => typeof value === "string";
const optionalString = (value: unknown) => value === undefined || typeof value === "string";

function isRecordOf<T>(value: unknown, check: (item: unknown) => item is T): value is Record<string, T> {
  return isObject(value) && Object.values(value).every(check);
}

function isSignalState(value: unknown): value is SignalState {
  return (
    isObject(value) && SIGNAL_SOURCES.includes(value.source) && SIGNAL_STATUSES.includes(value.status) && isString(value.since) &&
    isString(value.lastSeen) && typeof value.consecutiveFailures === "number" && optionalString(value.detail)
  );
}

function isRegionSignals(value: unknown): value is Record<string, SignalState> {
  return isRecordOf(value, isSignalState);
}

function isRegionVerdict(value: unknown): value is RegionVerdictState {
  return isObject(value) && REGION_STATES.includes(value.state) && isString(value.since) && optionalString(value.belowQuorumSince);
}

function isPolicy(value: unknown): value is PolicyState {
  if (!isObject(value)) return false;
  const { paused, autoFailovers, lastRunAt, lastAutoFailover } = value;
  return (
    Array.isArray(autoFailovers) && autoFailovers.every(isString) && optionalString(lastRunAt) &&
    (paused === undefined || (isObject(paused) && [paused.by, paused.reason, paused.at].every(isString))) &&
    (lastAutoFailover === undefined || (isObject(lastAutoFailover) && [lastAutoFailover.runId, lastAutoFailover.at, lastAutoFailover.from, lastAutoFailover.to].every(isString)))
  );
}

/** The stored policy counters (absent: none yet; a policy without autoFailovers: none started). */
function policyOf(raw: unknown, invalid: Invalid): PolicyState {
  if (raw === undefined) return { autoFailovers: [] };
  if (!isObject(raw)) throw invalid("policy is not an object");
  const policy = { autoFailovers: [], ...raw };
  if (!isPolicy(policy)) throw invalid("policy has a pause, failover times or a last failover of the wrong shape");
  return policy;
}

function isPrimary(value: unknown): value is PrimaryState {
  return isObject(value) && isString(value.region) && isString(value.since) && optionalString(value.runId);
}

/** The stored current primary (absent or null: the plan's own). */
function primaryOf(raw: unknown, invalid: Invalid): PrimaryState | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (isPrimary(raw)) return raw;
  throw invalid("primary does not name a region and since when");
}

/** The stored run reservation, checked: the start interlock must never act on a half-written one. Absent (or null): none. */
function reservationOf(raw: unknown, invalidState: Invalid): RunReservation | undefined {
  if (raw === undefined || raw === null) return undefined;
  const invalid = (problem: string) => invalidState(`activeRun: ${problem}`);
  if (!isObject(raw)) throw invalid("not an object");
  const { runId, kind, reservedAt } = raw;
  if (typeof runId !== "string" || runId.length === 0) throw invalid("no run id");
  if (kind !== "failover" && kind !== "failback") throw invalid(`kind '${String(kind)}' is neither failover nor failback`);
  if (typeof reservedAt !== "string" || !Number.isFinite(Date.parse(reservedAt))) throw invalid(`reservedAt '${String(reservedAt)}' is not an ISO time`);
  return { runId, kind, reservedAt };
}

/** One queued update: its change, its caller's promise, and the time budget it was made under. */
interface Queued {
  readonly change: (state: PlanState) => PlanState;
  readonly resolve: (state: PlanState) => void;
  readonly reject: (error: unknown) => void;
  /** The caller's budget (budget.ts): only updates with the same one share a round. */
  readonly budget: AbortSignal | undefined;
  /** Runs a function in the caller's async context (so its requests carry the caller's budget). */
  readonly inContext: <T>(work: () => Promise<T>) => Promise<T>;
}

/** The group-commit loop shared by both stores (see the header); subclasses read and conditionally write. */
abstract class OptimisticStore implements PlanStateStore {
  private readonly maxAttempts: number;
  private readonly backoff: (attempt: number) => Promise<void>;
  /** Updates waiting for a round, by plan; a plan is in the map while its rounds run. */
  private readonly queues = new Map<string, Queued[]>();
  /** Reads, writes made, and writes refused as conflicts. */
  readonly stats = { reads: 0, writes: 0, conflicts: 0 };

  constructor(options: StoreOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 100;
    this.backoff = options.backoff ?? defaultBackoff;
  }

  protected abstract read(plan: string): Promise<{ state: PlanState; etag?: string }>;
  /** Writes when `etag` still matches (undefined: only when nothing is stored); false on a conflict. */
  protected abstract write(plan: string, state: PlanState, etag: string | undefined): Promise<boolean>;

  async get(plan: string): Promise<{ state: PlanState; etag?: string }> {
    assertPlanName(plan);
    this.stats.reads++;
    return this.read(plan);
  }

  async update(plan: string, change: (state: PlanState) => PlanState): Promise<PlanState> {
    assertPlanName(plan);
    // Queued before this returns: updates made in one turn join one round, in the order they were made.
    return new Promise<PlanState>((resolve, reject) => {
      const inContext = AsyncResource.bind(<T>(work: () => Promise<T>) => work());
      const item: Queued = { change, resolve, reject, budget: currentAbortSignal(), inContext };
      const queue = this.queues.get(plan);
      if (queue) {
        queue.push(item);
        return;
      }
      this.queues.set(plan, [item]);
      void this.drain(plan);
    });
  }

  /** Runs rounds for the plan until its queue is empty. */
  private async drain(plan: string): Promise<void> {
    // Let the updates made in the same turn join the first round.
    await Promise.resolve();
    const queue = this.queues.get(plan)!;
    try {
      while (queue.length > 0) {
        const head = queue[0]!;
        await head.inContext(() => this.round(plan, queue, head.budget));
      }
    } finally {
      this.queues.delete(plan);
    }
  }

  /**
   * One round: read, apply the queued updates that share `budget` (from the head of the queue, in
   * order), write once; on a conflict, again with those that queued meanwhile. Settles every update it
   * took; never throws.
   */
  private async round(plan: string, queue: Queued[], budget: AbortSignal | undefined): Promise<void> {
    const batch: Queued[] = [];
    const take = () => {
      while (queue.length > 0 && queue[0]!.budget === budget) batch.push(queue.shift()!);
    };
    try {
      for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
        take();
        this.stats.reads++;
        const { state, etag } = await this.read(plan);
        take();
        const after = new Map<Queued, PlanState>();
        let current = state;
        for (const item of [...batch]) {
          try {
            const next = item.change(current);
            if (next.plan !== plan) throw new Error(`a state change for plan ${plan} returned the state of plan ${next.plan}`);
            after.set(item, next);
            current = next;
          } catch (error) {
            batch.splice(batch.indexOf(item), 1);
            item.reject(error);
          }
        }
        // Nothing to write when the changes changed nothing (duplicate alerts, a quiet evaluation builds
        // a new but equal state): no write, no ETag conflict for other writers.
        const unchanged = current === state || JSON.stringify(current) === JSON.stringify(state);
        if (unchanged || (await this.write(plan, current, etag))) {
          if (!unchanged) this.stats.writes++;
          for (const item of batch) item.resolve(after.get(item)!);
          return;
        }
        this.stats.conflicts++;
        if (attempt < this.maxAttempts) await this.backoff(attempt);
      }
      const error = new StateConflictError(plan, this.maxAttempts);
      for (const item of batch) item.reject(error);
    } catch (error) {
      // The read or the write failed: every update of the round fails with it.
      for (const item of batch) item.reject(error);
    }
  }

  async markAlertSeen(plan: string, key: string, at: Date | string): Promise<boolean> {
    let isNew = false;
    // The flag of the last application is the one that matches what was stored.
    await this.update(plan, (state) => {
      const seen = seeAlert(state, key, at);
      isNew = seen.isNew;
      return seen.state;
    });
    return isNew;
  }
}

function assertPlanName(plan: string): void {
  if (typeof plan !== "string" || !PLAN_NAME.test(plan)) throw new Error(`'${String(plan).slice(0, 60)}' is not a plan name`);
}

// ---- blob storage ---------------------------------------------------------------------------------

/**
 * The state in blob storage: `state/{plan}.json` in the given container (created on first write).
 * Writes are conditional uploads: `If-Match: <etag>` to replace, `If-None-Match: *` to create. A
 * conflict answers 412 (ConditionNotMet) or 409 (BlobAlreadyExists); both mean "re-read and retry".
 * Every request, and the reading of a downloaded body, carries the time budget of the work that makes
 * it, if it has one.
 */
export class BlobPlanStateStore extends OptimisticStore {
  constructor(readonly container: ContainerClient, options: StoreOptions = {}) {
    super(options);
  }

  static blobName(plan: string): string {
    assertPlanName(plan);
    return `state/${plan}.json`;
  }

  protected async read(plan: string): Promise<{ state: PlanState; etag?: string }> {
    const blob = this.container.getBlockBlobClient(BlobPlanStateStore.blobName(plan));
    let text: string;
    let etag: string | undefined;
    try {
      const response = await blob.download(0, undefined, budgetOptions());
      etag = response.etag;
      text = (await readBody(response.readableStreamBody)).toString("utf8");
    } catch (error) {
      if (statusCodeOf(error) === 404) return { state: emptyPlanState(plan) };
      throw error;
    }
    const where = `blob ${blob.name} in container ${this.container.containerName}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new InvalidStateError(plan, error instanceof Error ? error.message : String(error), where);
    }
    return { state: normalise(plan, parsed, where), ...(etag ? { etag } : {}) };
  }

  protected async write(plan: string, state: PlanState, etag: string | undefined): Promise<boolean> {
    return (await uploadJsonIf(this.container, BlobPlanStateStore.blobName(plan), state, etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: "*" })) !== undefined;
  }
}

// ---- memory ---------------------------------------------------------------------------------------

/**
 * The state in memory, with the same version checks as the blob store: every read hands out a
 * version, every write is refused unless the version is still current, and a read and its write are
 * separated by a turn of the event loop, so that concurrent updates really interleave and a missing
 * retry shows in unit tests. States are copied in and out (JSON), as the blob store does. Stores made
 * with `sharing` hold the same documents, as processes of one Function App share a storage account.
 */
export class MemoryPlanStateStore extends OptimisticStore {
  private readonly docs: Map<string, { text: string; version: number }>;
  private readonly versions: { next: number };

  constructor(options: StoreOptions & { readonly sharing?: MemoryPlanStateStore } = {}) {
    const { sharing, ...rest } = options;
    super({ backoff: async () => undefined, ...rest });
    this.docs = sharing ? sharing.docs : new Map();
    this.versions = sharing ? sharing.versions : { next: 1 };
  }

  protected async read(plan: string): Promise<{ state: PlanState; etag?: string }> {
    await yieldTurn();
    const doc = this.docs.get(plan);
    if (!doc) return { state: emptyPlanState(plan) };
    return { state: normalise(plan, JSON.parse(doc.text)), etag: `"${doc.version}"` };
  }

  protected async write(plan: string, state: PlanState, etag: string | undefined): Promise<boolean> {
    await yieldTurn();
    const doc = this.docs.get(plan);
    const current = doc ? `"${doc.version}"` : undefined;
    if (current !== etag) return false;
    this.docs.set(plan, { text: JSON.stringify(state), version: this.versions.next++ });
    return true;
  }
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
