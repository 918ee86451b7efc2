import { restorePoller, type StorageAccount, type StorageManagementClient } from "@azure/arm-storage";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, type DataTierInput, type DataTierResult, type OperationPollInput, type OperationPollResult, type PendingOperation } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { idsWith, planEntry } from "./dataTier.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion, sameRegion } from "./health.ts";
import { journalAccepted, journalEnded, keyOfPending, OperationEndedError, readInFlight, watchOf, type OperationKey } from "./operations.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

const FAILOVER = "StorageAccounts_Failover";
/** Operation names in the journal: the same Azure operation, told apart so a resumed one keeps its kind. */
const PLANNED = `${FAILOVER} (Planned)`;
const UNPLANNED = `${FAILOVER} (Unplanned)`;
type FailoverOperation = typeof PLANNED | typeof UNPLANNED;

/** A storage account of the plan. */
export interface AccountRef {
  readonly id: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The account's geo-redundant SKU in steady state. */
  readonly sku: string;
}

export function accountRef(plan: Plan, index: number): AccountRef {
  const entry = planEntry(plan.storage, index, "storage");
  const a = entry.account;
  return { id: a.id, name: a.name, subscriptionId: a.subscriptionId, resourceGroup: a.resourceGroup, sku: entry.sku };
}

export const isGeoRedundant = (sku: string | undefined) => sku !== undefined && /GRS$|GZRS$/i.test(sku);

/**
 * Reads the account, with its geo-replication statistics when asked and when it has any: an account
 * with no secondary (LRS after an unplanned failover) has no statistics, and Azure answers the
 * expanded read with a 400; it is then read without them.
 */
export async function readAccount(deps: Pick<ActivityDeps, "clients">, ref: AccountRef, withStats: boolean): Promise<StorageAccount> {
  const client = deps.clients.storage(ref.subscriptionId);
  try {
    if (withStats) {
      try {
        return await client.storageAccounts.getProperties(ref.resourceGroup, ref.name, { expand: "geoReplicationStats" });
      } catch (error) {
        // Azure refuses the expanded read of an account with no secondary (400; the code it uses is not
        // documented, so any 400 of the expanded read falls back to the plain one).
        if ((error as { statusCode?: unknown } | undefined)?.statusCode !== 400) throw error;
      }
    }
    return await client.storageAccounts.getProperties(ref.resourceGroup, ref.name);
  } catch (error) {
    throw normaliseAzureError(error, "StorageAccounts_GetProperties", ref.id);
  }
}

/**
 * Polling a storage account failover: Azure says it typically takes about an hour, so every minute of
 * Azure time; the run stops waiting after three hours and fails the step (a new run resumes the
 * operation from the journal). A failover someone else started is watched the same way.
 */
const POLL_SECONDS = 60;
const DEADLINE_SECONDS = 3 * 60 * 60;
/** The journal's name for watching a failover this run did not start (no resume token: the account is read). */
const OBSERVED = `${FAILOVER} (started elsewhere)`;

/**
 * Starts the failover that makes the account's primary `input.to`, and returns it as a pending
 * operation for the run to poll; never waits for it. Idempotent:
 *
 * - An operation an earlier attempt of this run started is returned as pending again, never re-sent.
 * - Primary already in `input.to`: nothing to do.
 * - A failover in progress (someone else's): watched, not sent again; the run calls this activity again
 *   once it ends, and decides anew.
 * - Planned failover (`failoverType=Planned`: no data loss, stays geo-redundant) when Azure says one is
 *   possible (`canPlannedFailover`: both regions up).
 * - Otherwise an unplanned (customer-managed) failover only when `input.allowDataLoss`: it may lose the
 *   writes since `lastSyncTime` and leaves the account LRS (see re-protection); without it,
 *   PreconditionError `PlannedFailoverImpossible`.
 *
 * The account's ARM read and its failover are what Azure offers during a regional outage.
 */
export async function failoverStorageAccount(input: DataTierInput, deps: ActivityDeps): Promise<DataTierResult> {
  const ref = accountRef(input.plan, input.index);
  planRegion(input.plan, input.to); // refuses a region the plan does not name
  const step = Activities.failoverStorageAccount;
  const log = { runId: input.runId, plan: input.plan.name, resourceId: ref.id, region: input.to };
  const keyOf = (operation: FailoverOperation): OperationKey => ({ runId: input.runId, step, resourceId: ref.id, operation });
  const none: DataTierResult = { resourceId: ref.id, changed: false, method: "none", requestIds: [] };

  const inFlight = await readInFlight(deps, input.runId, { shared: true });
  for (const operation of [UNPLANNED, PLANNED] as const) {
    const token = inFlight.tokenOf(keyOf(operation));
    if (token !== undefined) {
      deps.log.info(`${operation} of ${ref.name} is in flight: watching it`, log);
      return { resourceId: ref.id, changed: true, method: operation === PLANNED ? "planned" : "forced", requestIds: [], pending: pendingOf(input, ref, operation, deps) };
    }
  }

  const account = await readAccount(deps, ref, true);
  if (sameRegion(account.primaryLocation, input.to)) {
    deps.log.info(`storage account ${ref.name} is already primary in ${input.to}`, log);
    return none;
  }
  if (account.failoverInProgress) {
    await deps.journal.append({
      runId: input.runId,
      at: deps.clock().toISOString(),
      kind: "wait",
      step,
      message: `a failover of ${ref.name} is already in progress: watching it instead of sending another`,
      data: { resourceId: ref.id, region: input.to },
    });
    return { ...none, pending: pendingOf(input, ref, OBSERVED, deps) };
  }
  if (!sameRegion(account.secondaryLocation, input.to)) {
    throw new PreconditionError(
      `storage account ${ref.name} cannot fail over to ${input.to}: ${account.secondaryLocation ? `its secondary is ${account.secondaryLocation}` : `it has no secondary (${account.sku?.name ?? "unknown SKU"}); re-protect it first`}`,
      "FailoverImpossible",
    );
  }
  const stats = account.geoReplicationStats;
  let operation: FailoverOperation = PLANNED;
  if (stats?.canPlannedFailover !== true) {
    if (!input.allowDataLoss) {
      throw new PreconditionError(
        `planned failover of ${ref.name} to ${input.to} is impossible (Azure reports canPlannedFailover=${String(stats?.canPlannedFailover)}, status ${stats?.status ?? "unknown"}), and an unplanned failover (possible data loss) is not allowed for this run`,
        "PlannedFailoverImpossible",
      );
    }
    if (stats?.canFailover !== true) {
      throw new PreconditionError(
        `storage account ${ref.name} cannot fail over to ${input.to} now: Azure reports canFailover=${String(stats?.canFailover)} (geo-replication ${stats?.status ?? "unknown"})`,
        "FailoverImpossible",
      );
    }
    operation = UNPLANNED;
  }

  const client: StorageManagementClient = deps.clients.storage(ref.subscriptionId);
  const capture = captureRequestIds();
  const details = { region: input.to, failoverType: operation === PLANNED ? "Planned" : "Unplanned", allowDataLoss: input.allowDataLoss };
  let token: string;
  try {
    const poller = client.storageAccounts.failover(ref.resourceGroup, ref.name, { ...(operation === PLANNED ? { failoverType: "Planned" as const } : {}), updateIntervalInMs: 0, ...capture.options });
    // Sends the request now, so that a refusal surfaces before anything is journaled as in flight.
    await poller.submitted();
    token = await poller.serialize();
  } catch (error) {
    const failure = normaliseAzureError(error, FAILOVER, ref.id);
    const ids = idsWith(capture.ids, failure);
    if (ids.length > 0) await journalWrite(deps, { runId: input.runId, step, resourceId: ref.id, operation, requestIds: ids, result: `refused: ${failure.message}`, details });
    throw failure;
  }
  await journalAccepted(deps, keyOf(operation), token, capture.ids);
  await journalWrite(deps, { runId: input.runId, step, resourceId: ref.id, operation, requestIds: capture.ids, result: "accepted", details });
  deps.log.info(`${operation} of ${ref.name} to ${input.to} accepted`, log);
  return { resourceId: ref.id, changed: true, method: operation === PLANNED ? "planned" : "forced", requestIds: [...capture.ids], pending: pendingOf(input, ref, operation, deps) };
}

/**
 * Polls a storage account failover once. The operation's own URL answers a failed operation with the
 * failure's status (a 500 can be the operation's end, not a passing fault), so whenever the poll does
 * not say Succeeded the account itself is read: still failing over → running; primary now in the
 * target region → succeeded; otherwise the failover ended without moving it (not retryable: a new
 * failover is the run's decision).
 */
export async function pollStorageFailover(input: OperationPollInput, deps: ActivityDeps): Promise<OperationPollResult> {
  const { pending } = input;
  const ref = accountRef(input.plan, Number(pending.context.index));
  const to = String(pending.context.to);
  const key = keyOfPending(input.runId, pending);
  const capture = captureRequestIds();
  const method: DataTierResult["method"] = pending.operation === PLANNED ? "planned" : pending.operation === UNPLANNED ? "forced" : "none";
  let pollError: unknown;
  if (pending.operation !== OBSERVED) {
    const client: StorageManagementClient = deps.clients.storage(ref.subscriptionId);
    const watch = await watchOf(deps, input.runId, pending);
    if ("ended" in watch) return { status: "succeeded", requestIds: [], method };
    try {
      const poller = restorePoller(client, watch.token, client.storageAccounts.failover, { updateIntervalInMs: 0 });
      await poller.poll(capture.options as never);
      if (poller.isDone && poller.operationState?.status === "succeeded") {
        await journalEnded(deps, key, { ok: true });
        return { status: "succeeded", requestIds: [...capture.ids], method };
      }
    } catch (error) {
      pollError = error;
    }
  }
  const account = await readAccount(deps, ref, false);
  if (account.failoverInProgress) return { status: "running", requestIds: [...capture.ids] };
  if (sameRegion(account.primaryLocation, to)) {
    if (pending.operation !== OBSERVED) await journalEnded(deps, key, { ok: true });
    // A failover someone else started: an account left without a secondary was failed over unplanned
    // (Azure leaves it LRS), so writes may have been lost.
    const observed: DataTierResult["method"] = account.secondaryLocation ? "planned" : "forced";
    return { status: "succeeded", requestIds: [...capture.ids], method: pending.operation === OBSERVED ? observed : method };
  }
  if (pending.operation === OBSERVED) return { status: "succeeded", requestIds: [...capture.ids], method: "none" };
  if (pollError === undefined) return { status: "running", requestIds: [...capture.ids] };
  const failure = operationFailed(pollError, FAILOVER, ref.id);
  if (failure.retryable) throw failure;
  await journalEnded(deps, key, { ok: false, error: failure.message });
  throw failure;
}

/** The operation handed to the run to watch (its resume token is in the journal: see watchOf). */
function pendingOf(input: DataTierInput, ref: AccountRef, operation: string, deps: ActivityDeps): PendingOperation {
  return {
    poll: Activities.pollStorageFailover,
    resourceId: ref.id,
    operation,
    pollSeconds: POLL_SECONDS,
    deadlineSeconds: DEADLINE_SECONDS,
    context: { step: Activities.failoverStorageAccount, index: input.index, to: input.to },
  };
}

/**
 * A long-running operation ended without doing its work: not retryable as it is (a retry would send a
 * new request, which is the run's decision: OperationEndedError), whatever status the final poll
 * answered with.
 */
function operationFailed(error: unknown, operation: string, resourceId: string): SwitchyardError {
  const normalised = normaliseAzureError(error, operation, resourceId);
  if (!(normalised instanceof AzureRequestError)) return normalised;
  return new OperationEndedError(normalised.message, normalised.details, error);
}
