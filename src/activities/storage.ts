import { setTimeout as delay } from "node:timers/promises";
import { restorePoller, type StorageAccount, type StorageManagementClient } from "@azure/arm-storage";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, type DataTierInput, type DataTierResult } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { azureCodeOf, idsWith, planEntry } from "./dataTier.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion, sameRegion } from "./health.ts";
import { readInFlight, trackedOperation, type InFlight, type OperationKey } from "./operations.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

const FAILOVER = "StorageAccounts_Failover";
/** Operation names in the journal: the same Azure operation, told apart so a resumed one keeps its kind. */
const PLANNED = `${FAILOVER} (Planned)`;
const UNPLANNED = `${FAILOVER} (Unplanned)`;
type FailoverOperation = typeof PLANNED | typeof UNPLANNED;

/**
 * How long an activity waits for a storage failover it did not start (or whose polling broke off) to
 * end before giving up with a retryable error; the orchestrator's retry then waits again.
 */
export const FAILOVER_WAIT_LIMIT_MS = 15 * 60 * 1000;

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
 * expanded read with 400 LastSyncTimeUnavailable; it is then read without them.
 */
export async function readAccount(deps: ActivityDeps, ref: AccountRef, withStats: boolean): Promise<StorageAccount> {
  const client = deps.clients.storage(ref.subscriptionId);
  try {
    if (withStats) {
      try {
        return await client.storageAccounts.getProperties(ref.resourceGroup, ref.name, { expand: "geoReplicationStats" });
      } catch (error) {
        if (azureCodeOf(error) !== "LastSyncTimeUnavailable") throw error;
      }
    }
    return await client.storageAccounts.getProperties(ref.resourceGroup, ref.name);
  } catch (error) {
    throw normaliseAzureError(error, "StorageAccounts_GetProperties", ref.id);
  }
}

/**
 * Fails the storage account over so that its primary is `input.to`. Idempotent: reads the account first
 * and does nothing when its primary is already there.
 *
 * - A failover already in progress (started by someone else) is waited for, by reading the account
 *   every `pollIntervalMs`, never sent again.
 * - Planned failover (`failoverType=Planned`: no data loss, stays geo-redundant) when Azure says one is
 *   possible (`canPlannedFailover`: both regions up).
 * - Otherwise an unplanned (customer-managed) failover only when `input.allowDataLoss`: it may lose the
 *   writes since `lastSyncTime` and leaves the account LRS (see reprotectStorageAccount); without it,
 *   PreconditionError `PlannedFailoverImpossible`.
 * Each failover runs through trackedOperation, so a re-run after a crash resumes it.
 */
export async function failoverStorageAccount(input: DataTierInput, deps: ActivityDeps): Promise<DataTierResult> {
  const ref = accountRef(input.plan, input.index);
  planRegion(input.plan, input.to); // refuses a region the plan does not name
  const step = Activities.failoverStorageAccount;
  const log = { runId: input.runId, plan: input.plan.name, resourceId: ref.id, region: input.to };
  const keyOf = (operation: FailoverOperation): OperationKey => ({ runId: input.runId, step, resourceId: ref.id, operation });
  const requestIds: string[] = [];
  const result = (method: DataTierResult["method"]): DataTierResult => ({ resourceId: ref.id, changed: method !== "none", method, requestIds });

  // An operation an earlier attempt of this run started is resumed first (see failoverSqlGroup). One
  // read of the journal answers for both, and for the failovers below.
  const inFlight = await readInFlight(deps, input.runId, { shared: true });
  const unplannedInFlight = inFlight.tokenOf(keyOf(UNPLANNED)) !== undefined;
  const plannedInFlight = !unplannedInFlight && inFlight.tokenOf(keyOf(PLANNED)) !== undefined;
  let kind: "planned" | "unplanned" = unplannedInFlight ? "unplanned" : "planned";

  if (!unplannedInFlight && !plannedInFlight) {
    let account = await readAccount(deps, ref, true);
    if (sameRegion(account.primaryLocation, input.to)) {
      deps.log.info(`storage account ${ref.name} is already primary in ${input.to}`, log);
      return result("none");
    }
    if (account.failoverInProgress) {
      await deps.journal.append({
        runId: input.runId,
        at: deps.clock().toISOString(),
        kind: "wait",
        step,
        message: `a failover of ${ref.name} is already in progress: waiting for it instead of sending another`,
        data: { resourceId: ref.id, region: input.to, pollIntervalMs: deps.pollIntervalMs, limitMs: FAILOVER_WAIT_LIMIT_MS },
      });
      await waitWhileFailingOver(deps, ref);
      account = await readAccount(deps, ref, true);
      if (sameRegion(account.primaryLocation, input.to)) {
        deps.log.info(`the failover of ${ref.name} in progress made it primary in ${input.to}`, log);
        return result("none");
      }
    }
    if (!sameRegion(account.secondaryLocation, input.to)) {
      throw new PreconditionError(
        `storage account ${ref.name} cannot fail over to ${input.to}: ${account.secondaryLocation ? `its secondary is ${account.secondaryLocation}` : `it has no secondary (${account.sku?.name ?? "unknown SKU"}); re-protect it first`}`,
        "FailoverImpossible",
      );
    }
    const stats = account.geoReplicationStats;
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
      kind = "unplanned";
    }
  }

  if (kind === "planned") {
    try {
      await failover(deps, input, ref, keyOf(PLANNED), requestIds, inFlight);
      return result("planned");
    } catch (error) {
      // Both regions were up when we read the account; one may have gone down since.
      if (azureCodeOf(error) !== "PlannedFailoverNotPossible") throw error;
      if (!input.allowDataLoss) {
        throw new PreconditionError(
          `planned failover of ${ref.name} to ${input.to} was refused (the primary region became unavailable), and an unplanned failover (possible data loss) is not allowed for this run`,
          "PlannedFailoverImpossible",
          error,
        );
      }
      deps.log.warn(`planned failover of ${ref.name} refused; failing over unplanned, data loss allowed`, log);
    }
  }
  await failover(deps, input, ref, keyOf(UNPLANNED), requestIds, inFlight);
  return result("forced");
}

/**
 * One failover request (or the resumption of the one in flight) through trackedOperation, journaled as
 * a write whose request ids are also added to `requestIds`. Failures are normalised; an operation that
 * ended without failing the account over is a non-retryable error.
 */
async function failover(deps: ActivityDeps, input: DataTierInput, ref: AccountRef, key: OperationKey, requestIds: string[], inFlight: InFlight): Promise<void> {
  const client: StorageManagementClient = deps.clients.storage(ref.subscriptionId);
  const planned = key.operation === PLANNED;
  const capture = captureRequestIds();
  const write = (result: string, ids: readonly string[], resumed: boolean) =>
    journalWrite(deps, {
      runId: input.runId,
      step: key.step,
      resourceId: ref.id,
      operation: key.operation,
      requestIds: ids,
      result,
      details: { region: input.to, failoverType: planned ? "Planned" : "Unplanned", allowDataLoss: input.allowDataLoss, ...(resumed ? { resumed: true } : {}) },
    });
  let resumedFrom = false;
  try {
    const { resumed } = await trackedOperation(deps, key, async (resumeFrom) => {
      resumedFrom = resumeFrom !== undefined;
      const poller =
        resumeFrom !== undefined
          ? restorePoller(client, resumeFrom, client.storageAccounts.failover, { updateIntervalInMs: deps.pollIntervalMs })
          : client.storageAccounts.failover(ref.resourceGroup, ref.name, {
              ...(planned ? { failoverType: "Planned" as const } : {}),
              updateIntervalInMs: deps.pollIntervalMs,
              ...capture.options,
            });
      // Sends the request now, so that a refusal surfaces before anything is journaled as in flight.
      await poller.submitted();
      return {
        serialize: () => poller.serialize(),
        wait: async () => {
          try {
            await poller.pollUntilDone();
          } catch (error) {
            await settleAfterPollFailure(deps, ref, input.to, key.operation, error);
          }
        },
      };
    }, inFlight);
    await write(resumed ? "succeeded (resumed the operation a previous attempt started)" : "succeeded", capture.ids, resumed);
    requestIds.push(...capture.ids);
    deps.log.info(`${key.operation} of ${ref.name} to ${input.to} succeeded${resumed ? " (resumed)" : ""}`, { runId: input.runId, resourceId: ref.id, region: input.to });
  } catch (error) {
    const failure = normaliseAzureError(error, FAILOVER, ref.id);
    const ids = idsWith(capture.ids, failure);
    requestIds.push(...ids);
    if (ids.length > 0 || resumedFrom) await write(`failed: ${failure.message}`, ids, resumedFrom);
    throw failure;
  }
}

/**
 * Polling a storage failover broke off. The `Location` URL answers a failed operation with the error's
 * status (a 500 can be the operation's end, not a passing fault), so the account itself says what
 * happened: still failing over → wait for it; primary now in `to` → it succeeded; otherwise it failed.
 */
async function settleAfterPollFailure(deps: ActivityDeps, ref: AccountRef, to: string, operation: string, error: unknown): Promise<void> {
  let account: StorageAccount;
  try {
    account = await readAccount(deps, ref, false);
    if (account.failoverInProgress) account = await waitWhileFailingOver(deps, ref);
  } catch {
    throw normaliseAzureError(error, operation, ref.id);
  }
  if (sameRegion(account.primaryLocation, to)) return;
  throw operationFailed(error, operation, ref.id);
}

/** Reads the account every `pollIntervalMs` until no failover is in progress; bounded by FAILOVER_WAIT_LIMIT_MS. */
async function waitWhileFailingOver(deps: ActivityDeps, ref: AccountRef): Promise<StorageAccount> {
  const deadline = deps.clock().getTime() + FAILOVER_WAIT_LIMIT_MS;
  for (;;) {
    const account = await readAccount(deps, ref, false);
    if (!account.failoverInProgress) return account;
    if (deps.clock().getTime() >= deadline) {
      throw new SwitchyardError(`a failover of storage account ${ref.name} is still in progress after ${FAILOVER_WAIT_LIMIT_MS / 60_000} minutes`, {
        code: "FailoverStillInProgress",
        retryable: true,
      });
    }
    await delay(deps.pollIntervalMs);
  }
}

/**
 * Re-protects a storage account after an unplanned failover left it without geo-redundancy: sets its
 * SKU back to the plan's geo-redundant SKU (StorageAccounts_Update, PATCH sku). Idempotent: nothing
 * is written when the account is already geo-redundant. A failover in progress is waited for first.
 * `method` is always "none" (no failover is made); `changed` says whether the SKU was written.
 */
export async function reprotectStorageAccount(input: DataTierInput, deps: ActivityDeps): Promise<DataTierResult> {
  const ref = accountRef(input.plan, input.index);
  const step = Activities.reprotectStorageAccount;
  const log = { runId: input.runId, plan: input.plan.name, resourceId: ref.id, region: input.to };
  let account = await readAccount(deps, ref, false);
  if (account.failoverInProgress) account = await waitWhileFailingOver(deps, ref);
  const current = account.sku?.name;
  if (isGeoRedundant(current)) {
    deps.log.info(`storage account ${ref.name} is already geo-redundant (${current})`, log);
    return { resourceId: ref.id, changed: false, method: "none", requestIds: [] };
  }
  const operation = "StorageAccounts_Update";
  const capture = captureRequestIds();
  const details = { region: account.primaryLocation, from: current, sku: ref.sku };
  try {
    const updated = await deps.clients
      .storage(ref.subscriptionId)
      .storageAccounts.update(ref.resourceGroup, ref.name, { sku: { name: ref.sku } }, capture.options);
    await journalWrite(deps, { runId: input.runId, step, resourceId: ref.id, operation, requestIds: capture.ids, result: "succeeded", details: { ...details, secondaryLocation: updated.secondaryLocation } });
    deps.log.info(`storage account ${ref.name} re-protected: ${current} → ${ref.sku}`, log);
    return { resourceId: ref.id, changed: true, method: "none", requestIds: [...capture.ids] };
  } catch (error) {
    const failure = normaliseAzureError(error, operation, ref.id);
    const ids = idsWith(capture.ids, failure);
    if (ids.length > 0) await journalWrite(deps, { runId: input.runId, step, resourceId: ref.id, operation, requestIds: ids, result: `failed: ${failure.message}`, details });
    throw failure;
  }
}

/**
 * A long-running operation ended without doing its work: not retryable as it is (a retry would send a
 * new request, which is the caller's decision), whatever status the final poll answered with.
 */
function operationFailed(error: unknown, operation: string, resourceId: string): SwitchyardError {
  const normalised = normaliseAzureError(error, operation, resourceId);
  if (!(normalised instanceof AzureRequestError) || !normalised.retryable) return normalised;
  return new AzureRequestError(normalised.message, normalised.details, { retryable: false, cause: error });
}
