import { describe, expect, it } from "vitest";
import { SeedError } from "../../estate/seed.ts";
import { EstateState } from "../../estate/state.ts";
import { parsePlan, type PlanInput } from "../../src/core/plan/index.ts";
import { seedFromPlan, seedFromPlans } from "../../src/local/estateSeed.ts";

const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups";
const NOW = Date.parse("2026-12-01T00:00:00Z");

const plan = (extra: Partial<PlanInput> = {}) =>
  parsePlan({
    name: "shop",
    regions: {
      primary: { name: "westeurope", healthEndpoints: [{ url: "https://shop-weu.example.net:8443/healthz" }] },
      secondary: { name: "northeurope", healthEndpoints: [{ url: "https://shop-neu.example.net/healthz" }] },
    },
    objectives: { rpoSeconds: 60, rtoMinutes: 30 },
    ...extra,
  });

describe("a plan as the estate's seed", () => {
  it("names the plan's regions with the hosts of their health endpoints", () => {
    expect(seedFromPlan(plan()).regions).toEqual([
      { name: "westeurope", applicationHosts: ["shop-weu.example.net:8443"] },
      { name: "northeurope", applicationHosts: ["shop-neu.example.net"] },
    ]);
  });

  it("puts a failover group under its primary-region server, with Azure's automatic policy only when the plan gives a grace period", () => {
    const server = (name: string) => `${SUB}/rg/providers/Microsoft.Sql/servers/${name}`;
    const seed = seedFromPlan(
      plan({
        sql: [
          { failoverGroup: `${server("sql-weu")}/failoverGroups/orders`, partnerServer: server("sql-neu"), gracePeriodMinutes: 120 },
          { failoverGroup: `${server("sql-weu")}/failoverGroups/stock`, partnerServer: server("sql-neu"), databases: ["stock"] },
        ],
      }),
    );
    expect(seed.sqlServers).toContainEqual({ id: server("sql-weu"), location: "westeurope" });
    expect(seed.sqlServers).toContainEqual({ id: server("sql-neu"), location: "northeurope" });
    expect(seed.failoverGroups).toEqual([
      {
        id: `${server("sql-weu")}/failoverGroups/orders`,
        partnerServerId: server("sql-neu"),
        databases: ["orders-db"],
        readWriteEndpoint: { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: 120 },
      },
      { id: `${server("sql-weu")}/failoverGroups/stock`, partnerServerId: server("sql-neu"), databases: ["stock"] },
    ]);
  });

  it("serves each AFD origin group through one endpoint named after it, its primary-region origin first", () => {
    const profile = `${SUB}/global/providers/Microsoft.Cdn/profiles/shop-afd`;
    const seed = seedFromPlan(plan({ frontDoor: { standard: [{ originGroup: `${profile}/originGroups/web`, origins: { westeurope: "web-weu", northeurope: "web-neu" } }] } }));
    expect(seed.afdOriginGroups).toEqual([
      {
        id: `${profile}/originGroups/web`,
        origins: [
          { name: "web-weu", hostName: "shop-weu.example.net", priority: 1, region: "westeurope" },
          { name: "web-neu", hostName: "shop-neu.example.net", priority: 2, region: "northeurope" },
        ],
      },
    ]);
    expect(seed.afdEndpoints).toEqual([{ id: `${profile}/afdEndpoints/web`, routes: [{ name: "web-route", originGroupId: `${profile}/originGroups/web`, patternsToMatch: ["/*"] }] }]);
  });

  it("places a vault by its name and gives each secret its plan's validity from 30 days ago", () => {
    const vault = `${SUB}/shop-global/providers/Microsoft.KeyVault/vaults/shop-kv-northeurope`;
    const seed = seedFromPlan(plan({ secrets: [{ vault, name: "api-key", source: { kind: "generated" }, validityDays: 90 }] }));
    expect(seed.vaults).toEqual([{ id: vault, location: "northeurope", secrets: [{ name: "api-key", createdDaysAgo: 30, expiresInDays: 60, value: expect.stringMatching(/^[A-Za-z0-9]{40}$/), tags: { "switchyard-credential": "generated" } }] }]);
    const state = new EstateState(() => NOW);
    state.seed(seed);
    const version = state.vault("shop-kv-northeurope").secrets.get("api-key")!.versions[0]!;
    expect([version.created, version.exp]).toEqual([NOW - 30 * 86_400_000, NOW + 60 * 86_400_000]);
  });

  it("seeds a storage key secret with the account's key1, a SQL login secret with the first login's connection string and that login on every server, and every site with versionless references", () => {
    const account = `${SUB}/shop-neu/providers/Microsoft.Storage/storageAccounts/shopdata`;
    const vaults = [`${SUB}/shop-neu/providers/Microsoft.KeyVault/vaults/shop-kv-northeurope`, `${SUB}/shop-weu/providers/Microsoft.KeyVault/vaults/shop-kv-westeurope`];
    const servers = [`${SUB}/shop-neu/providers/Microsoft.Sql/servers/shop-sql-neu`, `${SUB}/shop-weu/providers/Microsoft.Sql/servers/shop-sql-weu`];
    const seed = seedFromPlan(
      plan({
        storage: [{ account, sku: "Standard_RAGRS" }],
        appService: [{ site: `${SUB}/shop-weu/providers/Microsoft.Web/sites/shop-weu`, region: "westeurope" }],
        secrets: [
          { vaults, name: "data-key", source: { kind: "storageAccountKey", account } },
          { vaults, name: "db", source: { kind: "sqlLogin", servers, logins: ["shop_a", "shop_b"], database: "orders" } },
        ],
      }),
    );
    const state = new EstateState(() => NOW);
    state.seed(seed);
    const current = (vault: string, name: string) => state.vault(vault).secrets.get(name)!.versions.at(-1)!;
    const key1 = state.storageAccount(account)?.keys.find((k) => k.keyName === "key1")?.value;
    expect(current("shop-kv-westeurope", "data-key").value).toBe(key1);
    expect(current("shop-kv-northeurope", "data-key").tags).toEqual({ "switchyard-credential": "key1" });
    const db = current("shop-kv-northeurope", "db");
    expect(db.tags).toEqual({ "switchyard-credential": "shop_a" });
    const password = /Password=([^;]+);/.exec(db.value)![1]!;
    for (const server of servers) expect(state.checkSqlLogin(server, "shop_a", password)).toBe(true);
    expect(state.checkSqlLogin(servers[0]!, "shop_b", password)).toBe(false);
    // The site in westeurope reads the westeurope vault, versionless.
    const site = seed.sites!.find((s) => s.location === "westeurope")!;
    expect(site.appSettings?.DATA_KEY).toBe("@Microsoft.KeyVault(SecretUri=https://shop-kv-westeurope.vault.azure.net/secrets/data-key/)");
    expect(site.connectionStrings?.DB).toEqual({ value: "@Microsoft.KeyVault(SecretUri=https://shop-kv-westeurope.vault.azure.net/secrets/db/)", type: "SQLAzure" });
  });
});

describe("the estate seeded", () => {
  it("keeps the first copy of a resource two plans name, and adds the backend pool the second brings", () => {
    const fd = `${SUB}/global/providers/Microsoft.Network/frontDoors/shared-fd`;
    const withPool = (name: string, pool: string) =>
      plan({ name, frontDoor: { classic: [{ frontDoor: fd, backendPool: pool, backends: { westeurope: `${pool}-weu.example.net`, northeurope: `${pool}-neu.example.net` } }] } });
    const state = new EstateState(() => NOW);
    state.seed(seedFromPlans([withPool("tickets", "tickets"), withPool("refunds", "refunds")]));
    const frontDoor = [...state.frontDoors.values()];
    expect(frontDoor).toHaveLength(1);
    expect((frontDoor[0]!.body.properties as { backendPools: { name: string }[] }).backendPools.map((p) => p.name)).toEqual(["tickets", "refunds"]);
    expect(frontDoor[0]!.backendRegions).toMatchObject({ "refunds-weu.example.net": "westeurope", "refunds-neu.example.net": "northeurope" });
  });

  it("refuses a seed whose route names an origin group it does not hold, and changes nothing", () => {
    const profile = `${SUB}/global/providers/Microsoft.Cdn/profiles/p`;
    const state = new EstateState(() => NOW);
    const seed = { regions: [{ name: "westeurope" }], afdEndpoints: [{ id: `${profile}/afdEndpoints/web`, routes: [{ name: "r", originGroupId: `${profile}/originGroups/missing` }] }] };
    expect(() => state.seed(seed)).toThrow(SeedError);
    expect(() => state.seed(seed)).toThrow(/routes\[0\]: origin group .*missing is not seeded/);
    expect([state.regions.size, state.afdEndpoints.size]).toEqual([0, 0]);
  });
});
