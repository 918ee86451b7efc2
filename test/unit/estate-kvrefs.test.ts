import { describe, expect, it } from "vitest";
import { EstateState, isKeyVaultReference, parseKeyVaultReference } from "../../estate/state.ts";

const SITE = "/subscriptions/5f0c9d1e-2b3a-4c5d-8e6f-7a8b9c0d1e2f/resourceGroups/rg/providers/Microsoft.Web/sites/app";
const VAULT_ID = "/subscriptions/5f0c9d1e-2b3a-4c5d-8e6f-7a8b9c0d1e2f/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-orders";
const DAY = 86_400_000;
const T0 = Date.parse("2026-03-02T08:00:00Z");

describe("reading a Key Vault reference", () => {
  it("reads a secret URI with and without a version, and with a trailing slash", () => {
    const versioned = parseKeyVaultReference("@Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/secrets/api-key/ec96f02080254f109c51a1f14cdb1931)");
    const latest = parseKeyVaultReference("@Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/secrets/api-key/)");

    expect(versioned).toEqual({ ok: true, vaultName: "kv-orders", secretName: "api-key", secretVersion: "ec96f02080254f109c51a1f14cdb1931", vaultHost: "kv-orders.vault.azure.net" });
    expect(latest).toEqual({ ok: true, vaultName: "kv-orders", secretName: "api-key", vaultHost: "kv-orders.vault.azure.net" });
  });

  it("reads the vault-name form, its parts in any order and case, the version optional", () => {
    const plain = parseKeyVaultReference("@Microsoft.KeyVault(VaultName=kv-orders;SecretName=api-key)");
    const reordered = parseKeyVaultReference("@Microsoft.KeyVault(secretversion=abc123; SECRETNAME=api-key; vaultname=kv-orders;)");

    expect(plain).toMatchObject({ ok: true, vaultName: "kv-orders", secretName: "api-key" });
    expect(plain).not.toHaveProperty("secretVersion");
    expect(reordered).toMatchObject({ ok: true, vaultName: "kv-orders", secretName: "api-key", secretVersion: "abc123" });
  });

  it.each([
    ["no closing parenthesis", "@Microsoft.KeyVault(VaultName=kv-orders;SecretName=api-key"],
    ["no secret name", "@Microsoft.KeyVault(VaultName=kv-orders)"],
    ["both forms at once", "@Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/secrets/a;VaultName=kv-orders)"],
    ["an unknown part", "@Microsoft.KeyVault(VaultName=kv-orders;SecretName=a;Label=x)"],
    ["a URI that is no secret's", "@Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/keys/a)"],
    ["plain http", "@Microsoft.KeyVault(SecretUri=http://kv-orders.vault.azure.net/secrets/a)"],
    ["a secret name Key Vault refuses", "@Microsoft.KeyVault(VaultName=kv-orders;SecretName=api_key)"],
    ["a part named twice", "@Microsoft.KeyVault(VaultName=kv-orders;VaultName=kv-other;SecretName=a)"],
  ])("refuses a reference with %s", (_what, reference) => {
    expect(parseKeyVaultReference(reference)).toMatchObject({ ok: false });
  });

  it("tells references from other values by their prefix", () => {
    expect(isKeyVaultReference("@Microsoft.KeyVault(VaultName=kv;SecretName=a)")).toBe(true);
    expect(isKeyVaultReference("@microsoft.keyvault(broken")).toBe(true);
    expect(isKeyVaultReference("Server=tcp:orders.database.windows.net")).toBe(false);
  });
});

describe("a site's Key Vault references in the estate's state", () => {
  const seeded = (clock: () => number) => {
    const state = new EstateState(clock);
    state.seed({
      vaults: [{ id: VAULT_ID, location: "eastus2", secrets: [{ name: "api-key", createdDaysAgo: 1, value: "v1-value" }] }],
      sites: [{ id: SITE, location: "eastus2", appSettings: { API_KEY: "@Microsoft.KeyVault(VaultName=kv-orders;SecretName=api-key)" } }],
    });
    return state;
  };
  const addVersion = (state: EstateState, created: number) => {
    const versions = state.vaults.get("kv-orders")!.secrets.get("api-key")!.versions;
    versions.push({ version: `v${versions.length + 1}`, value: "next-value", enabled: true, created, updated: created });
    return `v${versions.length}`;
  };

  it("resolves a seeded site's reference at seeding and holds no value", () => {
    const state = seeded(() => T0);
    const site = [...state.sites.values()][0]!;

    const fetched = site.keyVaultReferences!.appSettings.API_KEY!;

    expect(fetched).toMatchObject({ status: "Resolved", fetchedAt: T0 });
    expect(fetched.activeVersion).toBe(state.vaults.get("kv-orders")!.secrets.get("api-key")!.versions[0]!.version);
    expect(JSON.stringify(site)).not.toContain("v1-value");
  });

  it("refetches at each 24-hour mark, against the versions that existed at that mark", () => {
    const state = seeded(() => T0);
    const site = [...state.sites.values()][0]!;
    const second = addVersion(state, T0 + DAY / 2);
    addVersion(state, T0 + 2 * DAY + 1);

    const afterOneDay = state.keyVaultReferencesAt(site, T0 + 2 * DAY + 5).appSettings.API_KEY!;

    expect(afterOneDay).toMatchObject({ activeVersion: second, fetchedAt: T0 + 2 * DAY });
  });
});
