import { beforeEach, describe, expect, it } from "vitest";
import { AZURE_PROFILE } from "../../estate/profile.ts";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { tailwindPlanFile } from "../helpers/tailwindPlan.ts";

/**
 * Storage replication rules as Azure has them, on a plan of its own (westeurope/northeurope), through
 * @azure/arm-storage, at a time scale on an injected clock: Azure time passes only when a test says so.
 */
const SCALE = 3600;
const T0 = Date.parse("2026-05-04T08:00:00Z");
let now = T0;
const GEO_SYNC_MS = AZURE_PROFILE.effects.storageInitialGeoSync.ms / SCALE;
const ZONE_CONVERSION_MS = AZURE_PROFILE.effects.storageZoneConversion.ms / SCALE;
const FAILOVER_MS = AZURE_PROFILE.operations.StorageAccounts_Failover!.ms / SCALE;
const GEO = { expand: "geoReplicationStats" } as const;
const PLANNED = { ...FAST_POLL, failoverType: "Planned" } as const;

function accounts(fx: EstateFixture) {
  const pick = (i: number) => {
    const a = fx.plan.storage[i]!.account;
    return { id: a.id, rg: a.resourceGroup, name: a.name, client: fx.clients.storage(a.subscriptionId) };
  };
  /** `docs` is Standard_GZRS, `exports` Standard_RAGRS, `archive` Standard_RAGZRS. */
  return { docs: pick(0), exports: pick(1), archive: pick(2) };
}
type Account = ReturnType<typeof accounts>["docs"];

const home = "westeurope";
const away = "northeurope";
const sku = async (a: Account) => (await a.client.storageAccounts.getProperties(a.rg, a.name)).sku?.name;
const invalidSku = { statusCode: 400, code: "InvalidValuesForRequestParameters", message: "Values for request parameters are invalid: sku." };

describe("estate: storage replication rules (time scale, injected clock)", () => {
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ planFile: tailwindPlanFile(), estate: { clock: () => now, timeScale: SCALE } });

  /** A failover of `a`, its Azure time passing once Azure accepted it. */
  async function failover(a: Account, options: typeof FAST_POLL | typeof PLANNED = FAST_POLL) {
    const poller = a.client.storageAccounts.failover(a.rg, a.name, options);
    await poller.submitted();
    now += FAILOVER_MS;
    await poller.pollUntilDone();
  }

  /** An unplanned failover of `a` to northeurope with westeurope down, then westeurope back. */
  async function unplannedFailover(a: Account) {
    await fx.estate.setRegion(home, { down: true });
    await failover(a);
    await fx.estate.setRegion(home, { down: false });
  }

  it("refuses every SKU update that changes zone redundancy, with Azure's InvalidValuesForRequestParameters", async () => {
    const { docs, exports } = accounts(fx);

    for (const [a, to] of [
      [exports, "Standard_RAGZRS"],
      [exports, "Standard_ZRS"],
      [docs, "Standard_GRS"],
      [docs, "Standard_LRS"],
    ] as const) {
      await expect(a.client.storageAccounts.update(a.rg, a.name, { sku: { name: to } })).rejects.toMatchObject(invalidSku);
    }
    await exports.client.storageAccounts.update(exports.rg, exports.name, { sku: { name: "Standard_LRS" } });
    await expect(exports.client.storageAccounts.update(exports.rg, exports.name, { sku: { name: "Standard_GZRS" } })).rejects.toMatchObject(invalidSku);

    expect(await sku(docs)).toBe("Standard_GZRS");
    expect(await sku(exports)).toBe("Standard_LRS");
  });

  it("leaves a GZRS account LRS after an unplanned failover, and keeps `location` where the account was created", async () => {
    const { docs } = accounts(fx);
    const before = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);

    await unplannedFailover(docs);

    const after = await docs.client.storageAccounts.getProperties(docs.rg, docs.name);
    expect(before.geoReplicationStats).toMatchObject({ postFailoverRedundancy: "Standard_LRS", postPlannedFailoverRedundancy: "Standard_GZRS" });
    expect(after).toMatchObject({ sku: { name: "Standard_LRS" }, primaryLocation: away, location: home });
    expect(after.secondaryLocation).toBeUndefined();
  });

  it("re-enables geo-redundancy by update (LRS → GRS): Bootstrap, no last sync time and no failover for the initial sync, then Live", async () => {
    const { docs } = accounts(fx);
    await unplannedFailover(docs);

    const updated = await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_GRS" } });
    const syncing = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);
    const refused = docs.client.storageAccounts.failover(docs.rg, docs.name, FAST_POLL);
    await expect(refused).rejects.toMatchObject({ statusCode: 409 });
    const t1 = now;
    now = t1 + GEO_SYNC_MS - 1;
    const almost = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);
    now = t1 + GEO_SYNC_MS;
    const live = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);

    expect(updated).toMatchObject({ sku: { name: "Standard_GRS" }, primaryLocation: away, secondaryLocation: home });
    expect(syncing.geoReplicationStats).toMatchObject({ status: "Bootstrap", canFailover: false, canPlannedFailover: false });
    expect(syncing.geoReplicationStats?.lastSyncTime).toBeUndefined();
    expect(syncing.storageAccountSkuConversionStatus).toEqual({ skuConversionStatus: "InProgress", targetSkuName: "Standard_GRS", startTime: new Date(t1).toISOString() });
    expect(almost.geoReplicationStats?.status).toBe("Bootstrap");
    expect(live.geoReplicationStats).toMatchObject({ status: "Live", canFailover: true, canPlannedFailover: true, lastSyncTime: new Date(now) });
    expect(live.storageAccountSkuConversionStatus).toBeUndefined();
    expect(GEO_SYNC_MS).toBe(24_000); // one day of Azure time
  });

  it("does not add zone redundancy to an account that has failed over; after a planned failback, a customer-initiated migration converts GRS → GZRS", async () => {
    const { docs } = accounts(fx);
    await unplannedFailover(docs);
    await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_GRS" } });
    now += GEO_SYNC_MS;

    const away_ = docs.client.storageAccounts.customerInitiatedMigration(docs.rg, docs.name, { targetSkuName: "Standard_GZRS" }, FAST_POLL).submitted();
    await expect(away_).rejects.toMatchObject({ statusCode: 409 });
    await failover(docs, PLANNED);
    const back = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);
    const start = now;
    const raw = captureRaw();
    await docs.client.storageAccounts.customerInitiatedMigration(docs.rg, docs.name, { targetSkuName: "Standard_GZRS" }, { ...FAST_POLL, ...raw.options }).submitted();
    const during = await docs.client.storageAccounts.getProperties(docs.rg, docs.name);
    const migration = await docs.client.storageAccounts.getCustomerInitiatedMigration(docs.rg, docs.name, "default");
    const patch = docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_RAGRS" } });
    await expect(patch).rejects.toMatchObject({ statusCode: 409 });
    const again = docs.client.storageAccounts.customerInitiatedMigration(docs.rg, docs.name, { targetSkuName: "Standard_GZRS" }, FAST_POLL).submitted();
    await expect(again).rejects.toMatchObject({ statusCode: 409 });
    now = start + ZONE_CONVERSION_MS;
    const done = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);
    const completed = await docs.client.storageAccounts.getCustomerInitiatedMigration(docs.rg, docs.name, "default");

    expect(back).toMatchObject({ sku: { name: "Standard_GRS" }, primaryLocation: home, secondaryLocation: away });
    expect(raw.seen[0]).toMatchObject({ status: 202, body: undefined });
    expect(new URL(raw.seen[0]!.headers.location!).pathname).toMatch(/\/providers\/Microsoft\.Storage\/locations\/westeurope\/operationResults\/[0-9a-f-]{36}$/);
    expect(during).toMatchObject({ sku: { name: "Standard_GRS" }, accountMigrationInProgress: true, isSkuConversionBlocked: true });
    expect(during.storageAccountSkuConversionStatus).toMatchObject({ skuConversionStatus: "InProgress", targetSkuName: "Standard_GZRS" });
    expect(migration).toMatchObject({ name: "default", type: "Microsoft.Storage/storageAccounts/accountMigrations", migrationStatus: "InProgress", targetSkuName: "Standard_GZRS" });
    expect(done).toMatchObject({ sku: { name: "Standard_GZRS" }, accountMigrationInProgress: false, primaryLocation: home, secondaryLocation: away });
    expect(done.geoReplicationStats?.status).toBe("Live");
    expect(completed.migrationStatus).toBe("Complete");
    expect(ZONE_CONVERSION_MS).toBe(72_000); // 72 hours of Azure time
  });

  it("migrates only zone redundancy: a target that changes geo-redundancy or read access too is refused", async () => {
    const { exports, docs } = accounts(fx);
    const start = (a: Account, target: string) => a.client.storageAccounts.customerInitiatedMigration(a.rg, a.name, { targetSkuName: target }, FAST_POLL).submitted();

    await expect(start(exports, "Standard_GZRS")).rejects.toMatchObject({ statusCode: 400, code: "InvalidValuesForRequestParameters" });
    await expect(start(exports, "Standard_RAGRS")).rejects.toMatchObject({ statusCode: 400, code: "InvalidValuesForRequestParameters" });
    await expect(start(docs, "Standard_LRS")).rejects.toMatchObject({ statusCode: 400, code: "InvalidValuesForRequestParameters" });
    await expect(docs.client.storageAccounts.getCustomerInitiatedMigration(docs.rg, docs.name, "default")).rejects.toMatchObject({ statusCode: 404 });
    await start(exports, "Standard_RAGZRS");
    now += ZONE_CONVERSION_MS;
    expect(await sku(exports)).toBe("Standard_RAGZRS");
  });

  it("an unplanned failback of an account created GZRS brings it back ZRS in its first region; geo-redundancy then returns by update (ZRS → GZRS)", async () => {
    const { docs } = accounts(fx);
    await unplannedFailover(docs);
    await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_GRS" } });
    now += GEO_SYNC_MS;
    const before = await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO);

    await failover(docs);
    const failedBack = await docs.client.storageAccounts.getProperties(docs.rg, docs.name);
    const regeo = await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_GZRS" } });
    const stats = (await docs.client.storageAccounts.getProperties(docs.rg, docs.name, GEO)).geoReplicationStats;

    expect(before.geoReplicationStats).toMatchObject({ postFailoverRedundancy: "Standard_ZRS", postPlannedFailoverRedundancy: "Standard_GRS" });
    expect(failedBack).toMatchObject({ sku: { name: "Standard_ZRS" }, primaryLocation: home });
    expect(regeo).toMatchObject({ sku: { name: "Standard_GZRS" }, secondaryLocation: away });
    expect(stats?.status).toBe("Bootstrap");
  });

  it("a failover while a migration runs ends the migration Failed, with the reason in accountMigrations/default", async () => {
    const { archive } = accounts(fx);
    await archive.client.storageAccounts.customerInitiatedMigration(archive.rg, archive.name, { targetSkuName: "Standard_RAGRS" }, FAST_POLL).submitted();
    await failover(archive, PLANNED);
    now += ZONE_CONVERSION_MS;

    const migration = await archive.client.storageAccounts.getCustomerInitiatedMigration(archive.rg, archive.name, "default");

    expect(migration).toMatchObject({ migrationStatus: "Failed", targetSkuName: "Standard_RAGRS", migrationFailedReason: expect.any(String) });
    expect(migration.migrationFailedDetailedReason).toMatch(/failed over/);
    expect(await sku(archive)).toBe("Standard_RAGZRS");
  });
});

describe("estate: storage migration responses match the public REST examples", () => {
  const fx = useEstate({ planFile: tailwindPlanFile(), estate: { timing: { durations: { StorageAccounts_CustomerInitiatedMigration: 60_000 } } } });
  const example = (file: string) => corpusExample(`storage/2025-06-01/${file}`);

  it("StorageAccounts_CustomerInitiatedMigration: 202, a `location` header and no body, as the example", async () => {
    const { exports } = accounts(fx);
    const raw = captureRaw();

    await exports.client.storageAccounts.customerInitiatedMigration(exports.rg, exports.name, example("StorageAccountPostMigration.json").parameters.parameters as { targetSkuName: string } & object, { ...FAST_POLL, ...raw.options }).submitted().catch((e) => e);

    // The example asks for Standard_ZRS, which an RA-GRS account cannot migrate to in one step.
    expect(raw.seen[0]).toMatchObject({ status: 400 });
    const accepted = captureRaw();
    await exports.client.storageAccounts.customerInitiatedMigration(exports.rg, exports.name, { targetSkuName: "Standard_RAGZRS" }, { ...FAST_POLL, ...accepted.options }).submitted();
    const headers = Object.keys(example("StorageAccountPostMigration.json").responses["202"]!.headers!);
    expect(headers).toEqual(["location"]);
    expect(accepted.seen[0]!.status).toBe(202);
    expect(accepted.seen[0]!.headers.location).toMatch(/^https:\/\//);
    expect(accepted.seen[0]!.body).toBeUndefined();
  });

  it("StorageAccounts_GetCustomerInitiatedMigration in progress has exactly the example's fields", async () => {
    const { exports } = accounts(fx);
    await exports.client.storageAccounts.customerInitiatedMigration(exports.rg, exports.name, { targetSkuName: "Standard_RAGZRS" }, FAST_POLL).submitted();
    const raw = captureRaw();

    await exports.client.storageAccounts.getCustomerInitiatedMigration(exports.rg, exports.name, "default", raw.options);

    const diff = shapeDiff(raw.last.body, example("StorageAccountGetMigrationInProgress.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("StorageAccounts_GetCustomerInitiatedMigration after a failed migration has exactly the example's fields", async () => {
    const { exports } = accounts(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_CustomerInitiatedMigration", count: 1 });
    fx.estate.setTiming({ durations: { StorageAccounts_CustomerInitiatedMigration: 0 } });
    await exports.client.storageAccounts.customerInitiatedMigration(exports.rg, exports.name, { targetSkuName: "Standard_RAGZRS" }, FAST_POLL).submitted();
    const raw = captureRaw();

    await exports.client.storageAccounts.getCustomerInitiatedMigration(exports.rg, exports.name, "default", raw.options);

    const diff = shapeDiff(raw.last.body, example("StorageAccountGetMigrationFailed.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
    expect(raw.last.body).toMatchObject({ properties: { migrationStatus: "Failed", targetSkuName: "Standard_RAGZRS" } });
  });

  it("StorageAccounts_GetProperties during a conversion carries storageAccountSkuConversionStatus as the 2025-08-01 example (without its endTime)", async () => {
    const { exports } = accounts(fx);
    await exports.client.storageAccounts.customerInitiatedMigration(exports.rg, exports.name, { targetSkuName: "Standard_RAGZRS" }, FAST_POLL).submitted();
    const raw = captureRaw();

    await exports.client.storageAccounts.getProperties(exports.rg, exports.name, raw.options);

    const exampleStatus = (corpusExample("storage/2025-08-01/StorageAccountGetAsyncSkuConversionStatus.json").responses["200"]!.body as { properties: { storageAccountSkuConversionStatus: unknown } }).properties.storageAccountSkuConversionStatus;
    const mine = (raw.last.body as { properties: { storageAccountSkuConversionStatus: unknown } }).properties.storageAccountSkuConversionStatus;
    expect(shapeDiff(mine, exampleStatus)).toEqual({ missing: ["endTime"], mismatched: [], extra: [] });
  });
});
