import { describe, expect, it } from "vitest";
import { captureRaw } from "../helpers/conformance.ts";
import { collect, FAST_POLL, rawRequest, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { TAILWIND, tailwindPlanFile } from "../helpers/tailwindPlan.ts";

/** The control plane of a region, on a plan of its own: westeurope primary, northeurope secondary. */
const home = "westeurope";
const away = "northeurope";
const unavailable = { statusCode: 503, code: "ServiceUnavailable" };

function resources(fx: EstateFixture) {
  const g = fx.plan.sql[0]!;
  const a = fx.plan.storage[1]!.account; // Standard_RAGRS
  const site = (i: number) => fx.plan.appService[i]!.site;
  const og = fx.plan.frontDoor.standard[0]!.originGroup;
  return {
    sql: { client: fx.clients.sql(g.failoverGroup.subscriptionId), name: g.failoverGroup.name, primary: { rg: g.failoverGroup.resourceGroup, server: g.failoverGroup.names[0]! }, partner: { rg: g.partnerServer.resourceGroup, server: g.partnerServer.name } },
    storage: { client: fx.clients.storage(a.subscriptionId), rg: a.resourceGroup, name: a.name },
    web: fx.clients.web(site(0).subscriptionId),
    sites: { home: { rg: site(0).resourceGroup, name: site(0).name }, away: { rg: site(1).resourceGroup, name: site(1).name } },
    afd: { client: fx.clients.cdn(og.subscriptionId), rg: og.resourceGroup, profile: og.names[0]!, group: og.name },
  };
}

describe("estate: a region's control plane", () => {
  const fx = useEstate({ planFile: tailwindPlanFile() });

  it("is set through PUT /_estate/regions/{region} and scenarios, independently of the data plane", async () => {
    const put = await rawRequest(fx.estate, "PUT", `/_estate/regions/${home}`, { body: { controlPlane: "reads-fail" } });
    const scenario = await rawRequest(fx.estate, "POST", "/_estate/scenario", { body: { regions: { [away]: { down: true, controlPlane: "down" } } } });
    const invalid = await rawRequest(fx.estate, "PUT", `/_estate/regions/${home}`, { body: { controlPlane: "sideways" } });
    const empty = await rawRequest(fx.estate, "PUT", `/_estate/regions/${home}`, { body: {} });

    expect(put).toMatchObject({ status: 200, body: { region: home, down: false, controlPlane: "reads-fail" } });
    expect(scenario.status).toBe(200);
    expect(scenario.body.regions[away]).toMatchObject({ down: true, controlPlane: "down" });
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: "InvalidControlRequest" } } });
    expect(empty.status).toBe(400);
    await fx.estate.reset();
    expect(fx.estate.state.region(home).controlPlane).toBe("up");
  });

  it("reads-fail: reads of resources located in the region answer 503, writes to them still work, other regions are untouched", async () => {
    const { sql, web, sites } = resources(fx);
    await fx.estate.setRegion(home, { controlPlane: "reads-fail" });

    await expect(sql.client.failoverGroups.get(sql.primary.rg, sql.primary.server, sql.name)).rejects.toMatchObject(unavailable);
    await expect(collect(sql.client.failoverGroups.listByServer(sql.primary.rg, sql.primary.server))).rejects.toMatchObject(unavailable);
    await expect(web.webApps.get(sites.home.rg, sites.home.name)).rejects.toMatchObject(unavailable);
    await expect(web.webApps.listApplicationSettings(sites.home.rg, sites.home.name)).rejects.toMatchObject(unavailable);
    await web.webApps.updateApplicationSettings(sites.home.rg, sites.home.name, { properties: { LEDGER_REGION: "westeurope" } });
    expect((await sql.client.failoverGroups.get(sql.partner.rg, sql.partner.server, sql.name)).replicationRole).toBe("Secondary");
    expect((await web.webApps.get(sites.away.rg, sites.away.name)).location).toBe(away);
  });

  it("down: writes fail too; a failover group failover posted to the secondary server in the healthy region goes through", async () => {
    const { sql, web, sites } = resources(fx);
    await fx.estate.setRegion(home, { down: true, controlPlane: "down" });

    await expect(web.webApps.updateApplicationSettings(sites.home.rg, sites.home.name, { properties: { LEDGER_REGION: "northeurope" } })).rejects.toMatchObject(unavailable);
    await expect(sql.client.failoverGroups.beginForceFailoverAllowDataLossAndWait(sql.primary.rg, sql.primary.server, sql.name, FAST_POLL)).rejects.toMatchObject(unavailable);
    await sql.client.failoverGroups.beginForceFailoverAllowDataLossAndWait(sql.partner.rg, sql.partner.server, sql.name, FAST_POLL);

    expect((await sql.client.failoverGroups.get(sql.partner.rg, sql.partner.server, sql.name)).replicationRole).toBe("Primary");
    expect(fx.estate.requests({ writesOnly: true }).map((r) => `${r.operationId} ${r.status}`)).toEqual([
      "WebApps_UpdateApplicationSettings 503",
      "FailoverGroups_ForceFailoverAllowDataLoss 503",
      "FailoverGroups_ForceFailoverAllowDataLoss 202",
    ]);
  });

  it("tryPlannedBeforeForcedFailover (2023-08-01) posted to the secondary: planned while the partner answers, forced with the lag recorded as data loss when the primary's region is down", async () => {
    const { sql } = resources(fx);
    const sub = fx.plan.sql[0]!.failoverGroup.subscriptionId;
    const on = (rg: string, server: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Sql/servers/${server}/failoverGroups/${sql.name}`;
    const tryPlanned = (rg: string, server: string) => rawRequest(fx.estate, "POST", `${on(rg, server)}/tryPlannedBeforeForcedFailover?api-version=2023-08-01`);
    const lost = () => fx.estate.snapshot().failoverGroups.find((g) => g.name === sql.name)!.dataLossSeconds;
    fx.estate.setLag(on(sql.primary.rg, sql.primary.server), 17);

    const planned = await tryPlanned(sql.partner.rg, sql.partner.server);
    const plannedDone = await rawRequest(fx.estate, "GET", String(planned.headers.location));
    const lossAfterPlanned = lost();
    // Back home, then the home region (now the primary's) goes down.
    const back = await tryPlanned(sql.primary.rg, sql.primary.server);
    await rawRequest(fx.estate, "GET", String(back.headers.location));
    fx.estate.setLag(on(sql.primary.rg, sql.primary.server), 17);
    await fx.estate.setRegion(home, { down: true, controlPlane: "down" });
    const forced = await tryPlanned(sql.partner.rg, sql.partner.server);
    const forcedDone = await rawRequest(fx.estate, "GET", String(forced.headers.location));

    expect(planned.status).toBe(202);
    expect(planned.headers["azure-asyncoperation"]).toBeUndefined();
    expect(plannedDone).toMatchObject({ status: 200, body: { properties: { replicationRole: "Primary" } } });
    expect(lossAfterPlanned).toBe(0);
    expect(forcedDone).toMatchObject({ status: 200, body: { properties: { replicationRole: "Primary" } } });
    expect(lost()).toBe(17);
  });

  it("a planned failover while the primary's region is down ends Failed with a generic code", async () => {
    const { sql } = resources(fx);
    await fx.estate.setRegion(home, { down: true });

    const planned = sql.client.failoverGroups.beginFailoverAndWait(sql.partner.rg, sql.partner.server, sql.name, FAST_POLL);

    await expect(planned).rejects.toThrow(/Conflict/);
    expect((await sql.client.failoverGroups.get(sql.partner.rg, sql.partner.server, sql.name)).replicationRole).toBe("Secondary");
  });

  it("storage: with the account's region down, its read is served (its secondary is healthy) and its failover goes through; updates wait for the region", async () => {
    const { storage } = resources(fx);
    await fx.estate.setRegion(home, { down: true, controlPlane: "down" });

    const before = await storage.client.storageAccounts.getProperties(storage.rg, storage.name, { expand: "geoReplicationStats" });
    const keys = await storage.client.storageAccounts.listKeys(storage.rg, storage.name);
    await storage.client.storageAccounts.failover(storage.rg, storage.name, FAST_POLL);
    const after = await storage.client.storageAccounts.getProperties(storage.rg, storage.name);
    const update = storage.client.storageAccounts.update(storage.rg, storage.name, { sku: { name: "Standard_RAGRS" } });
    const regenerate = storage.client.storageAccounts.regenerateKey(storage.rg, storage.name, { keyName: "key1" });
    await expect(update).rejects.toMatchObject(unavailable);
    await expect(regenerate).rejects.toMatchObject(unavailable);
    await fx.estate.setRegion(home, { down: false, controlPlane: "up" });
    const reprotected = await storage.client.storageAccounts.update(storage.rg, storage.name, { sku: { name: "Standard_RAGRS" } });

    expect(before.geoReplicationStats).toMatchObject({ canFailover: true, canPlannedFailover: false });
    expect(keys.keys).toHaveLength(2);
    expect(after).toMatchObject({ primaryLocation: away, location: home, sku: { name: "Standard_LRS" } });
    expect(reprotected).toMatchObject({ sku: { name: "Standard_RAGRS" }, secondaryLocation: home });
  });

  it("storage: a read fails only when no region holding the account serves reads", async () => {
    const { storage } = resources(fx);
    await fx.estate.setRegion(home, { controlPlane: "reads-fail" });
    const oneDown = await storage.client.storageAccounts.getProperties(storage.rg, storage.name);
    await fx.estate.setRegion(away, { controlPlane: "reads-fail" });

    await expect(storage.client.storageAccounts.getProperties(storage.rg, storage.name)).rejects.toMatchObject(unavailable);
    await expect(storage.client.storageAccounts.listKeys(storage.rg, storage.name)).rejects.toMatchObject(unavailable);
    expect(oneDown.primaryLocation).toBe(home);
  });

  it("Key Vault: a vault's data plane follows the control plane of the region it is located in", async () => {
    const vault = TAILWIND.secrets[0]!.vault.split("/").pop()!;
    const secrets = fx.clients.secrets(vault);
    const name = TAILWIND.secrets[0]!.name;
    await fx.estate.setRegion(home, { down: true, controlPlane: "down" });
    const read = await secrets.getSecret(name);
    await fx.estate.setRegion(away, { controlPlane: "reads-fail" });

    await expect(secrets.getSecret(name)).rejects.toMatchObject({ statusCode: 503 });
    expect(read.value).toBeTruthy();
    expect(fx.estate.state.vaults.get(vault)?.location).toBe(away); // its resource group names northeurope
  });

  it("global resources (Front Door profiles) are never refused, and the metrics API neither", async () => {
    const { afd } = resources(fx);
    await fx.estate.setRegion(home, { down: true, controlPlane: "down" });
    await fx.estate.setRegion(away, { controlPlane: "down" });

    const group = await afd.client.afdOriginGroups.get(afd.rg, afd.profile, afd.group);
    const origins = await collect(afd.client.afdOrigins.listByOriginGroup(afd.rg, afd.profile, afd.group));

    expect(group.name).toBe(afd.group);
    expect(origins).toHaveLength(2);
  });

  it("polls of a long-running operation follow the control plane of the region its URL names, except a storage failover's", async () => {
    const { sql, storage } = resources(fx);
    fx.estate.setTiming({ durations: { FailoverGroups_ForceFailoverAllowDataLoss: 60_000, StorageAccounts_Failover: 60_000 } });
    const sqlRaw = captureRaw();
    const storageRaw = captureRaw();
    await sql.client.failoverGroups.beginForceFailoverAllowDataLoss(sql.partner.rg, sql.partner.server, sql.name, { ...FAST_POLL, ...sqlRaw.options });
    await storage.client.storageAccounts.failover(storage.rg, storage.name, { ...FAST_POLL, ...storageRaw.options }).submitted();
    const sqlPoll = sqlRaw.seen[0]!.headers["azure-asyncoperation"]!;
    const storagePoll = storageRaw.seen[0]!.headers.location!;
    await fx.estate.setRegion(away, { controlPlane: "reads-fail" });
    await fx.estate.setRegion(home, { controlPlane: "reads-fail" });

    expect(new URL(sqlPoll).pathname).toContain(`/locations/${away}/`);
    expect((await rawRequest(fx.estate, "GET", sqlPoll)).status).toBe(503);
    expect((await rawRequest(fx.estate, "GET", storagePoll)).status).toBe(202);
  });
});
