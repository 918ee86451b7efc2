import { badRequest, conflict, EstateHttpError, invalidContent, notFound } from "../errors.ts";
import { absent, isObject } from "../json.ts";
import type { EstateContext } from "../context.ts";
import { z } from "zod";
import { completionKind, type Operation, type OperationOutcome, type Operations } from "../lro.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, newStorageKey, type StorageAccount } from "../state.ts";
import { iso, ok, resourceId } from "./common.ts";

const NS = "Microsoft.Storage";
const ACCOUNT = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}";
const FAILOVER = "StorageAccounts_Failover";
const MIGRATION = "StorageAccounts_CustomerInitiatedMigration";
/** Endpoints a StorageV2 account publishes, and the subset Azure publishes for internet routing. */
const SERVICES = ["web", "dfs", "blob", "file", "queue", "table"] as const;
const INTERNET_SERVICES = ["web", "dfs", "blob", "file"] as const;

function account(req: EstateRequest, ctx: EstateContext): StorageAccount {
  const found = ctx.state.storageAccount(resourceId(req, NS, ["storageAccounts", "accountName"]));
  if (!found) throw notFound("Microsoft.Storage/storageAccounts", req.params.accountName!, req.params.resourceGroupName);
  return found;
}

/** The failover of `accountId` still running, if any (the operation list is the one source of truth). */
function runningFailover(operations: Operations, accountId: string): Operation | undefined {
  return operations.list().find((op) => op.operationId === FAILOVER && op.status === "InProgress" && key(op.resourceId) === key(accountId));
}

/** Whether a failover of the account is in flight (also used by /_estate/state). */
export function storageFailoverInProgress(operations: Operations, accountId: string): boolean {
  return runningFailover(operations, accountId) !== undefined;
}

/** The account's last customer-initiated migration and where it stands (from its long-running operation). */
function migrationOf(ctx: EstateContext, a: StorageAccount) {
  if (!a.migration) return undefined;
  const op = ctx.operations.get(a.migration.operationId);
  const status = !op || op.status === "InProgress" ? "InProgress" : op.status === "Succeeded" ? "Complete" : "Failed";
  return { ...a.migration, status, error: op?.error } as const;
}
const migrating = (ctx: EstateContext, a: StorageAccount) => migrationOf(ctx, a)?.status === "InProgress";

/** Geo-redundancy was just turned (back) on and the initial copy to the secondary is still running. */
const bootstrapping = (ctx: EstateContext, a: StorageAccount) => a.secondaryLocation !== undefined && a.geoSync !== undefined && ctx.now < a.geoSync.until;

/**
 * What an unplanned failover leaves: Azure's REST reference says the account is converted to LRS; its
 * failover FAQ adds that an account created zone-redundant (GZRS) that fails back to its first region
 * (LRS → GRS → failover back) comes back ZRS there.
 */
function postFailoverSku(a: StorageAccount): string {
  return a.secondaryLocation === a.regionPair[0] && zoneRedundant(a.originalSku) ? "Standard_ZRS" : "Standard_LRS";
}
const readAccess = (sku: string) => /_RA/i.test(sku);
/** The three independent parts of a SKU: tier, zone redundancy in the primary region, geo-redundancy (with or without read access). */
const zoneRedundant = (sku: string) => /ZRS$/i.test(sku);
const geoRedundant = (sku: string) => /GRS$|GZRS$/i.test(sku);
const tierOf = (sku: string) => (sku.startsWith("Premium") ? "Premium" : "Standard");
const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** `https://{account}{suffix}.{service}.core.windows.net/` for each service (hosts stay the same across failovers). */
function endpoints(name: string, suffix = "", services: readonly string[] = SERVICES): Record<string, string> {
  return Object.fromEntries(services.map((s) => [s, `https://${name}${suffix}.${s}.core.windows.net/`]));
}

function geoReplicationStats(ctx: EstateContext, a: StorageAccount, inProgress: boolean) {
  const primaryUp = !ctx.state.isDown(a.primaryLocation);
  const secondaryUp = !ctx.state.isDown(a.secondaryLocation);
  // While the initial sync runs there is no last sync time and no failover of either kind (Azure: a
  // failover cannot be initiated until the data is synchronised between the two regions).
  const bootstrap = secondaryUp && bootstrapping(ctx, a);
  const ready = !inProgress && secondaryUp && !bootstrap;
  return {
    status: !secondaryUp ? "Unavailable" : bootstrap ? "Bootstrap" : "Live",
    // Replication stops when the primary goes down: the last sync time freezes and the gap to now grows.
    ...(bootstrap ? {} : { lastSyncTime: isoSeconds((ctx.state.regions.get(a.primaryLocation)?.downSince ?? ctx.now) - a.lagSeconds * 1000) }),
    canFailover: ready,
    canPlannedFailover: ready && primaryUp,
    postFailoverRedundancy: postFailoverSku(a),
    postPlannedFailoverRedundancy: a.sku,
  };
}

/**
 * `storageAccountSkuConversionStatus` while a conversion runs: the initial sync after geo-redundancy was
 * added (the SKU already reads the new one, as in the 2025-08-01 example), or a customer-initiated
 * migration (the SKU changes when it completes).
 */
function skuConversionStatus(ctx: EstateContext, a: StorageAccount) {
  const migration = migrationOf(ctx, a);
  if (migration?.status === "InProgress") return { skuConversionStatus: "InProgress", targetSkuName: migration.targetSku, startTime: iso(migration.startedAt) };
  if (bootstrapping(ctx, a)) return { skuConversionStatus: "InProgress", targetSkuName: a.sku, startTime: iso(a.geoSync!.startedAt) };
  return undefined;
}

/** The account as StorageAccounts_GetProperties returns it. */
function view(ctx: EstateContext, a: StorageAccount, expandStats: boolean) {
  const inProgress = storageFailoverInProgress(ctx.operations, a.id);
  const status = (region: string) => (ctx.state.isDown(region) ? "unavailable" : "available");
  const keyTime = (name: string) => a.keys.find((k) => k.keyName === name)!.creationTime;
  const secondary = a.secondaryLocation;
  const conversion = skuConversionStatus(ctx, a);
  const migration = migrating(ctx, a);
  return {
    id: a.id,
    kind: a.kind,
    // The storage resource provider does not fail over: `location` stays the region the account was created in.
    location: a.regionPair[0],
    name: a.name,
    properties: {
      keyCreationTime: { key1: keyTime("key1"), key2: keyTime("key2") },
      ...(expandStats ? { geoReplicationStats: geoReplicationStats(ctx, a, inProgress) } : {}),
      isHnsEnabled: false,
      creationTime: a.creationTime,
      networkAcls: { bypass: "AzureServices", defaultAction: "Allow", ipRules: [], virtualNetworkRules: [], resourceAccessRules: [] },
      primaryEndpoints: {
        ...endpoints(a.name),
        microsoftEndpoints: endpoints(a.name, "-microsoftrouting"),
        internetEndpoints: endpoints(a.name, "-internetrouting", INTERNET_SERVICES),
      },
      primaryLocation: a.primaryLocation,
      provisioningState: "Succeeded",
      routingPreference: { routingChoice: "MicrosoftRouting", publishMicrosoftEndpoints: true, publishInternetEndpoints: true },
      encryption: {
        services: {
          file: { keyType: "Account", enabled: true, lastEnabledTime: a.creationTime },
          blob: { keyType: "Account", enabled: true, lastEnabledTime: a.creationTime },
        },
        keySource: "Microsoft.Storage",
      },
      statusOfPrimary: status(a.primaryLocation),
      ...(secondary !== undefined
        ? {
            secondaryLocation: secondary,
            statusOfSecondary: status(secondary),
            // Only read-access accounts publish secondary endpoints.
            ...(readAccess(a.sku) ? { secondaryEndpoints: endpoints(a.name, "-secondary") } : {}),
          }
        : {}),
      ...(a.lastGeoFailoverTime !== undefined ? { lastGeoFailoverTime: iso(a.lastGeoFailoverTime) } : {}),
      ...(inProgress ? { failoverInProgress: true } : {}),
      supportsHttpsTrafficOnly: true,
      ...(conversion ? { storageAccountSkuConversionStatus: conversion } : {}),
      isSkuConversionBlocked: migration,
      accountMigrationInProgress: migration,
    },
    sku: { name: a.sku, tier: a.sku.startsWith("Premium") ? "Premium" : "Standard" },
    tags: {},
    type: "Microsoft.Storage/storageAccounts",
  };
}

function getProperties(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const expand = req.url.searchParams.get("$expand");
  if (expand !== null && !/^(geoReplicationStats|blobRestoreStatus)$/i.test(expand)) {
    throw badRequest("InvalidQueryParameterValue", `Value '${expand}' for query parameter '$expand' is invalid: use 'geoReplicationStats' or 'blobRestoreStatus'.`);
  }
  const expandStats = expand?.toLowerCase() === "georeplicationstats";
  if (expandStats && a.secondaryLocation === undefined) {
    // What Azure answers while an account has no geo-replication to report on.
    throw badRequest("LastSyncTimeUnavailable", `Last sync time is unavailable for account ${a.name}.`);
  }
  return ok(view(ctx, a, expandStats));
}

/** Does the failover when its operation completes: the regions are checked then, not when it was asked for. */
function completeFailover(ctx: EstateContext, a: StorageAccount, planned: boolean, op: Operation): OperationOutcome {
  const secondary = a.secondaryLocation;
  if (secondary === undefined) {
    return { ok: false, code: "FailoverNotSupported", message: `Storage account '${a.name}' has no secondary region to fail over to.`, status: 400 };
  }
  if (ctx.state.isDown(secondary)) {
    return { ok: false, code: "ServiceUnavailable", message: `The secondary region '${secondary}' of storage account '${a.name}' is unavailable.`, status: 503 };
  }
  if (planned && ctx.state.isDown(a.primaryLocation)) {
    return {
      ok: false,
      code: "PlannedFailoverNotPossible",
      message: `Planned failover of storage account '${a.name}' needs both regions, and the primary region '${a.primaryLocation}' is unavailable. An unplanned (customer-managed) failover can proceed with possible data loss.`,
      status: 400,
    };
  }
  // The operation's due time is when it finished (settle runs it at or after then).
  const finishedAt = op.dueAt;
  if (planned) {
    [a.primaryLocation, a.secondaryLocation] = [secondary, a.primaryLocation];
  } else {
    a.dataLossSeconds += a.lagSeconds;
    a.sku = postFailoverSku(a);
    a.primaryLocation = secondary;
    a.secondaryLocation = undefined;
  }
  delete a.geoSync;
  a.lagSeconds = 0;
  a.lastGeoFailoverTime = finishedAt;
  return { ok: true };
}

const gone = (accountId: string): OperationOutcome => ({ ok: false, code: "StorageAccountNotFound", message: `The storage account '${accountId}' no longer exists.`, status: 404 });

/** An account failover (planned or not) completes. */
export const accountFailedOver = completionKind("Microsoft.Storage/failover", z.strictObject({ accountId: z.string(), planned: z.boolean() }), (ctx, { accountId, planned }, op) => {
  const a = ctx.state.storageAccount(accountId);
  return a ? completeFailover(ctx, a, planned, op) : gone(accountId);
});

/** A zone-redundancy migration completes: the SKU changes, unless the account failed over meanwhile. */
export const accountMigrated = completionKind(
  "Microsoft.Storage/migration",
  z.strictObject({ accountId: z.string(), target: z.string(), primaryAtStart: z.string() }),
  (ctx, { accountId, target, primaryAtStart }) => {
    const a = ctx.state.storageAccount(accountId);
    if (!a) return gone(accountId);
    if (a.primaryLocation !== primaryAtStart) {
      return { ok: false, code: "Failed", message: `Storage account '${a.name}' failed over while it was being migrated to ${target}.`, status: 409 };
    }
    a.sku = target;
    return { ok: true };
  },
);

function failover(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const type = req.url.searchParams.get("failoverType");
  if (type !== null && type.toLowerCase() !== "planned") {
    throw badRequest("InvalidQueryParameterValue", `Value '${type}' for query parameter 'failoverType' is invalid: the only value is 'Planned'.`);
  }
  if (a.secondaryLocation === undefined) {
    throw badRequest("FailoverNotSupported", `Storage account '${a.name}' (${a.sku}) has no secondary region to fail over to.`);
  }
  if (storageFailoverInProgress(ctx.operations, a.id)) {
    throw conflict("FailoverInProgress", `A failover of storage account '${a.name}' is already in progress.`);
  }
  if (bootstrapping(ctx, a)) {
    throw conflict("Conflict", `Storage account '${a.name}' cannot fail over yet: the initial geo-replication sync to '${a.secondaryLocation}' has not completed.`);
  }
  const planned = type !== null;
  const accepted = ctx.operations.begin({
    req,
    namespace: NS,
    location: a.primaryLocation,
    resourceId: a.id,
    // final-state-via location: the 202 names only a Location URL.
    locationSegment: "asyncoperations",
    completion: accountFailedOver.of({ accountId: a.id, planned }),
  });
  // Azure's 202 has no body.
  return { status: accepted.status, headers: accepted.headers };
}

/** SKUs an account may have here. */
const SKUS = new Set(["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS", "Premium_LRS", "Premium_ZRS"]);
const skuNamed = (name: unknown) => (typeof name === "string" ? [...SKUS].find((s) => s.toLowerCase() === name.toLowerCase()) : undefined);

/**
 * The refusal Azure answers a SKU change with that it does not make by update (users report it for
 * LRS → ZRS and ZRS → GZRS attempts: 400 InvalidValuesForRequestParameters, "Values for request
 * parameters are invalid: sku.").
 */
const invalidSku = () => badRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: sku.");

/**
 * StorageAccounts_Update: only `sku` is modelled, and only as Azure changes it by update: geo-redundancy
 * and read access, never zone redundancy (that is a conversion: StorageAccounts_CustomerInitiatedMigration),
 * so LRS ↔ GRS ↔ RA-GRS and ZRS ↔ GZRS ↔ RA-GZRS. Adding geo-redundancy makes the paired region the
 * secondary again and starts the initial sync (`Bootstrap` for the profile's `storageInitialGeoSync`);
 * removing it drops the secondary.
 */
function update(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const body = req.body;
  if (!isObject(body)) throw invalidContent("The body must be a JSON object (StorageAccountUpdateParameters).");
  for (const [name, value] of Object.entries(body)) {
    if (name !== "sku" && value !== null && value !== undefined) {
      throw badRequest("InvalidRequestPropertyValue", `The local estate does not support changing '${name}' of a storage account: only 'sku' is modelled.`);
    }
  }
  // `sku` is an object ({ name }): a bare string or an array there does not deserialize.
  if (!absent(body.sku) && !isObject(body.sku)) throw invalidContent("sku must be an object with a 'name'.");
  const requested = isObject(body.sku) ? body.sku.name : undefined;
  if (requested === undefined) return ok(view(ctx, a, false));
  const sku = skuNamed(requested);
  if (sku === undefined) throw badRequest("InvalidRequestPropertyValue", `The value '${String(requested)}' is not valid for property 'sku.name'.`);
  if (tierOf(sku) !== tierOf(a.sku)) {
    throw badRequest("InvalidRequestPropertyValue", `Storage account '${a.name}' cannot change from ${a.sku} to ${sku}: the performance tier cannot change.`);
  }
  if (zoneRedundant(sku) !== zoneRedundant(a.sku)) throw invalidSku();
  if (storageFailoverInProgress(ctx.operations, a.id)) {
    throw conflict("FailoverInProgress", `A failover of storage account '${a.name}' is in progress; its SKU cannot change until it completes.`);
  }
  if (migrating(ctx, a)) {
    throw conflict("Conflict", `Storage account '${a.name}' is being migrated to ${a.migration!.targetSku}; its SKU cannot change until the migration completes.`);
  }
  if (ctx.state.isDown(a.primaryLocation)) {
    throw new EstateHttpError(503, "ServiceUnavailable", `Storage account '${a.name}' cannot be updated: its primary region '${a.primaryLocation}' is unavailable.`);
  }
  if (geoRedundant(sku) && a.secondaryLocation === undefined) {
    a.secondaryLocation = a.regionPair.find((r) => r !== a.primaryLocation);
    a.lagSeconds = 0;
    a.geoSync = { startedAt: ctx.now, until: ctx.now + ctx.effectMs("storageInitialGeoSync") };
  } else if (!geoRedundant(sku)) {
    a.secondaryLocation = undefined;
    delete a.geoSync;
  }
  a.sku = sku;
  return ok(view(ctx, a, false));
}

/**
 * StorageAccounts_CustomerInitiatedMigration (`POST …/startAccountMigration`, body
 * `{ properties: { targetSkuName } }`): a zone-redundancy conversion, the one change an update does not
 * make (LRS ↔ ZRS, GRS ↔ GZRS, RA-GRS ↔ RA-GZRS). Long-running: 202 with a `location` header; it lasts
 * the profile's `storageZoneConversion` and the SKU changes when it completes. Azure supports no zonal
 * conversion of an account that has failed over until it has failed back to its first region.
 */
function startMigration(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const body = req.body;
  if (!absent(body) && !isObject(body)) throw invalidContent("The body must be a JSON object (StorageAccountMigration).");
  if (isObject(body) && !absent(body.properties) && !isObject(body.properties)) throw invalidContent("properties must be an object with a 'targetSkuName'.");
  const target = skuNamed(isObject(body) && isObject(body.properties) ? body.properties.targetSkuName : undefined);
  if (target === undefined) throw badRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: properties.targetSkuName.");
  const zoneOnly =
    target !== a.sku && tierOf(target) === tierOf(a.sku) && zoneRedundant(target) !== zoneRedundant(a.sku) && geoRedundant(target) === geoRedundant(a.sku) && readAccess(target) === readAccess(a.sku);
  if (!zoneOnly) {
    throw badRequest(
      "InvalidValuesForRequestParameters",
      `Values for request parameters are invalid: properties.targetSkuName. A migration changes zone redundancy only; ${a.sku} to ${target} is not such a change.`,
    );
  }
  if (storageFailoverInProgress(ctx.operations, a.id)) throw conflict("FailoverInProgress", `A failover of storage account '${a.name}' is in progress.`);
  if (migrating(ctx, a)) throw conflict("Conflict", `A migration of storage account '${a.name}' to ${a.migration!.targetSku} is already in progress.`);
  if (bootstrapping(ctx, a)) throw conflict("Conflict", `Storage account '${a.name}' is still converting to ${a.sku} (initial geo-replication sync); one conversion at a time.`);
  if (zoneRedundant(target) && a.primaryLocation !== a.regionPair[0]) {
    throw conflict(
      "Conflict",
      `Storage account '${a.name}' has failed over to '${a.primaryLocation}': adding zone redundancy is not supported until it fails back to '${a.regionPair[0]}'.`,
    );
  }
  if (ctx.state.isDown(a.primaryLocation)) {
    throw new EstateHttpError(503, "ServiceUnavailable", `Storage account '${a.name}' cannot be migrated: its primary region '${a.primaryLocation}' is unavailable.`);
  }
  const accepted = ctx.operations.begin({
    req,
    namespace: NS,
    location: a.primaryLocation,
    resourceId: a.id,
    // final-state-via location; the example's 202 names it in a lower-case `location` header.
    locationSegment: "operationResults",
    lowerCaseHeaders: true,
    completion: accountMigrated.of({ accountId: a.id, target, primaryAtStart: a.primaryLocation }),
  });
  const op = ctx.operations.list().filter((o) => o.operationId === MIGRATION && key(o.resourceId) === key(a.id)).at(-1)!;
  a.migration = { targetSku: target, operationId: op.id, startedAt: ctx.now };
  // The 202 has no body.
  return { status: accepted.status, headers: accepted.headers };
}

/** StorageAccounts_GetCustomerInitiatedMigration (`GET …/accountMigrations/default`), shaped as the public examples. */
function getMigration(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  if (req.params.migrationName !== "default") {
    throw badRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: migrationName. It should always be 'default'.");
  }
  const migration = migrationOf(ctx, a);
  if (!migration) throw notFound("Microsoft.Storage/storageAccounts/accountMigrations", `${a.name}/default`, req.params.resourceGroupName);
  return ok({
    name: "default",
    type: "Microsoft.Storage/storageAccounts/accountMigrations",
    id: `${a.id}/accountMigrations/default`,
    properties: {
      ...(migration.status === "Failed" ? { migrationFailedDetailedReason: migration.error?.message ?? "The migration failed.", migrationFailedReason: migration.error?.code ?? "Failed" } : {}),
      migrationStatus: migration.status,
      targetSkuName: migration.targetSku,
    },
  });
}

const keysBody = (a: StorageAccount) => ({
  keys: a.keys.map((k) => ({ keyName: k.keyName, value: k.value, permissions: "Full", creationTime: k.creationTime })),
});

function regenerateKey(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const body = req.body;
  if (!absent(body) && !isObject(body)) throw invalidContent("The body must be a JSON object (StorageAccountRegenerateKeyParameters).");
  const name = isObject(body) && typeof body.keyName === "string" ? body.keyName.toLowerCase() : undefined;
  const target = a.keys.find((k) => k.keyName === name);
  if (!target) {
    throw badRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: keyName. It must be 'key1' or 'key2'.");
  }
  if (ctx.state.isDown(a.primaryLocation)) {
    throw new EstateHttpError(503, "ServiceUnavailable", `Storage account '${a.name}' cannot regenerate keys: its primary region '${a.primaryLocation}' is unavailable.`);
  }
  target.value = newStorageKey();
  target.creationTime = iso(ctx.now);
  return ok(keysBody(a));
}

export function storageRoutes(): Route[] {
  return [
    { method: "GET", path: ACCOUNT, operationId: "StorageAccounts_GetProperties", api: "arm", handler: getProperties },
    { method: "PATCH", path: ACCOUNT, operationId: "StorageAccounts_Update", api: "arm", write: true, handler: update },
    { method: "POST", path: `${ACCOUNT}/failover`, operationId: FAILOVER, api: "arm", write: true, handler: failover },
    { method: "POST", path: `${ACCOUNT}/startAccountMigration`, operationId: MIGRATION, api: "arm", write: true, handler: startMigration },
    { method: "GET", path: `${ACCOUNT}/accountMigrations/{migrationName}`, operationId: "StorageAccounts_GetCustomerInitiatedMigration", api: "arm", handler: getMigration },
    { method: "POST", path: `${ACCOUNT}/listKeys`, operationId: "StorageAccounts_ListKeys", api: "arm", handler: (req, ctx) => ok(keysBody(account(req, ctx))) },
    { method: "POST", path: `${ACCOUNT}/regenerateKey`, operationId: "StorageAccounts_RegenerateKey", api: "arm", write: true, handler: regenerateKey },
  ];
}
