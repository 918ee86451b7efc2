import type { ActivityDeps } from "./deps.ts";

/** A long-running Azure operation in flight, as the activity drives it. */
export interface TrackedPoller<T> {
  /** The poller's serialised state (resume token): enough to pick the operation up after a crash. */
  serialize(): Promise<string> | string;
  /** Polls until the operation ends; rejects when it ends Failed or Canceled. */
  wait(): Promise<T>;
}

export interface OperationKey {
  readonly runId: string;
  readonly step: string;
  readonly resourceId: string;
  /** E.g. `FailoverGroups_Failover`. */
  readonly operation: string;
}

/**
 * Runs a long-running operation so that a crash loses nothing: the resume token is journaled as soon
 * as Azure has accepted the request, and a re-run of the activity (Durable activities run at least
 * once) resumes polling the operation already in flight instead of starting a second one.
 *
 * `start(resumeFrom)` must begin the operation when `resumeFrom` is undefined, and otherwise restore
 * the poller from the token without sending the request again.
 */
export async function trackedOperation<T>(
  deps: ActivityDeps,
  key: OperationKey,
  start: (resumeFrom: string | undefined) => Promise<TrackedPoller<T>>,
): Promise<{ result: T; resumed: boolean }> {
  const inFlight = await findInFlight(deps, key);
  const poller = await start(inFlight);
  if (!inFlight) {
    await deps.journal.append({
      runId: key.runId,
      at: deps.clock().toISOString(),
      kind: "operation",
      step: key.step,
      message: `${key.operation} accepted for ${key.resourceId}`,
      data: { resourceId: key.resourceId, operation: key.operation, status: "running", resumeToken: await poller.serialize() },
    });
  }
  try {
    const result = await poller.wait();
    await deps.journal.append({
      runId: key.runId,
      at: deps.clock().toISOString(),
      kind: "operation",
      step: key.step,
      message: `${key.operation} succeeded for ${key.resourceId}${inFlight ? " (resumed after a restart)" : ""}`,
      data: { resourceId: key.resourceId, operation: key.operation, status: "succeeded" },
    });
    return { result, resumed: inFlight !== undefined };
  } catch (error) {
    await deps.journal.append({
      runId: key.runId,
      at: deps.clock().toISOString(),
      kind: "operation",
      step: key.step,
      message: `${key.operation} failed for ${key.resourceId}`,
      data: { resourceId: key.resourceId, operation: key.operation, status: "failed", error: error instanceof Error ? error.message.split("\n")[0] : String(error) },
    });
    throw error;
  }
}

/** The resume token of this run's operation on this resource that was accepted but never finished. */
export async function findInFlight(deps: ActivityDeps, key: OperationKey): Promise<string | undefined> {
  const entries = await deps.journal.read(key.runId);
  let token: string | undefined;
  for (const entry of entries) {
    if (entry.kind !== "operation" || entry.data?.resourceId !== key.resourceId || entry.data?.operation !== key.operation) continue;
    token = entry.data.status === "running" ? String(entry.data.resumeToken) : undefined;
  }
  return token;
}
