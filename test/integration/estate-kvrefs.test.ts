import { createDefaultHttpClient, createPipelineRequest } from "@azure/core-rest-pipeline";
import type { ApiKVReference } from "@azure/arm-appservice";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { parseSeed, SeedError, type EstateSeed } from "../../estate/seed.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { collect } from "../helpers/estate.ts";

const SUB = "5f0c9d1e-2b3a-4c5d-8e6f-7a8b9c0d1e2f";
const RG = `/subscriptions/${SUB}/resourceGroups/contoso-orders`;
const SITE = `${RG}/providers/Microsoft.Web/sites/contoso-orders-eastus2`;
const SITE_NAME = "contoso-orders-eastus2";
const VAULT = "contoso-orders-kv-eus2";
const OTHER_VAULT = "contoso-orders-kv-cus";
const ACCOUNT = `${RG}/providers/Microsoft.Storage/storageAccounts/contosoordersdata`;
const API_KEY_VALUE = "seeded-api-key-5d1c2b7e9f";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-03-02T08:00:00Z");

const ref = {
  versionless: (secret: string) => `@Microsoft.KeyVault(SecretUri=https://${VAULT}.vault.azure.net/secrets/${secret})`,
  pinned: (secret: string, version: string) => `@Microsoft.KeyVault(SecretUri=https://${VAULT}.vault.azure.net/secrets/${secret}/${version})`,
  byName: (secret: string) => `@Microsoft.KeyVault(VaultName=${VAULT};SecretName=${secret})`,
};

const SEED: EstateSeed = {
  regions: [{ name: "eastus2" }, { name: "centralus" }],
  storageAccounts: [{ id: ACCOUNT, sku: "Standard_RAGRS", primaryLocation: "eastus2", secondaryLocation: "centralus" }],
  vaults: [
    {
      id: `${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`,
      location: "eastus2",
      secrets: [
        { name: "orders-api-key", createdDaysAgo: 10, value: API_KEY_VALUE, tags: { owner: "orders" } },
        { name: "orders-data-storage-key", createdDaysAgo: 1, valueFrom: { storageAccountKey: { account: ACCOUNT, keyName: "key2" } } },
      ],
    },
    { id: `${RG}/providers/Microsoft.KeyVault/vaults/${OTHER_VAULT}`, location: "centralus", secrets: [{ name: "orders-api-key", createdDaysAgo: 10 }] },
  ],
  sites: [
    {
      id: SITE,
      location: "eastus2",
      appSettings: { ORDERS_API_KEY: ref.versionless("orders-api-key"), ORDERS_ACTIVE_REGION: "eastus2" },
      connectionStrings: { OrdersData: { value: ref.byName("orders-data-storage-key"), type: "Custom" } },
    },
  ],
};

/** The estate runs on this clock; tests move it forward. */
let now = T0;
let estate: Estate;
let clients: ClientFactory;

beforeAll(async () => {
  estate = await startEstate({ seed: SEED, clock: () => now });
  clients = new ClientFactory({ target: estate.clientTarget(), maxRetries: 0 });
});
beforeEach(async () => {
  now = T0;
  await estate.reset();
});
afterAll(async () => {
  await estate?.close();
});

const web = () => clients.web(SUB);
const vault = () => clients.secrets(VAULT);
const listAppSettingRefs = () => collect(web().webApps.listAppSettingsKeyVaultReferences("contoso-orders", SITE_NAME));
const listConnectionStringRefs = () => collect(web().webApps.listSiteConnectionStringKeyVaultReferences("contoso-orders", SITE_NAME));
const activeVersionOf = async (setting: string) => (await listAppSettingRefs()).find((r) => r.name === setting)?.activeVersion;
const latestVersion = async (secret: string) => (await vault().getSecret(secret)).properties.version!;
const setAppSettings = (properties: Record<string, string>) => web().webApps.updateApplicationSettings("contoso-orders", SITE_NAME, { properties });

/**
 * What a caller sends to force App Service to resolve a site's Key Vault references: the REST request
 * the SDK has no method for, through the WebSiteManagementClient's own pipeline (its credential, retry,
 * TLS and budget policies) with a default HTTP client.
 */
async function refreshAppSettingReferences(siteId: string) {
  const client = clients.web(SUB);
  const url = `${clients.resourceManagerUrl}${siteId}/config/configreferences/appsettings/refresh?api-version=2022-03-01`;
  const response = await client.pipeline.sendRequest(createDefaultHttpClient(), createPipelineRequest({ url, method: "POST" }));
  return { status: response.status, text: response.bodyAsText ?? "", body: JSON.parse(response.bodyAsText ?? "null") as { value: { name: string; properties: ApiKVReference }[] } };
}

describe("estate: App Service Key Vault references through @azure/arm-appservice", () => {
  it("lists only the settings that are references, a versionless one resolved to the latest version, with no value", async () => {
    const latest = await latestVersion("orders-api-key");

    const refs = await listAppSettingRefs();

    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatchObject({
      id: `${SITE}/config/configreferences/appsettings/ORDERS_API_KEY`,
      name: "ORDERS_API_KEY",
      type: "Microsoft.Web/sites/config/configreferences",
      reference: ref.versionless("orders-api-key"),
      status: "Resolved",
      vaultName: VAULT,
      secretName: "orders-api-key",
      source: "KeyVault",
      activeVersion: latest,
    });
    expect(refs[0]!.secretVersion).toBeUndefined();
    expect(JSON.stringify(refs)).not.toContain(API_KEY_VALUE);
  });

  it("keeps the version it fetched when a new one is set, until the refresh request", async () => {
    const before = await latestVersion("orders-api-key");
    const next = (await vault().setSecret("orders-api-key", "rotated-api-key-8c3e1a")).properties.version!;

    const afterSet = await activeVersionOf("ORDERS_API_KEY");
    const refresh = await refreshAppSettingReferences(SITE);
    const afterRefresh = await activeVersionOf("ORDERS_API_KEY");

    expect(afterSet).toBe(before);
    expect(refresh.status).toBe(200);
    expect(refresh.body.value.map((r) => [r.name, r.properties.activeVersion, r.properties.status])).toEqual([["ORDERS_API_KEY", next, "Resolved"]]);
    expect(refresh.text).not.toContain("rotated-api-key-8c3e1a");
    expect(afterRefresh).toBe(next);
  });

  it("refetches by itself once 24 hours of estate time have passed since the last fetch", async () => {
    const before = await latestVersion("orders-api-key");
    now = T0 + HOUR;
    const next = (await vault().setSecret("orders-api-key", "rotated-api-key-4b7d")).properties.version!;

    now = T0 + DAY - 1;
    const justBefore = await activeVersionOf("ORDERS_API_KEY");
    now = T0 + DAY;
    const atTheMark = await activeVersionOf("ORDERS_API_KEY");

    expect(justBefore).toBe(before);
    expect(atTheMark).toBe(next);
  });

  it("takes, at its periodic refetch, the versions that existed then, not one set after it", async () => {
    now = T0 + DAY + HOUR;
    await vault().setSecret("orders-api-key", "set-after-the-refetch");
    const atRefetch = await latestVersion("orders-api-key");
    now = T0 + DAY + 2 * HOUR;

    const active = await activeVersionOf("ORDERS_API_KEY");
    const versions = await collect(vault().listPropertiesOfSecretVersions("orders-api-key"));
    const older = versions.find((v) => v.version !== atRefetch)!.version;

    expect(active).toBe(older);
    now = T0 + 2 * DAY + HOUR;
    expect(await activeVersionOf("ORDERS_API_KEY")).toBe(atRefetch);
  });

  it("refetches every reference, connection strings' too, when a settings change restarts the app", async () => {
    const apiNext = (await vault().setSecret("orders-api-key", "rotated-a")).properties.version!;
    const dataNext = (await vault().setSecret("orders-data-storage-key", "rotated-b")).properties.version!;
    const settings = (await web().webApps.listApplicationSettings("contoso-orders", SITE_NAME)).properties!;

    await setAppSettings({ ...settings, ORDERS_FLAG: "1" });

    expect(await activeVersionOf("ORDERS_API_KEY")).toBe(apiNext);
    expect((await listConnectionStringRefs())[0]).toMatchObject({ name: "OrdersData", status: "Resolved", activeVersion: dataNext });
  });

  it("refetches nothing for a settings write that changes nothing", async () => {
    const before = await latestVersion("orders-api-key");
    await vault().setSecret("orders-api-key", "rotated-c");
    const settings = (await web().webApps.listApplicationSettings("contoso-orders", SITE_NAME)).properties!;

    await setAppSettings({ ...settings });

    expect(await activeVersionOf("ORDERS_API_KEY")).toBe(before);
  });

  it("refreshes only the app settings' references with the refresh request", async () => {
    const dataBefore = (await listConnectionStringRefs())[0]!.activeVersion;
    await vault().setSecret("orders-data-storage-key", "rotated-d");

    await refreshAppSettingReferences(SITE);

    expect((await listConnectionStringRefs())[0]!.activeVersion).toBe(dataBefore);
  });

  it("keeps a pinned version through new versions and refreshes", async () => {
    const pinned = await latestVersion("orders-api-key");
    await setAppSettings({ ORDERS_API_KEY: ref.pinned("orders-api-key", pinned) });
    await vault().setSecret("orders-api-key", "rotated-e");

    await refreshAppSettingReferences(SITE);
    now = T0 + 3 * DAY;
    const [listed] = await listAppSettingRefs();

    expect(listed).toMatchObject({ status: "Resolved", secretVersion: pinned, activeVersion: pinned });
  });

  it("reports a missing secret, a missing version, an unknown vault and a malformed reference", async () => {
    await setAppSettings({
      NO_SECRET: ref.byName("no-such-secret"),
      NO_VERSION: ref.pinned("orders-api-key", "0123456789abcdef0123456789abcdef"),
      NO_VAULT: "@Microsoft.KeyVault(SecretUri=https://no-such-vault-x1.vault.azure.net/secrets/orders-api-key)",
      MALFORMED: `@Microsoft.KeyVault(VaultName=${VAULT})`,
      PLAIN: "not a reference",
    });

    const refs = await listAppSettingRefs();

    const statuses = Object.fromEntries(refs.map((r) => [r.name, r.status]));
    expect(statuses).toEqual({ NO_SECRET: "SecretNotFound", NO_VERSION: "SecretVersionNotFound", NO_VAULT: "VaultNotFound", MALFORMED: "InvalidSyntax" });
    expect(refs.every((r) => r.activeVersion === undefined || r.activeVersion === null)).toBe(true);
    expect(refs.find((r) => r.name === "NO_SECRET")).toMatchObject({ vaultName: VAULT, secretName: "no-such-secret" });
  });

  it("reports a disabled current version as OtherReasons", async () => {
    const current = await latestVersion("orders-api-key");
    await vault().updateSecretProperties("orders-api-key", current, { enabled: false });

    await refreshAppSettingReferences(SITE);
    const [listed] = await listAppSettingRefs();

    expect(listed).toMatchObject({ status: "OtherReasons" });
    expect(listed!.details).toMatch(/disabled/);
    expect(listed!.activeVersion).toBeNull();
  });

  it("gets one setting's reference, and answers 404 for a setting that holds none", async () => {
    const single = await web().webApps.getAppSettingKeyVaultReference("contoso-orders", SITE_NAME, "ORDERS_API_KEY");
    const connection = await web().webApps.getSiteConnectionStringKeyVaultReference("contoso-orders", SITE_NAME, "OrdersData");
    const plain = await web().webApps.getAppSettingKeyVaultReference("contoso-orders", SITE_NAME, "ORDERS_ACTIVE_REGION").catch((error: unknown) => error);

    expect(single).toMatchObject({ name: "ORDERS_API_KEY", status: "Resolved", activeVersion: await latestVersion("orders-api-key") });
    expect(connection).toMatchObject({ id: `${SITE}/config/configreferences/connectionstrings/OrdersData`, vaultName: VAULT, secretName: "orders-data-storage-key" });
    expect(plain).toMatchObject({ statusCode: 404 });
  });

  it("keeps resolved values out of the request log and the inspection state", async () => {
    await vault().setSecret("orders-api-key", "rotated-value-never-logged");
    await refreshAppSettingReferences(SITE);
    await listAppSettingRefs();

    const logged = JSON.stringify(estate.requests());
    const inspected = JSON.stringify(estate.snapshot());

    for (const text of [logged, inspected]) {
      expect(text).not.toContain("rotated-value-never-logged");
      expect(text).not.toContain(API_KEY_VALUE);
    }
  });
});

describe("estate: Key Vault writes while the vault's region is down", () => {
  it("refuses to set or update a secret with 503 ServiceUnavailable and still serves reads", async () => {
    const current = await latestVersion("orders-api-key");
    await estate.setRegion("eastus2", { down: true });

    const set = await vault().setSecret("orders-api-key", "written-during-outage").catch((error: unknown) => error);
    const update = await vault().updateSecretProperties("orders-api-key", current, { tags: { rotated: "no" } }).catch((error: unknown) => error);
    const read = await vault().getSecret("orders-api-key");
    const otherRegion = await clients.secrets(OTHER_VAULT).setSecret("orders-api-key", "written-in-centralus");

    expect(set).toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    expect(update).toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    expect(read.properties.version).toBe(current);
    expect(read.value).toBe(API_KEY_VALUE);
    expect(otherRegion.properties.version).toBeDefined();
    expect(await collect(vault().listPropertiesOfSecretVersions("orders-api-key"))).toHaveLength(1);
  });

  it("takes writes again once the region is back", async () => {
    await estate.setRegion("eastus2", { down: true });
    await estate.setRegion("eastus2", { down: false });

    const set = await vault().setSecret("orders-api-key", "written-after-outage");

    expect(set.properties.version).toBeDefined();
  });
});

describe("estate: seeded secrets", () => {
  it("takes a secret's value from a storage account's current key, and keeps a given value and tags", async () => {
    const keys = await clients.storage(SUB).storageAccounts.listKeys("contoso-orders", "contosoordersdata");

    const fromKey = await vault().getSecret("orders-data-storage-key");
    const given = await vault().getSecret("orders-api-key");

    expect(fromKey.value).toBe(keys.keys!.find((k) => k.keyName === "key2")!.value);
    expect(given.value).toBe(API_KEY_VALUE);
    expect(given.properties.tags).toEqual({ owner: "orders" });
  });

  it("gives a secret without a value a random one", async () => {
    const secret = await clients.secrets(OTHER_VAULT).getSecret("orders-api-key");

    expect(secret.value).toMatch(/^[\w-]{40,}$/);
    expect(secret.value).not.toBe(API_KEY_VALUE);
  });

  it("refuses a seed whose secret comes from an account that is not seeded, naming the account and no value", async () => {
    const missing = `${RG}/providers/Microsoft.Storage/storageAccounts/nosuchaccount`;
    const seed: EstateSeed = {
      vaults: [
        {
          id: `${RG}/providers/Microsoft.KeyVault/vaults/contoso-orders-kv-new`,
          location: "eastus2",
          secrets: [
            { name: "from-missing", createdDaysAgo: 0, valueFrom: { storageAccountKey: { account: missing, keyName: "key1" } } },
            { name: "both", createdDaysAgo: 0, value: "explicit-value-9f2", valueFrom: { storageAccountKey: { account: ACCOUNT, keyName: "key1" } } },
          ],
        },
      ],
    };

    const attempt = estate.seed(seed);

    await expect(attempt).rejects.toBeInstanceOf(SeedError);
    await expect(attempt).rejects.toThrow(/vaults\[0\]\.secrets\[0\].*nosuchaccount.*not seeded/);
    await expect(attempt).rejects.toThrow(/vaults\[0\]\.secrets\[1\]: give either value or valueFrom/);
    await expect(attempt).rejects.not.toThrow(/explicit-value-9f2/);
    expect(estate.state.vaults.has("contoso-orders-kv-new")).toBe(false);
  });

  it("reads value, valueFrom and tags from a seed document and refuses both at once", () => {
    const secret = (extra: Record<string, unknown>) => ({
      vaults: [{ id: `${RG}/providers/Microsoft.KeyVault/vaults/${VAULT}`, location: "eastus2", secrets: [{ name: "s", createdDaysAgo: 0, ...extra }] }],
    });
    const fromKey = { storageAccountKey: { account: ACCOUNT, keyName: "key1" } };

    const parsed = parseSeed(secret({ valueFrom: fromKey, tags: { a: "b" } }));
    const both = () => parseSeed(secret({ value: "doc-value-71c", valueFrom: fromKey }));
    const badKey = () => parseSeed(secret({ valueFrom: { storageAccountKey: { account: ACCOUNT, keyName: "key3" } } }));
    const wrongType = () => parseSeed(secret({ valueFrom: { storageAccountKey: { account: SITE, keyName: "key1" } } }));

    expect(parsed.vaults![0]!.secrets![0]).toMatchObject({ valueFrom: fromKey, tags: { a: "b" } });
    expect(both).toThrow(/either value or valueFrom/);
    expect(both).not.toThrow(/doc-value-71c/);
    expect(badKey).toThrow(SeedError);
    expect(wrongType).toThrow(/Microsoft.Storage\/storageAccounts/);
  });

  it("resolves a seeded site's references at seeding against the secrets seeded with it", async () => {
    const refs = await listConnectionStringRefs();

    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatchObject({ name: "OrdersData", reference: ref.byName("orders-data-storage-key"), status: "Resolved", activeVersion: await latestVersion("orders-data-storage-key") });
  });
});
