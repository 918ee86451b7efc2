import { entriesOf } from "../core/journal.ts";
import type { StorageAccount, StorageAccountMigration } from "@azure/arm-storage";
import { PreconditionError } from "../core/errors.ts";
import { Activities, type DataTierInput, type ReprotectProgress } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { idsWith } from "./dataTier.ts";
import type { ActivityDeps } from "./deps.ts";
import { sameRegion } from "./health.ts";
import { accountRef, isGeoRedundant, readAccount, type AccountRef } from "./storage.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

export type { ReprotectProgress };

/** What a call found or did, as `ReprotectProgress.stage`. */
export const ReprotectStages = {
  /** Geo-redundant with the plan's SKU, geo-replication Live. */
  done: "done",
  /** Geo-redundant and Live; the plan's zone redundancy can only be added after the failback (see below). */
  zoneAfterFailback: "zone-after-failback",
  /** A failover of the account is running (someone else's, or the run's own). */
  failover: "failover",
  /** Geo-redundancy was just turned back on, by this call or an earlier one. */
  geoRedundancy: "geo-redundancy",
  /** Read access to the secondary was just changed to the plan's. */
  readAccess: "read-access",
  /** Azure is copying the account to the secondary for the first time (`Bootstrap`). */
  initialSync: "initial-sync",
  /** The secondary region is unavailable: nothing to do but wait. */
  secondaryUnavailable: "secondary-unavailable",
  /** A customer-initiated migration (zone conversion) runs, started by this call or an earlier one. */
  zoneConversion: "zone-conversion",
} as const;

/**
 * Seconds of Azure time between calls, by what is being waited for. Azure publishes no duration for the
 * initial geo sync or a zone conversion (days, no SLA), so these are polling cadences, not estimates.
 */
export const REPROTECT_POLL_SECONDS = {
  failover: 60,
  afterUpdate: 60,
  initialSync: 15 * 60,
  secondaryUnavailable: 5 * 60,
  zoneConversion: 60 * 60,
} as const;

const UPDATE = "StorageAccounts_Update";
const MIGRATION = "StorageAccounts_CustomerInitiatedMigration";

const zoneRedundant = (sku: string) => /ZRS$/i.test(sku);
const readAccess = (sku: string) => /_RA/i.test(sku);
/** The Standard SKU with the given zone redundancy, geo-redundancy and read access. */
const skuWith = (zone: boolean, geo: boolean, ra: boolean) => `Standard_${geo ? `${ra ? "RA" : ""}${zone ? "GZRS" : "GRS"}` : zone ? "ZRS" : "LRS"}`;

/**
 * Re-protects one storage account of the plan, one step per call, never waiting: the orchestration calls
 * it again after `pollSeconds` of Azure time until it answers `protected`. It reads the account, then at
 * most one write, each journaled with Azure's request ids:
 *
 * - a failover, a zone conversion, or the initial geo sync (`Bootstrap`) in progress, or the secondary
 *   unavailable → `waiting` (says why), no write;
 * - not geo-redundant (LRS, or ZRS) → `StorageAccounts_Update` to the geo-redundant SKU with the same zone
 *   redundancy and the plan's read access (LRS → GRS/RA-GRS, ZRS → GZRS/RA-GZRS): Azure changes geo-
 *   redundancy and zone redundancy one at a time, and geo-redundancy by update;
 * - geo-redundant, Live, read access differs → update to the plan's read access;
 * - geo-redundant, Live, zone redundancy differs from the plan's → a customer-initiated migration
 *   (`StorageAccounts_CustomerInitiatedMigration`, `targetSkuName` the plan's SKU), unless one is already
 *   running (`accountMigrations/default`). Azure does not add zone redundancy to an account that has
 *   failed over until it fails back to its first region (Azure Storage failover FAQ): while the account's
 *   primary is not the plan's primary region, the account is `protected` for the failback with stage
 *   `zone-after-failback`, and the conversion is for a call after the failback;
 * - the plan's SKU and Live → `protected`.
 *
 * A migration this run started that Azure reports Failed stops re-protection with a PreconditionError
 * (Azure's reason in the message) instead of starting another.
 */
export async function reprotectStorageAccount(input: DataTierInput, deps: ActivityDeps): Promise<ReprotectProgress> {
  const ref = accountRef(input.plan, input.index);
  const home = input.plan.regions.primary.name;
  const progress = (state: ReprotectProgress["state"], stage: string, why: string, pollSeconds: number, requestIds: readonly string[] = []): ReprotectProgress => ({
    resourceId: ref.id,
    state,
    stage,
    why,
    changed: requestIds.length > 0,
    requestIds: [...requestIds],
    pollSeconds,
  });

  const account = await readAccount(deps, ref, true);
  const current = account.sku?.name;
  if (current === undefined || !current.startsWith("Standard_")) {
    throw new PreconditionError(`storage account ${ref.name} has SKU ${current ?? "unknown"}: only Standard accounts replicate to a second region`, "UnsupportedSku");
  }
  const where = account.primaryLocation ?? "unknown";
  if (account.failoverInProgress) {
    return progress("waiting", ReprotectStages.failover, `a failover of ${ref.name} is in progress: re-protection waits for it to end`, REPROTECT_POLL_SECONDS.failover);
  }
  const conversion = account.storageAccountSkuConversionStatus;
  const migrating = account.accountMigrationInProgress === true || (conversion?.skuConversionStatus === "InProgress" && conversion.targetSkuName !== undefined && conversion.targetSkuName !== current);
  if (migrating) {
    return progress(
      "waiting",
      ReprotectStages.zoneConversion,
      `${ref.name} is being converted from ${current} to ${conversion?.targetSkuName ?? ref.sku}${conversion?.startTime ? ` (since ${conversion.startTime})` : ""}; Azure gives no completion time`,
      REPROTECT_POLL_SECONDS.zoneConversion,
    );
  }

  if (!isGeoRedundant(current)) {
    const target = skuWith(zoneRedundant(current), true, readAccess(ref.sku));
    const ids = await update(deps, input, ref, account, target);
    return progress(
      "waiting",
      ReprotectStages.geoRedundancy,
      `${ref.name} was ${current} in ${where}: geo-redundancy turned back on (${target}); Azure now copies the account to the secondary before it can fail over`,
      REPROTECT_POLL_SECONDS.afterUpdate,
      ids,
    );
  }

  const status = account.geoReplicationStats?.status;
  if (status === "Bootstrap") {
    return progress(
      "waiting",
      ReprotectStages.initialSync,
      `${ref.name} is ${current}; Azure is still making the first copy to ${account.secondaryLocation ?? "the secondary"} (geo-replication Bootstrap: no failover possible yet)`,
      REPROTECT_POLL_SECONDS.initialSync,
    );
  }
  if (status !== "Live") {
    return progress(
      "waiting",
      ReprotectStages.secondaryUnavailable,
      `${ref.name} is ${current} but geo-replication to ${account.secondaryLocation ?? "the secondary"} is ${status ?? "not reported"}`,
      REPROTECT_POLL_SECONDS.secondaryUnavailable,
    );
  }
  if (current === ref.sku) {
    return progress("protected", ReprotectStages.done, `${ref.name} is ${current} with geo-replication Live (${where} → ${account.secondaryLocation ?? "?"})`, 0);
  }
  if (readAccess(current) !== readAccess(ref.sku)) {
    const target = skuWith(zoneRedundant(current), true, readAccess(ref.sku));
    const ids = await update(deps, input, ref, account, target);
    return progress("waiting", ReprotectStages.readAccess, `${ref.name} changed from ${current} to ${target} (read access as the plan has it)`, REPROTECT_POLL_SECONDS.afterUpdate, ids);
  }

  // Only zone redundancy differs from the plan's.
  if (!sameRegion(account.primaryLocation, home)) {
    return progress(
      "protected",
      ReprotectStages.zoneAfterFailback,
      `${ref.name} is ${current} with geo-replication Live (${where} → ${account.secondaryLocation ?? "?"}): protected for the failback. ` +
        `Azure converts an account that has failed over to ${ref.sku} only after it fails back to ${home}: re-protect it again after the failback`,
      0,
    );
  }
  const last = await readMigration(deps, ref);
  if (last?.migrationStatus === "InProgress" || last?.migrationStatus === "SubmittedForConversion") {
    return progress("waiting", ReprotectStages.zoneConversion, `${ref.name} is being converted to ${last.targetSkuName ?? ref.sku} (${last.migrationStatus})`, REPROTECT_POLL_SECONDS.zoneConversion);
  }
  if (last?.migrationStatus === "Failed" && (await startedByThisRun(deps, input.runId, ref.id))) {
    throw new PreconditionError(
      `the conversion of ${ref.name} to ${last.targetSkuName ?? ref.sku} that this run started failed: ${last.migrationFailedReason ?? "no reason given"}${last.migrationFailedDetailedReason ? ` (${last.migrationFailedDetailedReason})` : ""}`,
      "ZoneConversionFailed",
    );
  }
  const ids = await startMigration(deps, input, ref, account);
  return progress(
    "waiting",
    ReprotectStages.zoneConversion,
    `${ref.name} is ${current}: conversion to ${ref.sku} started (a customer-initiated migration; Azure says it can take up to 72 hours to begin and gives no completion time)`,
    REPROTECT_POLL_SECONDS.zoneConversion,
    ids,
  );
}

/** One SKU update, journaled (also when Azure refuses it and answered with a request id). Returns the request ids. */
async function update(deps: ActivityDeps, input: DataTierInput, ref: AccountRef, account: StorageAccount, sku: string): Promise<string[]> {
  const capture = captureRequestIds();
  const details = { region: account.primaryLocation, from: account.sku?.name, sku, planSku: ref.sku };
  try {
    await deps.clients.storage(ref.subscriptionId).storageAccounts.update(ref.resourceGroup, ref.name, { sku: { name: sku } }, capture.options);
    await journalWrite(deps, { runId: input.runId, step: Activities.reprotectStorageAccount, resourceId: ref.id, operation: UPDATE, requestIds: capture.ids, result: "succeeded", details });
    deps.log.info(`storage account ${ref.name}: ${account.sku?.name} → ${sku}`, { runId: input.runId, resourceId: ref.id });
    return [...capture.ids];
  } catch (error) {
    throw await failedWrite(deps, input, ref, UPDATE, capture.ids, error, details);
  }
}

/**
 * Starts the customer-initiated migration to the plan's SKU: Azure accepts it with 202 and a `location`
 * to poll; the conversion then runs for days, so nothing polls it here: the next calls read the account.
 */
async function startMigration(deps: ActivityDeps, input: DataTierInput, ref: AccountRef, account: StorageAccount): Promise<string[]> {
  const capture = captureRequestIds();
  const details = { region: account.primaryLocation, from: account.sku?.name, targetSkuName: ref.sku };
  try {
    const poller = deps.clients
      .storage(ref.subscriptionId)
      .storageAccounts.customerInitiatedMigration(ref.resourceGroup, ref.name, { targetSkuName: ref.sku }, { ...capture.options, updateIntervalInMs: deps.pollIntervalMs });
    await poller.submitted();
    await journalWrite(deps, { runId: input.runId, step: Activities.reprotectStorageAccount, resourceId: ref.id, operation: MIGRATION, requestIds: capture.ids, result: "accepted", details });
    deps.log.info(`storage account ${ref.name}: conversion to ${ref.sku} started`, { runId: input.runId, resourceId: ref.id });
    return [...capture.ids];
  } catch (error) {
    throw await failedWrite(deps, input, ref, MIGRATION, capture.ids, error, details);
  }
}

async function failedWrite(deps: ActivityDeps, input: DataTierInput, ref: AccountRef, operation: string, captured: readonly string[], error: unknown, details: Record<string, unknown>) {
  const failure = normaliseAzureError(error, operation, ref.id);
  const ids = idsWith(captured, failure);
  if (ids.length > 0) {
    await journalWrite(deps, { runId: input.runId, step: Activities.reprotectStorageAccount, resourceId: ref.id, operation, requestIds: ids, result: `failed: ${failure.message}`, details });
  }
  return failure;
}

/** The account's last customer-initiated migration (`accountMigrations/default`), or undefined when it has none (404). */
async function readMigration(deps: ActivityDeps, ref: AccountRef): Promise<StorageAccountMigration | undefined> {
  try {
    return await deps.clients.storage(ref.subscriptionId).storageAccounts.getCustomerInitiatedMigration(ref.resourceGroup, ref.name, "default");
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw normaliseAzureError(error, "StorageAccounts_GetCustomerInitiatedMigration", ref.id);
  }
}

async function startedByThisRun(deps: ActivityDeps, runId: string, resourceId: string): Promise<boolean> {
  const entries = await deps.journal.read(runId);
  return entriesOf(entries, "write").some(({ data }) => data.operation === MIGRATION && data.resourceId === resourceId && data.result === "accepted");
}
