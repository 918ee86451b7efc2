import { beforeEach, describe, expect, it } from "vitest";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

/** The estate runs on this clock so that times in bodies can be asserted exactly. */
const T0 = Date.parse("2025-03-01T12:00:00Z");
let now = T0;

/** The plan's two accounts: `data` is Standard_RAGRS, `media` is Standard_GZRS. */
function accounts(fx: EstateFixture) {
  const pick = (i: number) => {
    const a = fx.plan.storage[i]!.account;
    return { id: a.id, rg: a.resourceGroup, name: a.name, client: fx.clients.storage(a.subscriptionId) };
  };
  return { data: pick(0), media: pick(1) };
}

const GEO = { expand: "geoReplicationStats" } as const;
const PLANNED = { ...FAST_POLL, failoverType: "Planned" } as const;

describe("estate: storage accounts through @azure/arm-storage", () => {
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ estate: { clock: () => now } });
  const primary = () => fx.plan.regions.primary.name;
  const secondary = () => fx.plan.regions.secondary.name;
  const storedAccount = (id: string) => fx.estate.snapshot().storageAccounts.find((a) => a.id === id)!;

  it("reads the geo-replication stats of a healthy read-access geo-redundant account", async () => {
    const { data } = accounts(fx);

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);

    expect(account.sku).toEqual({ name: "Standard_RAGRS", tier: "Standard" });
    expect(account.location).toBe(primary());
    expect(account.primaryLocation).toBe(primary());
    expect(account.secondaryLocation).toBe(secondary());
    expect(account.statusOfPrimary).toBe("available");
    expect(account.statusOfSecondary).toBe("available");
    expect(account.primaryEndpoints?.blob).toBe(`https://${data.name}.blob.core.windows.net/`);
    expect(account.secondaryEndpoints?.blob).toBe(`https://${data.name}-secondary.blob.core.windows.net/`);
    expect(account.geoReplicationStats).toEqual({
      status: "Live",
      lastSyncTime: new Date(T0),
      canFailover: true,
      canPlannedFailover: true,
      postFailoverRedundancy: "Standard_LRS",
      postPlannedFailoverRedundancy: "Standard_RAGRS",
    });
    expect(account.failoverInProgress).toBeUndefined();
    expect(account.lastGeoFailoverTime).toBeUndefined();
  });

  it("leaves the stats out unless they are expanded, and publishes no secondary endpoints without read access", async () => {
    const { media } = accounts(fx);

    const account = await media.client.storageAccounts.getProperties(media.rg, media.name);

    expect(account.geoReplicationStats).toBeUndefined();
    expect(account.sku?.name).toBe("Standard_GZRS");
    expect(account.secondaryLocation).toBe(secondary());
    expect(account.secondaryEndpoints).toBeUndefined();
  });

  it("shows replication lag in lastSyncTime", async () => {
    const { data } = accounts(fx);
    fx.estate.setLag(data.id, 95);

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);

    expect(account.geoReplicationStats?.lastSyncTime).toEqual(new Date(T0 - 95_000));
  });

  it("reports the secondary unavailable and no failover possible while the secondary region is down", async () => {
    const { data } = accounts(fx);
    await fx.estate.setRegion(secondary(), { down: true });

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);

    expect(account.statusOfPrimary).toBe("available");
    expect(account.statusOfSecondary).toBe("unavailable");
    expect(account.geoReplicationStats).toMatchObject({ status: "Unavailable", canFailover: false, canPlannedFailover: false });
  });

  it("swaps the locations on a planned failover and stays geo-redundant", async () => {
    const { data } = accounts(fx);
    fx.estate.setLag(data.id, 30);

    await data.client.storageAccounts.failover(data.rg, data.name, PLANNED);

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);
    expect(account.primaryLocation).toBe(secondary());
    expect(account.secondaryLocation).toBe(primary());
    // The storage resource provider does not fail over: `location` stays the region the account was created in.
    expect(account.location).toBe(primary());
    expect(account.sku?.name).toBe("Standard_RAGRS");
    expect(account.lastGeoFailoverTime).toEqual(new Date(T0));
    expect(account.geoReplicationStats?.lastSyncTime).toEqual(new Date(T0));
    expect(storedAccount(data.id).dataLossSeconds).toBe(0);
  });

  it("refuses a planned failover while the primary region is down; an unplanned one then leaves an LRS account with no secondary", async () => {
    const { data } = accounts(fx);
    fx.estate.setLag(data.id, 42);
    await fx.estate.setRegion(primary(), { down: true });

    const planned = data.client.storageAccounts.failover(data.rg, data.name, PLANNED);
    await expect(planned).rejects.toMatchObject({ code: "PlannedFailoverNotPossible" });
    const unchanged = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);
    await data.client.storageAccounts.failover(data.rg, data.name, FAST_POLL);
    const account = await data.client.storageAccounts.getProperties(data.rg, data.name);

    expect(unchanged.primaryLocation).toBe(primary());
    expect(unchanged.statusOfPrimary).toBe("unavailable");
    expect(unchanged.geoReplicationStats).toMatchObject({ canFailover: true, canPlannedFailover: false });
    expect(account.primaryLocation).toBe(secondary());
    expect(account.location).toBe(primary());
    expect(account.secondaryLocation).toBeUndefined();
    expect(account.statusOfSecondary).toBeUndefined();
    expect(account.secondaryEndpoints).toBeUndefined();
    expect(account.sku).toEqual({ name: "Standard_LRS", tier: "Standard" });
    expect(storedAccount(data.id)).toMatchObject({ dataLossSeconds: 42, lagSeconds: 0, secondaryLocation: null, sku: "Standard_LRS" });
  });

  it("refuses an unplanned failover when the secondary region is down", async () => {
    const { data } = accounts(fx);
    await fx.estate.setRegion(secondary(), { down: true });

    const attempt = data.client.storageAccounts.failover(data.rg, data.name, FAST_POLL);

    await expect(attempt).rejects.toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    expect(storedAccount(data.id)).toMatchObject({ primaryLocation: primary(), secondaryLocation: secondary(), sku: "Standard_RAGRS" });
  });

  it("refuses to fail over an account that has no secondary any more, and has no stats to report for it", async () => {
    const { media } = accounts(fx);
    await media.client.storageAccounts.failover(media.rg, media.name, FAST_POLL);

    const again = media.client.storageAccounts.failover(media.rg, media.name, FAST_POLL);
    const stats = media.client.storageAccounts.getProperties(media.rg, media.name, GEO);

    await expect(again).rejects.toMatchObject({ statusCode: 400, code: "FailoverNotSupported" });
    await expect(stats).rejects.toMatchObject({ statusCode: 400, code: "LastSyncTimeUnavailable" });
    expect(storedAccount(media.id)).toMatchObject({ primaryLocation: secondary(), sku: "Standard_LRS" });
  });

  it("shows a failover in progress, refuses a second one, and decides the outcome when the operation completes", async () => {
    const { data } = accounts(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 60_000 } });
    const poller = data.client.storageAccounts.failover(data.rg, data.name, PLANNED);
    await poller.submitted();

    const during = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);
    const second = data.client.storageAccounts.failover(data.rg, data.name, PLANNED);
    await expect(second).rejects.toMatchObject({ statusCode: 409, code: "FailoverInProgress" });
    await fx.estate.setRegion(primary(), { down: true });
    now = T0 + 60_000;

    await expect(poller.pollUntilDone()).rejects.toMatchObject({ code: "PlannedFailoverNotPossible" });
    expect(during.failoverInProgress).toBe(true);
    expect(during.geoReplicationStats).toMatchObject({ canFailover: false, canPlannedFailover: false });
    expect(during.primaryLocation).toBe(primary());
    expect(storedAccount(data.id)).toMatchObject({ primaryLocation: primary(), failoverInProgress: false });
  });

  it("records the time a failover finished, not when it was asked for", async () => {
    const { data } = accounts(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 90_000 } });
    const poller = data.client.storageAccounts.failover(data.rg, data.name, PLANNED);
    await poller.submitted();
    now = T0 + 120_000;

    await poller.pollUntilDone();

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name);
    expect(account.lastGeoFailoverTime).toEqual(new Date(T0 + 90_000));
    expect(account.failoverInProgress).toBeUndefined();
  });

  it("ends the failover Failed when a failure is planted, leaving the account as it was and free to fail over again", async () => {
    const { data } = accounts(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 1 });

    await expect(data.client.storageAccounts.failover(data.rg, data.name, PLANNED)).rejects.toThrow();
    const after = await data.client.storageAccounts.getProperties(data.rg, data.name);
    await data.client.storageAccounts.failover(data.rg, data.name, PLANNED);
    const retried = await data.client.storageAccounts.getProperties(data.rg, data.name);

    expect(after.primaryLocation).toBe(primary());
    expect(after.failoverInProgress).toBeUndefined();
    expect(retried.primaryLocation).toBe(secondary());
  });

  it("re-protects an account an unplanned failover left LRS: a geo-redundant SKU makes the other region a Live secondary again", async () => {
    const { data } = accounts(fx);
    await fx.estate.setRegion(primary(), { down: true });
    await data.client.storageAccounts.failover(data.rg, data.name, FAST_POLL);
    await fx.estate.setRegion(primary(), { down: false });

    const updated = await data.client.storageAccounts.update(data.rg, data.name, { sku: { name: "Standard_RAGRS" } });

    const account = await data.client.storageAccounts.getProperties(data.rg, data.name, GEO);
    expect(updated.sku).toEqual({ name: "Standard_RAGRS", tier: "Standard" });
    expect(updated.secondaryLocation).toBe(primary());
    expect(updated.geoReplicationStats).toBeUndefined();
    expect(account.primaryLocation).toBe(secondary());
    expect(account.secondaryLocation).toBe(primary());
    expect(account.secondaryEndpoints?.blob).toBe(`https://${data.name}-secondary.blob.core.windows.net/`);
    expect(account.geoReplicationStats).toMatchObject({ status: "Live", lastSyncTime: new Date(T0), canFailover: true, canPlannedFailover: true });
    expect(fx.estate.requests({ writesOnly: true }).map((r) => `${r.method} ${r.operationId} ${r.status}`).at(-1)).toBe("PATCH StorageAccounts_Update 200");
  });

  it("drops the secondary when the SKU becomes local, and refuses what it does not model", async () => {
    const { data, media } = accounts(fx);

    const local = await data.client.storageAccounts.update(data.rg, data.name, { sku: { name: "Standard_LRS" } });
    const otherProperty = media.client.storageAccounts.update(media.rg, media.name, { accessTier: "Cool" });
    const unknownSku = media.client.storageAccounts.update(media.rg, media.name, { sku: { name: "Standard_XRS" } });
    const premium = media.client.storageAccounts.update(media.rg, media.name, { sku: { name: "Premium_LRS" } });

    expect(local.secondaryLocation).toBeUndefined();
    expect(storedAccount(data.id)).toMatchObject({ sku: "Standard_LRS", secondaryLocation: null });
    await expect(otherProperty).rejects.toMatchObject({ statusCode: 400, code: "InvalidRequestPropertyValue" });
    await expect(unknownSku).rejects.toMatchObject({ statusCode: 400, code: "InvalidRequestPropertyValue" });
    await expect(premium).rejects.toMatchObject({ statusCode: 400, code: "InvalidRequestPropertyValue" });
    expect(storedAccount(media.id)).toMatchObject({ sku: "Standard_GZRS", secondaryLocation: secondary() });
  });

  it("refuses a SKU change while a failover runs, and while the primary region is down", async () => {
    const { data, media } = accounts(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 60_000 } });
    await data.client.storageAccounts.failover(data.rg, data.name, PLANNED).submitted();

    const during = data.client.storageAccounts.update(data.rg, data.name, { sku: { name: "Standard_GRS" } });
    await expect(during).rejects.toMatchObject({ statusCode: 409, code: "FailoverInProgress" });
    await fx.estate.setRegion(primary(), { down: true });
    const down = media.client.storageAccounts.update(media.rg, media.name, { sku: { name: "Standard_RAGZRS" } });

    await expect(down).rejects.toMatchObject({ statusCode: 503 });
    expect(storedAccount(data.id).sku).toBe("Standard_RAGRS");
    expect(storedAccount(media.id).sku).toBe("Standard_GZRS");
  });

  it("lists both keys with full permissions", async () => {
    const { data } = accounts(fx);

    const { keys } = await data.client.storageAccounts.listKeys(data.rg, data.name);

    expect(keys?.map((k) => [k.keyName, k.permissions])).toEqual([
      ["key1", "Full"],
      ["key2", "Full"],
    ]);
    expect(keys?.[0]?.value).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(keys?.[0]?.value).not.toBe(keys?.[1]?.value);
  });

  it("regenerates one key and leaves the other unchanged", async () => {
    const { data } = accounts(fx);
    const before = await data.client.storageAccounts.listKeys(data.rg, data.name);
    now = T0 + 5_000;

    const result = await data.client.storageAccounts.regenerateKey(data.rg, data.name, { keyName: "key2" });

    const after = await data.client.storageAccounts.listKeys(data.rg, data.name);
    const value = (r: typeof before, name: string) => r.keys?.find((k) => k.keyName === name)?.value;
    expect(value(result, "key2")).not.toBe(value(before, "key2"));
    expect(value(result, "key1")).toBe(value(before, "key1"));
    expect(value(after, "key2")).toBe(value(result, "key2"));
    expect(result.keys?.find((k) => k.keyName === "key2")?.creationTime).toEqual(new Date(T0 + 5_000));
  });

  it("refuses to regenerate a key that does not exist", async () => {
    const { data } = accounts(fx);

    const attempt = data.client.storageAccounts.regenerateKey(data.rg, data.name, { keyName: "key3" });

    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: "InvalidValuesForRequestParameters" });
  });

  it("refuses to regenerate a key while the account's primary region is down", async () => {
    const { data } = accounts(fx);
    const before = await data.client.storageAccounts.listKeys(data.rg, data.name);
    await fx.estate.setRegion(primary(), { down: true });

    const attempt = data.client.storageAccounts.regenerateKey(data.rg, data.name, { keyName: "key1" });

    await expect(attempt).rejects.toMatchObject({ statusCode: 503 });
    expect(await data.client.storageAccounts.listKeys(data.rg, data.name)).toEqual(before);
  });

  it("answers an unknown account with 404 ResourceNotFound", async () => {
    const { data } = accounts(fx);
    const notFound = { statusCode: 404, code: "ResourceNotFound" };

    const get = data.client.storageAccounts.getProperties(data.rg, "nosuchaccount");
    const keys = data.client.storageAccounts.listKeys(data.rg, "nosuchaccount");
    const failover = data.client.storageAccounts.failover(data.rg, "nosuchaccount", FAST_POLL);

    await expect(get).rejects.toMatchObject(notFound);
    await expect(keys).rejects.toMatchObject(notFound);
    await expect(failover).rejects.toMatchObject(notFound);
  });
});

describe("estate: storage responses match the public REST examples", () => {
  const fx = useEstate();
  // The example's tags are that account's own free-form dictionary; the estate's accounts have none.
  const geoExample = () => {
    const body = corpusExample("storage/StorageAccountGetPropertiesGeoReplicationStatscanFailoverTrue.json").responses["200"]!.body as Record<string, unknown>;
    return { ...body, tags: {} };
  };

  it("StorageAccounts_GetProperties with geoReplicationStats has the example's fields and types (GZRS account)", async () => {
    const { media } = accounts(fx);
    const raw = captureRaw();

    await media.client.storageAccounts.getProperties(media.rg, media.name, { ...GEO, ...raw.options });

    const diff = shapeDiff(raw.last.body, geoExample());
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual([]);
  });

  it("a read-access account adds only secondaryEndpoints to the example's fields", async () => {
    const { data } = accounts(fx);
    const raw = captureRaw();

    await data.client.storageAccounts.getProperties(data.rg, data.name, { ...GEO, ...raw.options });

    const diff = shapeDiff(raw.last.body, geoExample());
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual(["properties.secondaryEndpoints"]);
  });

  it("after a failover the account adds only lastGeoFailoverTime", async () => {
    const { media } = accounts(fx);
    await media.client.storageAccounts.failover(media.rg, media.name, PLANNED);
    const raw = captureRaw();

    await media.client.storageAccounts.getProperties(media.rg, media.name, { ...GEO, ...raw.options });

    const diff = shapeDiff(raw.last.body, geoExample());
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual(["properties.lastGeoFailoverTime"]);
  });

  it("StorageAccounts_Failover answers 202 with a Location (asyncoperations) URL only, and no body", async () => {
    const { data } = accounts(fx);
    const responses: { status: number; headers: Record<string, string>; text?: string | null }[] = [];
    const onResponse = (r: { status: number; bodyAsText?: string | null; headers: { toJSON(): Record<string, string> } }) =>
      responses.push({ status: r.status, headers: r.headers.toJSON(), text: r.bodyAsText });

    await data.client.storageAccounts.failover(data.rg, data.name, { ...PLANNED, onResponse });

    const accepted = responses[0]!;
    const example = corpusExample("storage/StorageAccountFailoverPlanned.json").responses["202"]!;
    expect(accepted.status).toBe(202);
    expect(Object.keys(example.headers!)).toEqual(["Location"]);
    expect(new URL(accepted.headers.location!).pathname).toMatch(
      new RegExp(`^/subscriptions/${fx.plan.storage[0]!.account.subscriptionId}/providers/Microsoft.Storage/locations/${fx.plan.regions.primary.name}/asyncoperations/[0-9a-f-]{36}$`),
    );
    expect(accepted.headers["azure-asyncoperation"]).toBeUndefined();
    expect(accepted.text ?? "").toBe("");
  });

  it("StorageAccounts_ListKeys has the example's fields and types", async () => {
    const { data } = accounts(fx);
    const raw = captureRaw();

    await data.client.storageAccounts.listKeys(data.rg, data.name, raw.options);

    const diff = shapeDiff(raw.last.body, corpusExample("storage/StorageAccountListKeys.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    // Azure sends creationTime too (the SDK's StorageAccountKey model has it); the example leaves it out.
    expect(diff.extra).toEqual(["keys[0].creationTime"]);
  });

  it("StorageAccounts_RegenerateKey has the example's fields and types", async () => {
    const { data } = accounts(fx);
    const example = corpusExample("storage/StorageAccountRegenerateKey.json");
    const raw = captureRaw();

    await data.client.storageAccounts.regenerateKey(data.rg, data.name, example.parameters.regenerateKey as { keyName: string }, raw.options);

    const diff = shapeDiff(raw.last.body, example.responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual(["keys[0].creationTime"]);
  });
});

describe("estate: storage replication stops with the primary region", () => {
  let now = Date.parse("2026-03-01T12:00:00Z");
  const fx = useEstate({ estate: { clock: () => now } });

  it("freezes the last sync time when the primary goes down, so the measured lag grows", async () => {
    const a = fx.plan.storage[0]!.account;
    const client = fx.clients.storage(a.subscriptionId);
    fx.estate.setLag(a.id, 30);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const atOutage = (await client.storageAccounts.getProperties(a.resourceGroup, a.name, { expand: "geoReplicationStats" })).geoReplicationStats?.lastSyncTime;

    now += 600_000;
    const later = (await client.storageAccounts.getProperties(a.resourceGroup, a.name, { expand: "geoReplicationStats" })).geoReplicationStats?.lastSyncTime;

    expect(later?.toISOString()).toBe(atOutage?.toISOString());
    expect(later?.toISOString()).toBe("2026-03-01T11:59:30.000Z");
  });
});
