import { entriesOf, type JournalEntry } from "../core/journal.ts";
import { OPERATION_ENDED, type PendingOperation } from "../core/run/model.ts";
import { AzureRequestError, SwitchyardError } from "../core/errors.ts";
import { baseJournal } from "../journal/stamped.ts";
import type { ActivityDeps } from "./deps.ts";

export interface OperationKey {
  readonly runId: string;
  readonly step: string;
  readonly resourceId: string;
  /** E.g. `FailoverGroups_Failover`. */
  readonly operation: string;
}

/** This run's long-running operations that were accepted but never finished, as of one read of the journal. */
export interface InFlight {
  /** The resume token of the operation on `key.resourceId` named `key.operation`, if it is in flight. */
  tokenOf(key: Pick<OperationKey, "resourceId" | "operation">): string | undefined;
  /**
   * True when an attempt journaled that it was about to send the operation and nothing after: the
   * request may have reached Azure (the attempt died before Azure's answer was journaled).
   */
  unconfirmed(key: Pick<OperationKey, "resourceId" | "operation">): boolean;
  /** The operation's end, when the journal's last word on it is that it ended (as a poll saw it). */
  endOf(key: Pick<OperationKey, "resourceId" | "operation">): OperationEnd | undefined;
}

/** How a long-running operation ended, as the poll that saw it journaled (journalEnded). */
export type OperationEnd = { readonly ok: true } | { readonly ok: false; readonly error: string };

/**
 * Reads of a run's journal in progress, per journal: the activities of a step start together and each
 * first reads the journal; they share one read instead of each downloading the whole run. Only a read
 * still in flight is shared, and only by an activity's first read (`shared`): an operation on a resource
 * is only ever started by the activity for that resource, and its earlier attempts ended before the
 * orchestrator scheduled this one, so a read started since then holds all of them; entries other
 * activities append meanwhile never change the answer about this resource. A read after the activity's
 * own appends must not join an older read: it would miss them.
 */
const readsInProgress = new WeakMap<object, Map<string, Promise<readonly JournalEntry[]>>>();

function sharedRead(deps: ActivityDeps, runId: string): Promise<readonly JournalEntry[]> {
  const journal = baseJournal(deps.journal);
  let reads = readsInProgress.get(journal);
  if (!reads) readsInProgress.set(journal, (reads = new Map()));
  const pending = reads.get(runId);
  if (pending) return pending;
  const read = deps.journal.read(runId).finally(() => reads.delete(runId));
  reads.set(runId, read);
  return read;
}

/**
 * Reads the run's journal once, for any number of in-flight questions about it. `shared`: this is the
 * activity's first read (nothing appended by this attempt yet), which may join a read in progress.
 */
export async function readInFlight(deps: ActivityDeps, runId: string, options: { shared?: boolean } = {}): Promise<InFlight> {
  const entries = options.shared ? await sharedRead(deps, runId) : await deps.journal.read(runId);
  const last = new Map<string, { status: unknown; token?: string; error?: string }>();
  const keyOf = (resourceId: string, operation: string) => JSON.stringify([resourceId, operation]);
  for (const { data } of entriesOf(entries, "operation")) {
    last.set(
      keyOf(data.resourceId, data.operation),
      data.status === "running" && data.resumeToken !== undefined
        ? { status: data.status, token: data.resumeToken }
        : { status: data.status, ...(typeof data.error === "string" ? { error: data.error } : {}) },
    );
  }
  const lastOf = (key: Pick<OperationKey, "resourceId" | "operation">) => last.get(keyOf(key.resourceId, key.operation));
  return {
    tokenOf: (key) => lastOf(key)?.token,
    unconfirmed: (key) => lastOf(key)?.status === "sending",
    endOf: (key) => {
      const seen = lastOf(key);
      if (seen?.status === "succeeded") return { ok: true };
      if (seen?.status === "failed") return { ok: false, error: seen.error ?? "the operation failed" };
      return undefined;
    },
  };
}

// ---- the monitor pattern: start in one activity, poll in others ------------------------------

/**
 * A long-running operation Azure accepted ended Failed or Canceled. Not retryable as a call (a poll
 * asked again sees the same end); the run may start the operation again (code OPERATION_ENDED), and
 * the start activity reads the resource's state before it writes.
 */
export class OperationEndedError extends AzureRequestError {
  override readonly code = OPERATION_ENDED;

  constructor(message: string, details: AzureRequestError["details"], cause?: unknown) {
    super(message, details, { retryable: false, cause });
  }
}

/**
 * Journals a long-running operation Azure has just accepted, with its resume token, so that any later
 * activity (a poll, or a re-run of the start after a crash) finds it instead of starting another.
 */
export async function journalAccepted(deps: ActivityDeps, key: OperationKey, resumeToken: string, requestIds: readonly string[] = []): Promise<void> {
  await deps.journal.append({
    runId: key.runId,
    at: deps.clock().toISOString(),
    kind: "operation",
    step: key.step,
    message: `${key.operation} accepted for ${key.resourceId}`,
    // The request ids travel with the token: one append records both, whatever happens next.
    data: { resourceId: key.resourceId, operation: key.operation, status: "running", resumeToken, requestIds: [...requestIds] },
  });
}

/**
 * Journals that an operation is about to be sent, before the request: an attempt that dies between the
 * request and the journaling of Azure's answer leaves this as the last word, and a re-run then watches
 * the resource instead of sending the operation a second time.
 */
export async function journalSending(deps: ActivityDeps, key: OperationKey): Promise<void> {
  await deps.journal.append({
    runId: key.runId,
    at: deps.clock().toISOString(),
    kind: "operation",
    step: key.step,
    message: `${key.operation} about to be sent for ${key.resourceId}`,
    data: { resourceId: key.resourceId, operation: key.operation, status: "sending" },
  });
}

/** Journals the end of a long-running operation, as a poll saw it. */
export async function journalEnded(deps: ActivityDeps, key: OperationKey, outcome: { ok: true } | { ok: false; error: string }): Promise<void> {
  await deps.journal.append({
    runId: key.runId,
    at: deps.clock().toISOString(),
    kind: "operation",
    step: key.step,
    message: `${key.operation} ${outcome.ok ? "succeeded" : "failed"} for ${key.resourceId}`,
    data: { resourceId: key.resourceId, operation: key.operation, status: outcome.ok ? "succeeded" : "failed", ...(outcome.ok ? {} : { error: outcome.error.split("\n")[0] }) },
  });
}

/**
 * What a poll of a pending operation watches: the operation's resume token, or `ended` when an earlier
 * attempt of the same poll already saw it succeed and journaled that. The run's history does not carry
 * tokens (each is several hundred bytes of URLs, and the run, its watch and every poll would repeat
 * it): the activity that started the operation journaled the token with Azure's acceptance
 * (journalAccepted) before it handed the operation to the run, so a poll reads it there. A poll runs at
 * least once: one that journaled the end and died before the run recorded its answer is run again, and
 * answers that end instead of asking Azure about an operation it no longer follows: success as
 * `ended`, a failure thrown again as the same non-retryable OperationEndedError. A pending operation
 * recorded with its token (runs started before tokens left the history) uses its own.
 */
export async function watchOf(deps: ActivityDeps, runId: string, pending: PendingOperation): Promise<{ readonly token: string } | { readonly ended: true }> {
  if (pending.resumeToken) return { token: pending.resumeToken };
  // Not a shared read: one started before the token was journaled could be in flight still.
  const inFlight = await readInFlight(deps, runId);
  const token = inFlight.tokenOf(pending);
  if (token !== undefined) return { token };
  const ended = inFlight.endOf(pending);
  if (ended?.ok) return { ended: true };
  if (ended) {
    throw new OperationEndedError(`${pending.operation} on ${pending.resourceId} ended, as an earlier attempt of this poll journaled: ${ended.error}`, {
      operation: pending.operation,
      resourceId: pending.resourceId,
    });
  }
  throw new SwitchyardError(
    `${pending.operation} on ${pending.resourceId}: the run's journal holds no resume token for it (no accepted operation of that name on that resource)`,
    { code: "ResumeTokenMissing", retryable: false },
  );
}

/** The journal key of a pending operation (the step that started it, the resource, the operation). */
export function keyOfPending(runId: string, pending: PendingOperation): OperationKey {
  return { runId, step: String(pending.context.step ?? ""), resourceId: pending.resourceId, operation: pending.operation };
}
