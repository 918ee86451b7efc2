import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, readBody } from "../azure/budget.ts";
import { errorCodeOf, statusCodeOf } from "../azure/restErrors.ts";
import { isObject } from "../core/guards.ts";
import { emptyPlanState, type PlanState, type PolicyState, type PrimaryState, type RegionVerdictState, type RunReservation, type SignalState } from "../core/detection/model.ts";

/*
 * The per-plan detection state (signals, verdicts, policy counters, alert dedupe keys), one document
 * per plan, updated with optimistic concurrency: read with its ETag, apply a pure change, write only if
 * the ETag still matches (or, for a plan with no document yet, only if none exists); on a conflict,
 * read again and re-apply the change. `change` may therefore run several times and must be pure.
 * A change that returns the state object it was given writes nothing.
 */

export interface PlanStateStore {
  /** The plan's state (an empty one, without an ETag, when none is stored). */
  get(plan: string): Promise<{ state: PlanState; etag?: string }>;
  /** Applies `change` atomically (retrying on conflicts) and returns the state as stored. */
  update(plan: string, change: (state: PlanState) => PlanState): Promise<PlanState>;
  /**
   * Records an alert dedupe key (`alertId:monitorCondition`) seen at `at`, in the same atomic update,
   * and says whether it was new (not seen in the last 24 h). Keys older than 24 h are pruned.
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
/** Plan names are 3-40 lower-case letters, digits and dashes (plan schema); checked before naming a blob. */
const PLAN_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

export interface StoreOptions {
  /** Attempts before StateConflictError (each concurrent writer wins at least once per round). Default 100. */
  readonly maxAttempts?: number;
  /** Waits between attempts (attempt = 1, 2, ...); default a short random backoff (up to 5 ms × attempt, at most 50 ms). */
  readonly backoff?: (attempt: number) => Promise<void>;
}

const defaultBackoff = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 5 * attempt)));

/** The pure part of markAlertSeen: prunes keys older than 24 h before `at`, then records `key`. */
export function seeAlert(state: PlanState, key: string, at: Date | string): { state: PlanState; isNew: boolean } {
  const iso = typeof at === "string" ? at : at.toISOString();
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) throw new Error(`markAlertSeen: '${iso}' is not an ISO time`);
  const kept = Object.entries(state.seenAlerts).filter(([, seen]) => t - Date.parse(seen) < ALERT_DEDUPE_MS);
  const previous = kept.find(([k]) => k === key);
  if (previous) {
    // Already seen: nothing to write unless old keys were pruned.
    return { state: kept.length === Object.keys(state.seenAlerts).length ? state : { ...state, seenAlerts: Object.fromEntries(kept) }, isNew: false };
  }
  return { state: { ...state, seenAlerts: { ...Object.fromEntries(kept), [key]: iso } }, isNew: true };
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
  const { plan: named, signals = {}, regions = {}, policy, seenAlerts = {}, primary, activeRun, ...unknownFields } = raw;
  if (named !== undefined && named !== plan) throw invalid(`it names plan '${String(named)}'`);
  if (!isRecordOf(signals, isRegionSignals)) throw invalid("signals are not signal states by region and name");
  if (!isRecordOf(regions, isRegionVerdict)) throw invalid("regions are not region verdicts");
  if (!isRecordOf(seenAlerts, isString)) throw invalid("seenAlerts are not times by alert key");
  const reservation = reservationOf(activeRun, invalid);
  const current = primaryOf(primary, invalid);
  return {
    ...unknownFields,
    plan,
    signals,
    regions,
    policy: policyOf(policy, invalid),
    seenAlerts,
    ...(current ? { primary: current } : {}),
    ...(reservation ? { activeRun: reservation } : {}),
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

/** The optimistic-concurrency loop shared by both stores; subclasses read and conditionally write. */
abstract class OptimisticStore implements PlanStateStore {
  private readonly maxAttempts: number;
  private readonly backoff: (attempt: number) => Promise<void>;

  constructor(options: StoreOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 100;
    this.backoff = options.backoff ?? defaultBackoff;
  }

  protected abstract read(plan: string): Promise<{ state: PlanState; etag?: string }>;
  /** Writes when `etag` still matches (undefined: only when nothing is stored); false on a conflict. */
  protected abstract write(plan: string, state: PlanState, etag: string | undefined): Promise<boolean>;

  async get(plan: string): Promise<{ state: PlanState; etag?: string }> {
    assertPlanName(plan);
    return this.read(plan);
  }

  async update(plan: string, change: (state: PlanState) => PlanState): Promise<PlanState> {
    assertPlanName(plan);
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const { state, etag } = await this.read(plan);
      const next = change(state);
      // Nothing to write when the change changed nothing (a duplicate alert, a quiet evaluation builds a
      // new but equal state): no write, no ETag conflict for concurrent writers.
      if (next === state || JSON.stringify(next) === JSON.stringify(state)) return state;
      if (next.plan !== plan) throw new Error(`a state change for plan ${plan} returned the state of plan ${next.plan}`);
      if (await this.write(plan, next, etag)) return next;
      if (attempt < this.maxAttempts) await this.backoff(attempt);
    }
    throw new StateConflictError(plan, this.maxAttempts);
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
    const blob = this.container.getBlockBlobClient(BlobPlanStateStore.blobName(plan));
    const body = Buffer.from(JSON.stringify(state), "utf8");
    const options = {
      conditions: etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: "*" },
      blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
    };
    for (let created = false; ; created = true) {
      try {
        await blob.upload(body, body.length, { ...options, ...budgetOptions() });
        return true;
      } catch (error) {
        const status = statusCodeOf(error);
        if (status === 412 || status === 409) return false;
        if (status === 404 && !created && errorCodeOf(error) === "ContainerNotFound") {
          await this.container.createIfNotExists(budgetOptions());
          continue;
        }
        throw error;
      }
    }
  }
}

// ---- memory ---------------------------------------------------------------------------------------

/**
 * The state in memory, with the same version checks as the blob store: every read hands out a
 * version, every write is refused unless the version is still current, and a read and its write are
 * separated by a turn of the event loop, so that concurrent updates really interleave and a missing
 * retry shows in unit tests. States are copied in and out (JSON), as the blob store does.
 */
export class MemoryPlanStateStore extends OptimisticStore {
  private readonly docs = new Map<string, { text: string; version: number }>();
  private nextVersion = 1;
  /** Writes made, and writes refused as conflicts (for tests). */
  readonly stats = { writes: 0, conflicts: 0 };

  constructor(options: StoreOptions = {}) {
    super({ backoff: async () => undefined, ...options });
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
    if (current !== etag) {
      this.stats.conflicts++;
      return false;
    }
    this.docs.set(plan, { text: JSON.stringify(state), version: this.nextVersion++ });
    this.stats.writes++;
    return true;
  }
}

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
