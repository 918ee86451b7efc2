import { badRequest, conflict, EstateHttpError, notFound } from "../errors.ts";
import type { EstateContext } from "../context.ts";
import type { Operation, OperationOutcome, Operations } from "../lro.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, newStorageKey, type StorageAccount } from "../state.ts";
import { iso, ok, resourceId } from "./common.ts";

const NS = "Microsoft.Storage";
const ACCOUNT = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Storage/storageAccounts/{accountName}";
const FAILOVER = "StorageAccounts_Failover";
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

/** Every geo SKU becomes this: Azure's REST reference says an unplanned failover converts the account to LRS. */
const POST_FAILOVER_SKU = "Standard_LRS";
const readAccess = (sku: string) => /_RA/i.test(sku);
const isoSeconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** `https://{account}{suffix}.{service}.core.windows.net/` for each service (hosts stay the same across failovers). */
function endpoints(name: string, suffix = "", services: readonly string[] = SERVICES): Record<string, string> {
  return Object.fromEntries(services.map((s) => [s, `https://${name}${suffix}.${s}.core.windows.net/`]));
}

function geoReplicationStats(ctx: EstateContext, a: StorageAccount, inProgress: boolean) {
  const primaryUp = !ctx.state.isDown(a.primaryLocation);
  const secondaryUp = !ctx.state.isDown(a.secondaryLocation);
  return {
    status: secondaryUp ? "Live" : "Unavailable",
    // Replication stops when the primary goes down: the last sync time freezes and the gap to now grows.
    lastSyncTime: isoSeconds((ctx.state.regions.get(a.primaryLocation)?.downSince ?? ctx.now) - a.lagSeconds * 1000),
    canFailover: !inProgress && secondaryUp,
    canPlannedFailover: !inProgress && secondaryUp && primaryUp,
    postFailoverRedundancy: POST_FAILOVER_SKU,
    postPlannedFailoverRedundancy: a.sku,
  };
}

/** The account as StorageAccounts_GetProperties returns it. */
function view(ctx: EstateContext, a: StorageAccount, expandStats: boolean) {
  const inProgress = storageFailoverInProgress(ctx.operations, a.id);
  const status = (region: string) => (ctx.state.isDown(region) ? "unavailable" : "available");
  const keyTime = (name: string) => a.keys.find((k) => k.keyName === name)!.creationTime;
  const secondary = a.secondaryLocation;
  return {
    id: a.id,
    kind: a.kind,
    location: a.primaryLocation,
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
      isSkuConversionBlocked: false,
      accountMigrationInProgress: false,
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
function completeFailover(ctx: EstateContext, a: StorageAccount, planned: boolean): OperationOutcome {
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
  const finishedAt = runningFailover(ctx.operations, a.id)?.dueAt ?? ctx.now;
  if (planned) {
    [a.primaryLocation, a.secondaryLocation] = [secondary, a.primaryLocation];
  } else {
    a.dataLossSeconds += a.lagSeconds;
    a.primaryLocation = secondary;
    a.secondaryLocation = undefined;
    a.sku = POST_FAILOVER_SKU;
  }
  a.lagSeconds = 0;
  a.lastGeoFailoverTime = finishedAt;
  return { ok: true };
}

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
  const planned = type !== null;
  const accepted = ctx.operations.begin({
    req,
    namespace: NS,
    location: a.primaryLocation,
    resourceId: a.id,
    // final-state-via location: the 202 names only a Location URL.
    locationSegment: "asyncoperations",
    complete: () => completeFailover(ctx, a, planned),
  });
  // Azure's 202 has no body.
  return { status: accepted.status, headers: accepted.headers };
}

/** SKUs an account may be changed to here, and which of them replicate to a second region. */
const SKUS = new Set(["Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS", "Premium_LRS", "Premium_ZRS"]);
const geoRedundant = (sku: string) => /GRS$|GZRS$/i.test(sku);

/**
 * StorageAccounts_Update: only `sku` is modelled. A change to a geo-redundant SKU re-protects an
 * account that an unplanned failover left without a secondary (its paired region becomes the
 * secondary again, immediately `Live`); a change to a local SKU drops the secondary.
 */
function update(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const body = req.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("InvalidRequestContent", "The request body must be a JSON object.");
  for (const [name, value] of Object.entries(body)) {
    if (name !== "sku" && value !== null && value !== undefined) {
      throw badRequest("InvalidRequestPropertyValue", `The local estate does not support changing '${name}' of a storage account: only 'sku' is modelled.`);
    }
  }
  const requested = (body as { sku?: { name?: unknown } }).sku?.name;
  if (requested === undefined) return ok(view(ctx, a, false));
  const sku = typeof requested === "string" ? [...SKUS].find((s) => s.toLowerCase() === requested.toLowerCase()) : undefined;
  if (sku === undefined) throw badRequest("InvalidRequestPropertyValue", `The value '${String(requested)}' is not valid for property 'sku.name'.`);
  if (sku.startsWith("Premium") !== a.sku.startsWith("Premium")) {
    throw badRequest("InvalidRequestPropertyValue", `Storage account '${a.name}' cannot change from ${a.sku} to ${sku}: the performance tier cannot change.`);
  }
  if (storageFailoverInProgress(ctx.operations, a.id)) {
    throw conflict("FailoverInProgress", `A failover of storage account '${a.name}' is in progress; its SKU cannot change until it completes.`);
  }
  if (ctx.state.isDown(a.primaryLocation)) {
    throw new EstateHttpError(503, "ServiceUnavailable", `Storage account '${a.name}' cannot be updated: its primary region '${a.primaryLocation}' is unavailable.`);
  }
  if (geoRedundant(sku) && a.secondaryLocation === undefined) {
    a.secondaryLocation = a.regionPair.find((r) => r !== a.primaryLocation);
    a.lagSeconds = 0;
  } else if (!geoRedundant(sku)) {
    a.secondaryLocation = undefined;
  }
  a.sku = sku;
  return ok(view(ctx, a, false));
}

const keysBody = (a: StorageAccount) => ({
  keys: a.keys.map((k) => ({ keyName: k.keyName, value: k.value, permissions: "Full", creationTime: k.creationTime })),
});

function regenerateKey(req: EstateRequest, ctx: EstateContext) {
  const a = account(req, ctx);
  const body = req.body as { keyName?: unknown } | undefined;
  const name = typeof body?.keyName === "string" ? body.keyName.toLowerCase() : undefined;
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
    { method: "POST", path: `${ACCOUNT}/listKeys`, operationId: "StorageAccounts_ListKeys", api: "arm", handler: (req, ctx) => ok(keysBody(account(req, ctx))) },
    { method: "POST", path: `${ACCOUNT}/regenerateKey`, operationId: "StorageAccounts_RegenerateKey", api: "arm", write: true, handler: regenerateKey },
  ];
}
